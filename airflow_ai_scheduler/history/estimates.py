"""Per-task runtime estimates from history: pure functions, no database."""

from __future__ import annotations

import math
from collections.abc import Iterable


def mean_std(values: Iterable[float]) -> tuple[float, float, int]:
    """(mean, sample standard deviation, count); std 0 for fewer than two values."""
    xs = [float(v) for v in values if v is not None and math.isfinite(v)]
    n = len(xs)
    if n == 0:
        return 0.0, 0.0, 0
    mu = sum(xs) / n
    if n < 2:
        return mu, 0.0, n
    var = sum((x - mu) ** 2 for x in xs) / (n - 1)
    return mu, math.sqrt(var), n
