"""Compare dispatch policies on the same seeded workloads, with bootstrap confidence intervals (pure).

Each workload is played once per policy (paired: every policy sees the same runs, runtimes, failures and
spot trace). Per metric the table holds the mean over workloads and a 95 % percentile-bootstrap
interval of that mean (2,000 resamples, seeded); :func:`paired_difference` gives the interval of the
per-workload difference between two policies, which is what says whether one beats the other.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict

from airflow_ai_scheduler.dispatch.base import DispatchPolicy
from airflow_ai_scheduler.simulate.dispatch import DispatchSimulator, SimResult
from airflow_ai_scheduler.simulate.dispatch_workload import Workload, generate_workload

#: metric → how it is read from a result (lower is better for all but throughput)
METRICS: dict[str, Callable[[SimResult], float]] = {
    "mean_wait_min": lambda r: r.mean_wait_min,
    "p95_wait_min": lambda r: r.p95_wait_min,
    "miss_rate_pct": lambda r: 100 * r.miss_rate,
    "mean_completion_h": lambda r: r.mean_completion_h,
    "p95_completion_h": lambda r: r.p95_completion_h,
    "throughput_per_h": lambda r: r.throughput_per_h,
    "starved_pct": lambda r: 100 * r.starved / max(1, r.tasks),
}


def bootstrap_ci(xs: Sequence[float], level: float = 0.95, resamples: int = 2000, seed: int = 0
                 ) -> tuple[float, float, float]:
    """(mean, low, high): the percentile bootstrap interval of the mean."""
    n = len(xs)
    if n == 0:
        return 0.0, 0.0, 0.0
    mean = sum(xs) / n
    if n == 1:
        return mean, mean, mean
    rng = random.Random(seed)
    means = sorted(sum(rng.choices(xs, k=n)) / n for _ in range(resamples))
    lo = means[int((1 - level) / 2 * resamples)]
    hi = means[min(resamples - 1, int((1 + level) / 2 * resamples))]
    return mean, lo, hi


def run_policies(policies: Mapping[str, Callable[[], DispatchPolicy]], seeds: Sequence[int],
                 workload: Callable[[int], Workload] = generate_workload, **sim: float
                 ) -> dict[str, list[SimResult]]:
    """policy name → one result per seed. ``policies`` maps names to factories (a fresh policy per run, so
    stateful policies start clean)."""
    out: dict[str, list[SimResult]] = {name: [] for name in policies}
    for seed in seeds:
        w = workload(seed)
        for name, make in policies.items():
            out[name].append(DispatchSimulator(w, **sim).run(make(), name))
    return out


def summarize(results: Mapping[str, Sequence[SimResult]]) -> dict[str, dict[str, tuple[float, float, float]]]:
    """policy → metric → (mean, low, high) over the workloads."""
    return {name: {m: bootstrap_ci([f(r) for r in rs]) for m, f in METRICS.items()} for name, rs in results.items()}


def paired_difference(a: Sequence[SimResult], b: Sequence[SimResult], metric: str) -> tuple[float, float, float]:
    """Mean and 95 % interval of metric(a) − metric(b) over the same workloads."""
    f = METRICS[metric]
    return bootstrap_ci([f(x) - f(y) for x, y in zip(a, b, strict=True)])


def as_rows(results: Mapping[str, Sequence[SimResult]]) -> dict[str, list[dict]]:
    return {name: [asdict(r) for r in rs] for name, rs in results.items()}
