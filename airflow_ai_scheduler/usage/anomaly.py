"""Is a try an outlier against its own task's history? Robust z-scores: median and MAD on a log scale.

For a measure x (runtime seconds, peak memory MiB) of one try and the same measure of the task's earlier
successful tries h₁…hₙ (n ≥ :data:`MIN_HISTORY`):

    m = median(log hᵢ),  MAD = median(|log hᵢ − m|),  s = max(1.4826 · MAD, log(1 + MIN_SPREAD))
    z = (log x − m) / s          flagged when |z| > Z_THRESHOLD and |x − eᵐ| ≥ the measure's MIN_ABS

Why this method:

* **Median and MAD, not mean and σ**: both have a 50 % breakdown point. The history being judged against
  contains the very outliers we look for (a try stuck on a lock, a run on a bad host); one such try in
  twenty inflates σ enough to hide the next one (masking). The median and MAD ignore it. 1.4826 makes
  1.4826·MAD estimate σ for normal data, so z reads like a z-score. 3.5 is Iglewicz and Hoaglin's cut-off
  for this modified z-score.
* **Log scale**: runtimes and memory are positive and multiplicative — a try twice as slow is equally
  suspicious for a 10-second and a 10-hour task, and their spread grows with their size. On the log scale
  a ratio is a distance, and the skewed distributions become roughly symmetric.
* **Floors**: a task whose tries all took 10.0 s has MAD 0, and any jitter would be "infinitely" odd.
  The spread is floored at ``MIN_SPREAD`` (25 %: with z > 3.5 nothing under a 2.2× ratio is ever flagged),
  and a difference smaller than ``MIN_ABS`` (5 s of runtime, 64 MiB of memory) never is either.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

#: fewer earlier tries than this: no verdict
MIN_HISTORY = 5
#: Iglewicz & Hoaglin's threshold on the modified z-score
Z_THRESHOLD = 3.5
#: σ-consistency constant of the MAD under normality
MAD_SCALE = 1.4826
#: floor on the spread, as a relative change (log(1.25))
MIN_SPREAD = 0.25
#: smallest absolute difference worth a flag, per measure
MIN_ABS = {"runtime": 5.0, "memory": 64.0}
UNITS = {"runtime": "s", "memory": "MiB"}


@dataclass(frozen=True)
class Outlier:
    measure: str  # runtime | memory
    value: float
    median: float
    z: float
    n: int

    @property
    def flag(self) -> str:
        return f"{self.measure}_{'high' if self.z > 0 else 'low'}"

    def describe(self) -> str:
        unit = UNITS.get(self.measure, "")
        ratio = self.value / self.median if self.median > 0 else math.inf
        return (f"{self.measure} {self.value:.1f} {unit} vs median {self.median:.1f} {unit} of {self.n} earlier "
                f"tries ({ratio:.2f}x, robust z {self.z:+.1f})")


def robust_z(value: float, history: Sequence[float], min_spread: float = MIN_SPREAD) -> tuple[float, float] | None:
    """(z, median) of ``value`` against ``history`` on the log scale; None when it cannot be judged."""
    xs = [math.log(h) for h in history if h is not None and h > 0 and math.isfinite(h)]
    if len(xs) < MIN_HISTORY or value is None or not value > 0:
        return None
    m = median(xs)
    mad = median(abs(x - m) for x in xs)
    s = max(MAD_SCALE * mad, math.log1p(min_spread))
    return (math.log(value) - m) / s, math.exp(m)


def check(measure: str, value: float | None, history: Sequence[float]) -> Outlier | None:
    """The outlier verdict for one measure of one try, or None when it is not one (or cannot be judged)."""
    if value is None:
        return None
    judged = robust_z(value, history)
    if judged is None:
        return None
    z, med = judged
    if abs(z) <= Z_THRESHOLD or abs(value - med) < MIN_ABS.get(measure, 0.0):
        return None
    return Outlier(measure, float(value), med, z, len([h for h in history if h and h > 0]))


def find_outliers(row: dict, earlier: Sequence[dict]) -> list[Outlier]:
    """The outliers of a history row against the task's earlier successful rows (both as history dicts).

    Runtime is judged for successful tries only (a failed try stops early by nature); peak memory for
    successful and failed ones (a failure with a memory spike is worth a look)."""
    ok = [r for r in earlier if r.get("outcome") == "success"]
    out = []
    if row.get("outcome") == "success":
        o = check("runtime", row.get("runtime_seconds"), [r.get("runtime_seconds") for r in ok])
        if o:
            out.append(o)
    if row.get("outcome") in ("success", "failed"):
        o = check("memory", row.get("peak_memory_mib"), [r.get("peak_memory_mib") for r in ok])
        if o:
            out.append(o)
    return out
