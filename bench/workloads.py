"""Generated planning workloads: chains, fan-out/fan-in and random layered DAGs over the bundled catalog.

Deadlines sit at 1.2–3× each job's critical path (on the fastest offer), about half the jobs can
checkpoint, and spot pools have limited capacity, as a shared cloud account's quotas would impose.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from airflow_ai_scheduler.models import Job, Manifest, Offer, Resources

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=timezone.utc)
SHAPES = ("chain", "fanout", "layered")
_SIZES = [Resources(vcpus=2, memory_gib=4), Resources(vcpus=4, memory_gib=16), Resources(vcpus=8, memory_gib=32),
          Resources(vcpus=16, memory_gib=64), Resources(vcpus=4, memory_gib=16, gpus=1)]


def _deps(shape: str, n: int, rng: random.Random) -> list[list[int]]:
    if shape == "chain":
        # several parallel chains of ~10 jobs
        return [[i - 1] if i % 10 else [] for i in range(n)]
    if shape == "fanout":
        # blocks: 1 source → k workers → 1 sink
        deps: list[list[int]] = []
        while len(deps) < n:
            src = len(deps)
            deps.append([])
            k = min(rng.randint(4, 20), n - len(deps) - 1)
            workers = list(range(len(deps), len(deps) + k))
            deps.extend([src] for _ in workers)
            if len(deps) < n:
                deps.append(workers or [src])
        return deps[:n]
    layers, deps, prev = max(2, int(n ** 0.5) // 2), [], []
    per = max(1, n // layers)
    for i in range(n):
        if i % per == 0 and i:
            prev = list(range(max(0, i - per), i))
        deps.append(rng.sample(prev, k=min(len(prev), rng.randint(0, 3))) if prev else [])
    return deps


def generate(shape: str, n: int, seed: int = 0) -> list[Job]:
    rng = random.Random(f"{shape}-{n}-{seed}")
    deps = _deps(shape, n, rng)
    durations = [rng.choice([0.1, 0.25, 0.5, 1.0, 2.0, 4.0]) * rng.uniform(0.8, 1.2) for _ in range(n)]
    finish = [0.0] * n
    for i in range(n):
        finish[i] = max((finish[d] for d in deps[i]), default=0.0) + durations[i]
    jobs = []
    for i in range(n):
        gpu = rng.random() < 0.05
        res = _SIZES[4] if gpu else rng.choice(_SIZES[:4])
        has_deadline = rng.random() < 0.6
        jobs.append(Job(
            job_id=f"{shape}-{i}", priority=rng.randint(1, 5), estimated_duration_hours=round(durations[i], 4),
            duration_std_hours=round(durations[i] * rng.uniform(0.05, 0.3), 4), resources=res,
            dependencies=[f"{shape}-{d}" for d in deps[i]], is_checkpointable=rng.random() < 0.5,
            checkpoint_interval_hours=0.25, deadline=NOW + timedelta(hours=finish[i] * rng.uniform(1.2, 3.0))
            if has_deadline else None, hard_deadline=False,
            input_data_size_gb=rng.choice([0, 0, 0, 10, 50]),
        ))
    return jobs


def limited_offers(offers: list[Offer], n_jobs: int, seed: int = 0, providers: tuple[str, ...] = ("aws", "gcp")
                   ) -> list[Offer]:
    """The catalog's offers for some providers, spot pools given a quota that scales with the workload."""
    rng = random.Random(seed)
    out = []
    for o in offers:
        if o.provider not in providers:
            continue
        if o.tier == "spot":
            o = o.model_copy(update={"capacity": max(1, int(n_jobs * rng.uniform(0.01, 0.05)))})
        out.append(o)
    return out


def manifest(shape: str, n: int, offers: list[Offer], seed: int = 0) -> Manifest:
    return Manifest(now=NOW, jobs=generate(shape, n, seed), offers=limited_offers(offers, n, seed))
