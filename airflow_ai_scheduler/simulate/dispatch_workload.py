"""Workloads for the dispatch simulator: DAG runs from several DAGs and owners, with bursts and deadlines.

A :class:`Workload` is a list of DAG runs (each a small DAG of tasks with actual and expected runtimes,
priorities and an optional deadline) and the fleets they are routed to. :func:`generate_workload` draws
one from a seed:

* 6–10 DAGs, 3–4 owners; shapes: chain (3–8 tasks), fan-out/fan-in (1 → 4–16 → 1), layered (3–5 layers of
  2–6 tasks, each depending on 1–2 of the layer above) and mapped (1 → 10–30 short tasks → 1).
* Runtimes are heavy-tailed: each task has a log-normal runtime with a median log-uniform in 1–45 min and
  σ in 0.3–1.2; one task in 20 has a Pareto (α = 1.5) tail instead; draws are capped at 6 h. The scheduler sees only the
  distribution's *mean* (what a history table's mean of past tries gives), never the draw.
* Schedules are cron-like: each DAG runs every 1, 2, 4, 6 or 12 h, most at the top of the hour, so runs
  arrive in bursts; one DAG also gets a backfill of 6–12 runs at once at a random hour (a would-be
  monopoliser).
* 60 % of DAGs have a deadline 1.3–4× their critical path after the run starts. Hint priorities: half the
  DAGs none (1), the others 1–10. ``priority_weight`` is Airflow's default (``downstream``) rule.
* Tries fail (and are retried at once) with probability 3 %, drawn per task in advance so every policy
  sees the same failures.
* Fleets: ``spot`` (its usable slots follow a bundled multi-node spot trace from a seeded offset, between
  half and all of them; when the trace loses instances, running tasks are preempted, newest first, and
  requeued from scratch) and ``on-demand``. Slots are sized so the expected work is ``load`` × capacity over the horizon.

:func:`workload_from_history` builds DAG templates from the history table's rows instead (runtimes drawn
from each task's recorded tries; dependencies and deadlines from the stored manifests when given).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from airflow_ai_scheduler.simulate.traces import DATA_DIR

SPOT_TRACES = ("availability/16-node/aws-08-27-2023/us-east-2b_v100_1",
               "availability/16-node/aws-08-27-2023/us-west-2a_v100_1",
               "availability/16-node/aws-08-27-2023/us-west-2c_v100_1",
               "preemption/4-node/aws-08-03-2023/us-east-1f_v100_1",
               "preemption/4-node/aws-08-03-2023/us-east-2a_v100_1",
               "preemption/4-node/aws-08-03-2023/us-west-2c_v100_1")
FAIL_PROB = 0.03
MAX_RUNTIME_H = 6.0  #: draws are capped here (a task runs at most 6 h)


@dataclass(frozen=True)
class TaskSpec:
    task_id: str
    deps: tuple[str, ...] = ()
    median_h: float = 0.1
    sigma: float = 0.5
    pareto: bool = False
    samples: tuple[float, ...] = ()  #: recorded runtimes (hours): drawn from instead of the log-normal
    vcpus: int = 1

    @property
    def mean_h(self) -> float:
        if self.samples:
            return sum(self.samples) / len(self.samples)
        if self.pareto:  # Pareto(α) scaled so its minimum is the median / 2: mean = xm·α/(α−1)
            return self.median_h / 2 * 1.5 / 0.5
        return self.median_h * math.exp(self.sigma ** 2 / 2)

    def draw(self, rng: random.Random) -> float:
        if self.samples:
            return rng.choice(self.samples)
        if self.pareto:
            return min(self.median_h / 2 * rng.paretovariate(1.5), 20 * self.median_h, MAX_RUNTIME_H)
        return min(self.median_h * math.exp(rng.gauss(0.0, self.sigma)), MAX_RUNTIME_H)


@dataclass(frozen=True)
class DagSpec:
    dag_id: str
    owner: str
    tasks: tuple[TaskSpec, ...]
    fleet: str
    interval_h: float = 4.0
    offset_h: float = 0.0
    deadline_factor: float | None = None  #: × the critical path (expected), after the run starts
    priority: int = 1


@dataclass
class SimTask:
    run_id: str
    task_id: str
    deps: tuple[str, ...]
    runtime_h: float  #: what the try really takes
    expected_h: float  #: what the scheduler believes (history mean)
    fleet: str
    priority: int = 1
    priority_weight: int = 1
    vcpus: int = 1
    deadline_h: float | None = None  #: effective: latest finish so the run's deadline holds
    descendants: int = 0
    fail_tries: int = 0  #: how many tries fail before one succeeds
    fail_at: float = 0.5  #: failing tries end after this share of the runtime

    @property
    def key(self) -> tuple[str, str]:
        return (self.run_id, self.task_id)


@dataclass
class SimRun:
    run_id: str
    dag_id: str
    owner: str
    arrival_h: float
    deadline_h: float | None
    tasks: dict[str, SimTask] = field(default_factory=dict)


@dataclass(frozen=True)
class FleetSpec:
    name: str
    tier: str
    slots: int
    price_per_hour: float
    trace: str | None = None  #: bundled spot trace whose instance count scales the usable slots
    trace_offset: int = 0


@dataclass
class Workload:
    runs: list[SimRun]
    fleets: list[FleetSpec]
    horizon_h: float
    seed: int = 0


# -- generation -------------------------------------------------------------------------------------------
def _task(rng: random.Random, tid: str, deps: Sequence[str], short: bool = False) -> TaskSpec:
    median = math.exp(rng.uniform(math.log(1 / 60), math.log(45 / 60)))
    if short:
        median = min(median, 5 / 60)
    return TaskSpec(tid, tuple(deps), median, rng.uniform(0.3, 1.2), rng.random() < 0.05, (),
                    rng.choice((1, 1, 2, 4, 8)))


def _shape(rng: random.Random) -> list[TaskSpec]:
    kind = rng.choice(("chain", "fanout", "layered", "mapped"))
    if kind == "chain":
        n = rng.randint(3, 8)
        return [_task(rng, f"t{i}", [f"t{i - 1}"] if i else []) for i in range(n)]
    if kind in ("fanout", "mapped"):
        width = rng.randint(4, 16) if kind == "fanout" else rng.randint(10, 30)
        mid = [_task(rng, f"w{i}", ["start"], short=kind == "mapped") for i in range(width)]
        return [_task(rng, "start", []), *mid, _task(rng, "end", [t.task_id for t in mid])]
    layers: list[list[str]] = []
    tasks: list[TaskSpec] = []
    for li in range(rng.randint(3, 5)):
        names = [f"l{li}_{i}" for i in range(rng.randint(2, 6))]
        for n in names:
            deps = rng.sample(layers[-1], min(len(layers[-1]), rng.randint(1, 2))) if layers else []
            tasks.append(_task(rng, n, deps))
        layers.append(names)
    return tasks


def critical_path_h(tasks: Sequence[TaskSpec]) -> float:
    finish: dict[str, float] = {}
    for t in tasks:  # specs are in topological order
        finish[t.task_id] = max((finish[d] for d in t.deps), default=0.0) + t.mean_h
    return max(finish.values(), default=0.0)


def generate_dags(rng: random.Random, n_dags: int | None = None) -> list[DagSpec]:
    owners = [f"team-{c}" for c in "abcd"[: rng.randint(3, 4)]]
    dags = []
    for i in range(n_dags or rng.randint(6, 10)):
        tasks = _shape(rng)
        dags.append(DagSpec(
            dag_id=f"dag_{i:02d}", owner=rng.choice(owners), tasks=tuple(tasks),
            fleet="spot" if rng.random() < 0.6 else "on-demand",
            interval_h=rng.choice((1.0, 2.0, 4.0, 6.0, 12.0)),
            offset_h=0.0 if rng.random() < 0.7 else rng.choice((0.25, 0.5)),
            deadline_factor=rng.uniform(1.3, 4.0) if rng.random() < 0.6 else None,
            priority=rng.randint(1, 10) if rng.random() < 0.5 else 1))
    return dags


def generate_workload(seed: int, hours: float = 24.0, load: float = 0.7, dags: Sequence[DagSpec] | None = None,
                      backfill: bool = True) -> Workload:
    """A seeded workload over ``hours`` (see the module docstring); ``dags`` replaces the drawn templates."""
    rng = random.Random(seed)
    specs = list(dags) if dags else generate_dags(rng)
    arrivals: list[tuple[float, DagSpec]] = []
    for d in specs:
        t = d.offset_h
        while t < hours:
            arrivals.append((t, d))
            t += d.interval_h
    if backfill and specs:
        d, at = rng.choice(specs), float(rng.randint(1, max(1, int(hours) - 2)))
        arrivals += [(at, d)] * rng.randint(6, 12)
    arrivals.sort(key=lambda a: (a[0], a[1].dag_id))
    runs = [make_run(rng, d, at, f"{d.dag_id}__{k}") for k, (at, d) in enumerate(arrivals)]
    return Workload(runs, size_fleets(rng, runs, hours, load), hours, seed)


def make_run(rng: random.Random, d: DagSpec, at: float, run_id: str) -> SimRun:
    deadline = at + d.deadline_factor * critical_path_h(d.tasks) if d.deadline_factor else None
    run = SimRun(run_id, d.dag_id, d.owner, at, deadline)
    children: dict[str, list[str]] = {t.task_id: [] for t in d.tasks}
    for t in d.tasks:
        for dep in t.deps:
            children[dep].append(t.task_id)
    mean = {t.task_id: t.mean_h for t in d.tasks}
    desc: dict[str, set[str]] = {}
    latest: dict[str, float] = {}
    for t in reversed(d.tasks):
        kids = children[t.task_id]
        desc[t.task_id] = set().union(*([{c} | desc[c] for c in kids] or [set()]))
        if deadline is not None:  # latest finish: each dependent must still fit before its own
            latest[t.task_id] = min((latest[c] - mean[c] for c in kids), default=deadline)
    for t in d.tasks:
        fails = 0
        while rng.random() < FAIL_PROB and fails < 2:
            fails += 1
        run.tasks[t.task_id] = SimTask(
            run_id, t.task_id, t.deps, t.draw(rng), t.mean_h, d.fleet, d.priority, 1 + len(desc[t.task_id]),
            t.vcpus, latest.get(t.task_id), len(desc[t.task_id]), fails, rng.uniform(0.1, 0.9))
    return run


def size_fleets(rng: random.Random, runs: Iterable[SimRun], hours: float, load: float) -> list[FleetSpec]:
    """Slots so the expected work is ``load`` × the capacity over ``hours``; the spot fleet's capacity is its
    slots × its mean usable share (:func:`spot_share`) over the window of the trace it replays."""
    work: dict[str, float] = {"spot": 0.0, "on-demand": 0.0}
    for r in runs:
        for t in r.tasks.values():
            work[t.fleet] = work.get(t.fleet, 0.0) + t.expected_h
    trace = rng.choice(SPOT_TRACES)
    offset = rng.randint(0, 100_000)
    tick_h, counts = trace_counts(trace)
    peak = max(counts) or 1.0
    window = [spot_share(counts[(offset + k) % len(counts)], peak) for k in range(max(1, int(hours / tick_h)))]
    share = sum(window) / len(window)
    spot = max(2, math.ceil(work["spot"] / (hours * load * share)))
    od = max(2, math.ceil(work["on-demand"] / (hours * load)))
    return [FleetSpec("on-demand", "on-demand", od, 1.0), FleetSpec("spot", "spot", spot, 0.3, trace, offset)]


def spot_share(count: float, peak: float) -> float:
    """The share of a spot fleet's slots usable when its trace holds ``count`` of ``peak`` instances: the
    fleet spans several pools, so losing one pool's trace entirely takes half its slots."""
    return 0.5 + 0.5 * count / peak


