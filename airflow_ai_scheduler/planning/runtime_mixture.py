"""A predicted runtime as a mixture of simple kernels: log-normal (the smoothed history samples), a shifted
truncated exponential (one spot interruption) and a shifted log-normal (several); survival, mean, E[(X − s)⁺] and quantiles in closed form or
by bisection. Pure math for :mod:`.suitability` (docs/suitability.md)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MIN_BANDWIDTH = 0.02
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
    """One component of weight ``w``: ``ln`` shift + a log-normal (log median a, σ b); ``te`` a + L with L the
    progress lost to one interruption, an exponential of rate ``lam`` truncated to [0, b]; ``n`` normal
    (mean a, sd b)."""

    kind: str
    w: float
    a: float
    b: float
    lam: float = 0.0
    shift: float = 0.0  # ln: X = shift + a log-normal

    def _uniform(self) -> bool:
        return self.lam * self.b < 1e-6  # λc → 0: the truncated exponential is uniform

    def sf(self, t: float) -> float:
        if self.kind == "ln":
            t -= self.shift
            if t <= 0:
                return 1.0
            return sf_normal((math.log(t) - self.a) / self.b) if self.b > 0 else float(math.log(t) < self.a)
        if self.kind == "te":
            x, c = t - self.a, self.b
            if x <= 0:
                return 1.0
            if x >= c:
                return 0.0
            if self._uniform():
                return (c - x) / c
            return (math.exp(-self.lam * x) - math.exp(-self.lam * c)) / -math.expm1(-self.lam * c)
        return sf_normal((t - self.a) / self.b) if self.b > 0 else float(t < self.a)

    def mean(self) -> float:
        if self.kind == "ln":
            return self.shift + math.exp(self.a + self.b * self.b / 2)
        if self.kind == "te":
            return self.a + lost_moments(self.lam, self.b)[0]
        return self.a

    def excess(self, s: float) -> float:
        """E[(X − s)⁺]."""
        if self.kind == "ln":
            s -= self.shift
            m = math.exp(self.a + self.b * self.b / 2)
            if s <= 0:
                return m - s
            if self.b <= 0:
                return max(0.0, math.exp(self.a) - s)
            z = (math.log(s) - self.a) / self.b
            return m * sf_normal(z - self.b) - s * sf_normal(z)
        if self.kind == "te":
            x, c, lam = s - self.a, self.b, self.lam
            if x <= 0:
                return self.mean() - s
            if x >= c:
                return 0.0
            if self._uniform():
                return (c - x) ** 2 / (2 * c)
            return ((math.exp(-lam * x) - math.exp(-lam * c)) / lam - (c - x) * math.exp(-lam * c)) \
                / -math.expm1(-lam * c)
        if self.b <= 0:
            return max(0.0, self.a - s)
        z = (self.a - s) / self.b
        return (self.a - s) * (1 - sf_normal(z)) + self.b * pdf_normal(z)


def lost_moments(lam: float, c: float) -> tuple[float, float]:
    """(mean, variance) of the progress lost to one interruption in a segment of length c: the time of the
    first event of a Poisson(λ) process given it falls in [0, c]."""
    x = lam * c
    if x < 1e-4:
        return c / 2, c * c / 12
    q = math.exp(-x)
    return 1 / lam - c * q / (1 - q), 1 / lam ** 2 - c * c * q / (1 - q) ** 2


def student_t_scales(nu: float, m: int = 8, cap: float = 4.0) -> list[float]:
    """Scale factors √(ν/Vⱼ) at m equal-probability quantiles of V ~ χ²_ν (Wilson–Hilferty): a Student-t
    with ν degrees of freedom as an equal mixture of normals (each factor × the scale), capped at ``cap``."""
    from statistics import NormalDist

    nd, out = NormalDist(), []
    for j in range(m):
        z = nd.inv_cdf((j + 0.5) / m)
        v = nu * max(1e-3, 1 - 2 / (9 * nu) + z * math.sqrt(2 / (9 * nu))) ** 3
        out.append(min(cap, math.sqrt(nu / v)))
    return out


def mixture(work: Sequence[float], h: float | Sequence[float], lam: float, restart: float,
            segment: float | None) -> list[Kernel]:
    """The runtime of work wᵢ (each a log-normal kernel of bandwidth h, or hᵢ) under interruptions of rate λ.

    The work runs in m = w / c segments (c = the checkpoint interval, or w); an attempt at a segment fails
    with p = 1 − e^{−λc}, so the number of interruptions K is negative binomial(m, p) — P(K = 0) = e^{−λw},
    E[T] = w + m(e^{λc} − 1)(r + E[L]) equals objective.expected_runtime — and each costs the restart r plus
    the lost progress L (the first event of the process given it falls in [0, c]). K = 1 is exact (kind te);
    K ≥ 2 is one log-normal above w + 2r with the conditional mean and variance of the sum."""
    n = len(work)
    out: list[Kernel] = []
    hs = [float(h)] * n if isinstance(h, (int, float)) else list(h)
    for w, hw in zip(work, hs, strict=True):
        if lam <= 0:
            out.append(Kernel("ln", 1.0 / n, math.log(w), hw))
            continue
        c = min(w, segment) if segment else w
        m, q = w / c, math.exp(-lam * c)
        p0 = math.exp(-lam * w)
        out.append(Kernel("ln", p0 / n, math.log(w), hw))
        mu_l, var_l = lost_moments(lam, c)
        p1 = m * p0 * (1 - q)
        if p1 > 1e-12:
            out.append(Kernel("te", p1 / n, w + restart, c, lam))
        mass = s1 = s2 = 0.0
        pk, k = p1, 1
        while k < 10_000 and 1.0 - p0 - p1 - mass > 1e-9:
            k += 1
            pk = pk * (k - 1 + m) / k * (1 - q)
            mass, s1, s2 = mass + pk, s1 + pk * k, s2 + pk * k * k
            if pk < 1e-12 and k > m / max(q, 1e-9):
                break
        if mass > 1e-12:  # K ≥ 2: at least w + 2r, skewed right: a shifted log-normal with the same moments
            ek, ek2, step = s1 / mass, s2 / mass, restart + mu_l
            var = max(1e-18, ek * var_l + (ek2 - ek * ek) * step * step)
            floor = w + 2 * restart
            extra = max(1e-12, w + ek * step - floor)
            s2_log = math.log1p(var / (extra * extra))
            out.append(Kernel("ln", mass / n, math.log(extra) - s2_log / 2, math.sqrt(s2_log), shift=floor))
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
