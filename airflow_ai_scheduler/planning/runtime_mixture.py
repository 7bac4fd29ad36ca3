"""A predicted runtime as a mixture of simple kernels: log-normal (the smoothed history samples), uniform
(one spot interruption) and normal (several); survival, mean, E[(X − s)⁺] and quantiles in closed form or
by bisection. Pure math for :mod:`.suitability` (docs/suitability.md)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MIN_BANDWIDTH = 0.02
MAX_INTERRUPTIONS = 8
_SQRT2 = math.sqrt(2.0)


def sf_normal(z: float) -> float:
    """P(Z > z) for a standard normal."""
    return 0.5 * math.erfc(z / _SQRT2)


def pdf_normal(z: float) -> float:
    return math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def bandwidth(xs: Sequence[float]) -> float:
    """Silverman's rule of thumb on log values, floored."""
    n = len(xs)
    if n < 2:
        return MIN_BANDWIDTH
    logs = sorted(math.log(x) for x in xs)
    mu = sum(logs) / n
    sd = math.sqrt(sum((v - mu) ** 2 for v in logs) / (n - 1))
    iqr = logs[int(0.75 * (n - 1))] - logs[int(0.25 * (n - 1))]
    spread = min(sd, iqr / 1.34) if iqr > 0 else sd
    return max(MIN_BANDWIDTH, 0.9 * spread * n ** -0.2)


@dataclass
class Kernel:
    """One component: ``kind`` ln (log-normal m, s), u (uniform a..a+c), n (normal mu, sd); weight w."""

    kind: str
    w: float
    a: float
    b: float

    def sf(self, t: float) -> float:
        if self.kind == "ln":
            if t <= 0:
                return 1.0
            return sf_normal((math.log(t) - self.a) / self.b) if self.b > 0 else float(math.log(t) < self.a)
        if self.kind == "u":
            return min(1.0, max(0.0, (self.a + self.b - t) / self.b)) if self.b > 0 else float(t < self.a)
        return sf_normal((t - self.a) / self.b) if self.b > 0 else float(t < self.a)

    def mean(self) -> float:
        if self.kind == "ln":
            return math.exp(self.a + self.b * self.b / 2)
        if self.kind == "u":
            return self.a + self.b / 2
        return self.a

    def excess(self, s: float) -> float:
        """E[(X − s)⁺]."""
        if self.kind == "ln":
            if s <= 0:
                return self.mean() - s
            if self.b <= 0:
                return max(0.0, math.exp(self.a) - s)
            z = (math.log(s) - self.a) / self.b
            return self.mean() * sf_normal(z - self.b) - s * sf_normal(z)
        if self.kind == "u":
            lo, c = self.a, self.b
            if s <= lo:
                return lo + c / 2 - s
            if s >= lo + c or c <= 0:
                return 0.0
            return (lo + c - s) ** 2 / (2 * c)
        if self.b <= 0:
            return max(0.0, self.a - s)
        z = (self.a - s) / self.b
        return (self.a - s) * (1 - sf_normal(z)) + self.b * pdf_normal(z)


def mixture(work: Sequence[float], h: float, lam: float, restart: float, segment: float | None) -> list[Kernel]:
    n = len(work)
    out: list[Kernel] = []
    for w in work:
        c = min(w, segment) if segment else w
        mass = lam * w
        p0 = math.exp(-mass)
        out.append(Kernel("ln", p0 / n, math.log(w), h))
        if lam <= 0:
            continue
        pk, left = p0, 1.0 - p0
        for k in range(1, MAX_INTERRUPTIONS + 1):
            pk = pk * mass / k
            weight = pk if k < MAX_INTERRUPTIONS else left  # the tail folds into the last term
            left -= pk
            if weight <= 1e-9:
                break
            if k == 1:
                out.append(Kernel("u", weight / n, w + restart, c))
            else:
                out.append(Kernel("n", weight / n, w + k * (restart + c / 2), c * math.sqrt(k / 12.0)))
    return out


def survival(ks: Sequence[Kernel], t: float) -> float:
    return sum(k.w * k.sf(t) for k in ks)


def quantile(ks: Sequence[Kernel], q: float, hi: float) -> float:
    lo = 0.0
    while survival(ks, hi) > 1 - q and hi < 1e6:
        hi *= 2
    for _ in range(40):
        mid = (lo + hi) / 2
        if survival(ks, mid) > 1 - q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def smooth_survival(xs: Sequence[float], t: float) -> float:
    """P(X > t) under a log-normal kernel smoothing of samples xs (> 0)."""
    if not xs or t <= 0:
        return 0.0 if not xs else 1.0
    h = bandwidth(xs)
    return sum(sf_normal((math.log(t) - math.log(x)) / h) for x in xs) / len(xs)


def p95(xs: Sequence[float]) -> float:
    s = sorted(xs)
    pos = 0.95 * (len(s) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)
