"""The demand scheduled runs will bring: run times (from the DAGs' timetables) × learned run profiles.

A DAG's :class:`RunProfile` says, for each of its tasks, when in a run it starts (hours after the run's
first task), how many task-hours it uses per run (all tries and map indexes, with their spread) and how
long one try takes, on which fleet, with how many vCPUs and GPUs. It is learned from history
(:func:`learn_profiles`) or, for a DAG that never ran, derived from its tasks' duration hints and
dependencies (:func:`profile_from_tasks`).

:func:`scheduled_demand` lays the profile of every future run onto the hours, with a variance per hour;
it is both the forecaster's fallback with little history and its regressor with enough.
"""

from __future__ import annotations

import graphlib
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from airflow_ai_scheduler.forecast import METRICS
from airflow_ai_scheduler.forecast.demand import COUNTED_OUTCOMES, complete_hours, group_of, split_hours


@dataclass(frozen=True)
class TaskSlice:
    task_id: str
    offset_hours: float  # after the run's first task starts
    duration_hours: float  # one try's wall time
    task_hours: float  # per run, all tries and map indexes
    task_hours_sd: float = 0.0
    fleet: str | None = None
    vcpus: float = 1.0
    gpus: int = 0


@dataclass(frozen=True)
class RunProfile:
    dag_id: str
    tasks: tuple[TaskSlice, ...]
    runs_seen: int = 0
    source: str = "history"  # history | hints
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def task_hours(self) -> float:
        return sum(t.task_hours for t in self.tasks)


def learn_profiles(rows: Iterable[Mapping[str, Any]], resources: Any = None,
                   lookback_runs: int = 20) -> dict[str, RunProfile]:
    """One profile per DAG from its last ``lookback_runs`` runs in history."""
    by_run: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for r in rows:
        if r.get("outcome") in COUNTED_OUTCOMES and r.get("actual_start") and r.get("actual_end"):
            by_run[(r["dag_id"], r["run_id"])].append(r)
    runs_of: dict[str, list[list[Mapping[str, Any]]]] = defaultdict(list)
    for (dag_id, _run), rs in sorted(by_run.items(), key=lambda kv: min(r["actual_start"] for r in kv[1])):
        runs_of[dag_id].append(rs)
    out = {}
    for dag_id, runs in runs_of.items():
        runs = runs[-lookback_runs:]
        per_task: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
        for rs in runs:
            t0 = min(r["actual_start"] for r in rs)
            hours: dict[str, float] = defaultdict(float)
            first: dict[str, datetime] = {}
            for r in rs:
                h = (r["actual_end"] - r["actual_start"]).total_seconds() / 3600.0
                hours[r["task_id"]] += h
                first[r["task_id"]] = min(first.get(r["task_id"], r["actual_start"]), r["actual_start"])
                per_task[r["task_id"]]["duration"].append(h)
                per_task[r["task_id"]]["fleet"].append(r.get("fleet"))
            for task_id, h in hours.items():
                per_task[task_id]["hours"].append(h)
                per_task[task_id]["offset"].append((first[task_id] - t0).total_seconds() / 3600.0)
        n = len(runs)
        slices = []
        for task_id, d in sorted(per_task.items()):
            # a task absent from some runs (skipped, or not reached) uses nothing in those runs
            per_run = d["hours"] + [0.0] * (n - len(d["hours"]))
            vcpus, gpus = resources(dag_id, task_id) if resources else (1.0, 0)
            slices.append(TaskSlice(
                task_id=task_id, offset_hours=statistics.median(d["offset"]),
                duration_hours=statistics.mean(d["duration"]), task_hours=statistics.mean(per_run),
                task_hours_sd=statistics.stdev(per_run) if n > 1 else 0.0,
                fleet=Counter(d["fleet"]).most_common(1)[0][0], vcpus=vcpus, gpus=gpus))
        out[dag_id] = RunProfile(dag_id=dag_id, tasks=tuple(slices), runs_seen=n, source="history")
    return out


@dataclass(frozen=True)
class TaskSpec:
    """What a DAG says of a task before it ever ran (its hint), for :func:`profile_from_tasks`."""

    task_id: str
    duration_hours: float
    upstream: Sequence[str] = ()
    fleet: str | None = None
    vcpus: float = 1.0
    gpus: int = 0
    instances: int = 1  # map indexes expected per run


def profile_from_tasks(dag_id: str, tasks: Sequence[TaskSpec]) -> RunProfile:
    """A profile from hints: each task starts when its longest upstream chain is done (graphlib order)."""
    by_id = {t.task_id: t for t in tasks}
    order = graphlib.TopologicalSorter({t.task_id: [u for u in t.upstream if u in by_id] for t in tasks})
    start: dict[str, float] = {}
    for tid in order.static_order():
        t = by_id[tid]
        start[tid] = max((start[u] + by_id[u].duration_hours for u in t.upstream if u in by_id), default=0.0)
    slices = tuple(TaskSlice(task_id=t.task_id, offset_hours=start[t.task_id], duration_hours=t.duration_hours,
                             task_hours=t.duration_hours * t.instances, fleet=t.fleet, vcpus=t.vcpus, gpus=t.gpus)
                   for t in tasks)
    return RunProfile(dag_id=dag_id, tasks=slices, runs_seen=0, source="hints",
                      notes=(f"{dag_id}: no history, runtimes from duration hints",))


def scheduled_demand(run_times: Mapping[str, Sequence[datetime]], profiles: Mapping[str, RunProfile], *,
                     by: str = "fleet", owners: Mapping[str, str] | None = None, start: datetime | None = None,
                     end: datetime | None = None) -> pd.DataFrame:
    """Expected demand per hour (and its variance, ``<metric>_var``) of the given runs (aware datetimes).

    A task's task-hours are spread evenly over its window ``[run + offset, run + offset + duration)``;
    its per-run spread becomes a variance in the same proportion. Runs of DAGs without a profile are
    skipped (the caller says so).
    """
    acc: dict[tuple[str, datetime], list[float]] = defaultdict(lambda: [0.0] * 6)
    for dag_id, times in run_times.items():
        prof = profiles.get(dag_id)
        if prof is None:
            continue
        for t in times:
            for s in prof.tasks:
                if s.task_hours <= 0:
                    continue
                key = group_of(by, dag_id=dag_id, fleet=s.fleet, owners=owners)
                w0 = t + timedelta(hours=s.offset_hours)
                w1 = w0 + timedelta(hours=max(s.duration_hours, 1e-6))
                span = (w1 - w0).total_seconds() / 3600.0
                for hour, share in split_hours(w0, w1):
                    frac = share / span
                    mean, sd = s.task_hours * frac, s.task_hours_sd * frac
                    a = acc[(key, hour)]
                    for i, scale in enumerate((1.0, s.vcpus, float(s.gpus))):
                        a[i] += mean * scale
                        a[3 + i] += (sd * scale) ** 2
    cols = [*METRICS, *(f"{m}_var" for m in METRICS)]
    records = [(k, h.replace(tzinfo=None), *v) for (k, h), v in acc.items()
               if (start is None or h >= start.replace(minute=0, second=0, microsecond=0))
               and (end is None or h < end)]
    frame = pd.DataFrame.from_records(records, columns=["unique_id", "ds", *cols])
    if start is not None and end is not None:
        return complete_hours(frame, start, end)
    return complete_hours(frame) if not frame.empty else frame