@lru_cache(maxsize=32)
def trace_counts(name: str) -> tuple[float, tuple[float, ...]]:
    """(tick hours, instance count per tick) of a bundled trace (a name under simulate/data/spot-traces)."""
    raw = json.loads((DATA_DIR / f"{name}.json").read_text())
    return float(raw["metadata"]["gap_seconds"]) / 3600, tuple(max(0.0, float(v)) for v in raw["data"])


# -- from the history table ------------------------------------------------------------------------------
def dags_from_history(rows: Iterable[Mapping[str, Any]], manifests: Mapping[str, Any] | None = None,
                      min_tries: int = 1) -> list[DagSpec]:
    """DAG templates from history rows (``dag_id``, ``task_id``, ``run_id``, ``runtime_seconds``, ``outcome``,
    ``fleet``, ``tier``, ``actual_start``): each task's runtimes are its successful tries'. ``manifests``:
    dag_id → a :class:`~airflow_ai_scheduler.models.Manifest` of one of its runs (dependencies, priorities
    and deadlines); without one a DAG's tasks are independent and have no deadline. The interval between
    runs is the median gap between the runs' first starts (4 h with one run)."""
    per_task: dict[str, dict[str, list[float]]] = {}
    fleets: dict[str, str] = {}
    starts: dict[str, dict[str, float]] = {}
    for r in rows:
        if r.get("outcome") != "success" or not r.get("runtime_seconds"):
            continue
        dag = str(r["dag_id"])
        per_task.setdefault(dag, {}).setdefault(str(r["task_id"]), []).append(float(r["runtime_seconds"]) / 3600)
        fleets.setdefault(dag, "spot" if r.get("tier") == "spot" else "on-demand")
        if r.get("actual_start") is not None:
            ts = r["actual_start"].timestamp() / 3600
            run_starts = starts.setdefault(dag, {})
            run_starts[str(r["run_id"])] = min(ts, run_starts.get(str(r["run_id"]), ts))
    out = []
    for dag, tasks in sorted(per_task.items()):
        m = (manifests or {}).get(dag)
        jobs = {j.job_id: j for j in m.jobs} if m is not None else {}
        specs = [TaskSpec(t, tuple(d for d in (jobs[t].dependencies if t in jobs else []) if d in tasks),
                          samples=tuple(v)) for t, v in tasks.items() if len(v) >= min_tries]
        specs = _topo(specs)
        firsts = sorted(starts.get(dag, {}).values())
        gaps = sorted(b - a for a, b in zip(firsts, firsts[1:], strict=False) if b > a)
        deadline_factor = None
        if m is not None and any(j.deadline for j in m.jobs) and specs:
            latest = max(m.hours(j.deadline) for j in m.jobs if j.deadline)
            deadline_factor = max(1.05, latest / max(critical_path_h(specs), 1e-6))
        prio = max((j.priority for j in jobs.values()), default=1)
        out.append(DagSpec(dag, dag, tuple(specs), fleets[dag], gaps[len(gaps) // 2] if gaps else 4.0, 0.0,
                           deadline_factor, prio))
    return out


def _topo(specs: list[TaskSpec]) -> list[TaskSpec]:
    from graphlib import TopologicalSorter

    by_id = {s.task_id: s for s in specs}
    order = TopologicalSorter({s.task_id: set(s.deps) for s in specs}).static_order()
    return [by_id[t] for t in order]
