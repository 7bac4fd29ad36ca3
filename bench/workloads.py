"""Generated planning workloads: chains, fan-out/fan-in and random layered DAGs over the bundled catalog.

Deadlines sit at 1.2–3× each job's critical path (on the fastest offer), about half the jobs can
checkpoint, and spot pools have limited capacity, as a shared cloud account's quotas would impose.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

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


# --- real workflow shapes: WfCommons instances (bench/workflows/, PROVENANCE.md there) ---------------------

WORKFLOWS = Path(__file__).parent / "workflows"
#: the four regions real workflows are planned over (three providers)
REAL_REGIONS = ("aws:us-east-1", "aws:us-west-2", "gcp:us-central1", "azure:eastus")
REAL_SPOT_POOL = 6  # instances per spot pool
REAL_DEADLINE_FACTOR = 1.6  # one deadline for the whole workflow: this × its critical path
#: tuned on these (families and sizes the planner's settings were chosen on) ...
REAL_TUNE = ("seismology-chameleon-300p-001", "seismology-chameleon-700p-001", "soykb-chameleon-20fastq-20ch-001",
             "soykb-chameleon-40fastq-20ch-001", "cycles-chameleon-5l-1c-9p-001", "cycles-chameleon-5l-3c-9p-001",
             "blast-chameleon-medium-001", "bwa-chameleon-large-001", "rnaseq-6l")
#: ... and reported on these: other families (epigenomics, 1000genome, montage), never looked at while tuning
REAL_REPORT = ("epigenomics-chameleon-hep-2seq-50k-001", "1000genome-chameleon-8ch-250k-001",
               "montage-chameleon-dss-10d-001", "epigenomics-chameleon-ilmn-4seq-100k-001",
               "1000genome-chameleon-22ch-250k-001", "epigenomics-chameleon-hep-6seq-50k-001",
               "montage-chameleon-dss-125d-001")


def real_offers(offers: list[Offer]) -> list[Offer]:
    """The bundled catalog in the four regions, every spot pool REAL_SPOT_POOL instances."""
    out = []
    for o in offers:
        if o.location not in REAL_REGIONS:
            continue
        if o.tier == "spot":
            o = o.model_copy(update={"capacity": REAL_SPOT_POOL})
        out.append(o)
    return out


def real_manifest(name: str, offers: list[Offer]) -> Manifest:
    """One converted WfCommons instance as a manifest: runtimes as in the instance; a job's input is what its
    parents wrote (moved from where they ran), and an entry task's input lives in the first region; every
    task 2 vCPU / 4 GiB; the exit tasks share one deadline at REAL_DEADLINE_FACTOR × the critical path."""
    inst = json.loads((WORKFLOWS / f"{name}.json").read_text())
    rows = inst["tasks"]
    ids = [f"{row[0].rsplit('.', 1)[-1]}-{i}" for i, row in enumerate(rows)]
    hours = [max(row[1], 1.0) / 3600 for row in rows]  # a task takes at least a second
    finish = [0.0] * len(rows)
    has_children = set()
    for i, row in enumerate(rows):
        finish[i] = max((finish[p] for p in row[4]), default=0.0) + hours[i]
        has_children.update(row[4])
    deadline = NOW + timedelta(hours=REAL_DEADLINE_FACTOR * max(finish))
    jobs = []
    for i, (_, _, from_parents, external, parents) in enumerate(rows):
        gb = (from_parents if parents else external) / 1e9
        jobs.append(Job(job_id=ids[i], estimated_duration_hours=hours[i], resources=Resources(vcpus=2, memory_gib=4),
                        dependencies=[ids[p] for p in parents], input_data_size_gb=round(gb, 6),
                        data_region=REAL_REGIONS[0] if not parents and gb > 0 else None,
                        deadline=None if i in has_children else deadline))
    return Manifest(now=NOW, jobs=jobs, offers=real_offers(offers))
