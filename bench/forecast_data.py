"""A synthetic multi-week task history from the example DAGs (dags/) run on cron timetables, with noise.

The example DAGs have ``schedule=None`` (the demo triggers them); here each gets the timetable below, read
by Airflow's own ``CronTriggerTimetable``. Tasks, dependencies, duration hints, resources and tiers come
from the DAG files themselves (loaded with Airflow's DagBag). The noise:

- runtimes: hint × lognormal(0, 0.25) × a per-DAG growth of ``GROWTH_PER_WEEK`` (data grows);
- a scheduled run starts 0-3 min late; 3 % of scheduled runs do not happen (paused, outage);
- the mapped ``process`` task expands to 4 + Poisson(2) instances;
- 5 % of tries fail and are retried 5 min later; 6 % of tries on the spot fleet are preempted part-way and
  relaunched at once;
- manual runs: on average one a weekday, at a random office hour, of a random DAG.

Rows have the columns of ``ai_scheduler_task_history`` that the forecast reads.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SCHEDULES = {
    "etl_deadline": "15 6-20 * * 1-5",  # hourly, office hours on weekdays
    "fanout_mapped": "0 */4 * * *",  # every four hours, every day
    "ml_pipeline": "30 1 * * *",  # nightly
}
GROWTH_PER_WEEK = {"etl_deadline": 0.04, "fanout_mapped": 0.0, "ml_pipeline": 0.02}
START = datetime(2026, 9, 7, tzinfo=timezone.utc)  # a Monday
SPOT, ON_DEMAND = "local-spot", "local-on-demand"
FLEET_VCPUS = {SPOT: 4.0, ON_DEMAND: 4.0}


@dataclass(frozen=True)
class BenchTask:
    task_id: str
    upstream: tuple[str, ...]
    duration_hours: float
    fleet: str
    vcpus: float
    mapped: bool


def example_tasks() -> dict[str, list[BenchTask]]:
    """The example DAGs' tasks with their hints (DagBag over dags/)."""
    from airflow.dag_processing.dagbag import DagBag

    from airflow_ai_scheduler.airflow.hints import parse_hint

    bag = DagBag(str(REPO / "dags"))
    out: dict[str, list[BenchTask]] = {}
    for dag_id in SCHEDULES:
        dag = bag.dags[dag_id]
        tasks = []
        for t in dag.tasks:
            hint = parse_hint(t.executor_config, dag_id=dag_id, task_id=t.task_id)
            spot = bool(hint and (hint.checkpointable or hint.tiers == ["spot"]))
            tasks.append(BenchTask(
                task_id=t.task_id, upstream=tuple(sorted(t.upstream_task_ids)),
                duration_hours=(hint.duration_seconds or 360.0) / 3600 if hint else 0.1,
                fleet=SPOT if spot and (hint is None or hint.tiers != ["on-demand"]) else ON_DEMAND,
                vcpus=hint.resources.vcpus if hint and hint.resources else 1.0,
                mapped=type(t).__name__.endswith("MappedOperator")))
        out[dag_id] = tasks
    return out


def run_times(cron: str, start: datetime, end: datetime) -> list[datetime]:
    """The scheduled runs of ``cron`` in [start, end), by Airflow's CronTriggerTimetable."""
    from airflow.timetables.base import TimeRestriction
    from airflow.timetables.trigger import CronTriggerTimetable

    tt = CronTriggerTimetable(cron, timezone="UTC")
    restriction = TimeRestriction(earliest=start, latest=None, catchup=True)
    out, last = [], None
    while True:
        info = tt.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
        if info is None or info.run_after >= end:
            return out
        out.append(datetime.fromtimestamp(info.run_after.timestamp(), tz=timezone.utc))
        last = info.data_interval


def _tries(rng: random.Random, dag_id: str, run_id: str, task: BenchTask, start: datetime, scale: float,
           map_index: int) -> tuple[list[dict[str, Any]], datetime]:
    """The tries of one task instance: failures and preemptions first, then the success."""
    rows, t, try_number = [], start, 1
    runtime = task.duration_hours * scale * rng.lognormvariate(0.0, 0.25)
    base = dict(dag_id=dag_id, task_id=task.task_id, run_id=run_id, map_index=map_index, fleet=task.fleet)
    while True:
        if rng.random() < 0.05 and try_number < 3:  # fails part-way, retried in 5 min
            end = t + timedelta(hours=runtime * rng.uniform(0.1, 1.0))
            rows.append({**base, "try_number": try_number, "actual_start": t, "actual_end": end, "outcome": "failed"})
            t, try_number = end + timedelta(minutes=5), try_number + 1
            continue
        if task.fleet == SPOT and rng.random() < 0.06:  # loses its spot capacity, relaunched
            end = t + timedelta(hours=runtime * rng.uniform(0.1, 0.9))
            rows.append({**base, "try_number": try_number, "actual_start": t, "actual_end": end,
                         "outcome": "preempted"})
            t = end + timedelta(seconds=30)
            continue
        end = t + timedelta(hours=runtime)
        rows.append({**base, "try_number": try_number, "actual_start": t, "actual_end": end, "outcome": "success"})
        return rows, end


def simulate_run(rng: random.Random, dag_id: str, tasks: list[BenchTask], at: datetime, run_id: str
                 ) -> list[dict[str, Any]]:
    weeks = (at - START).total_seconds() / (7 * 86400)
    scale = 1.0 + GROWTH_PER_WEEK[dag_id] * weeks
    done: dict[str, datetime] = {}
    rows: list[dict[str, Any]] = []
    for task in tasks:  # DagBag order is topological for these linear DAGs
        begin = max((done[u] for u in task.upstream), default=at) + timedelta(seconds=rng.uniform(5, 30))
        ends = []
        for i in range(4 + _poisson(rng, 2.0) if task.mapped else 1):
            tries, end = _tries(rng, dag_id, run_id, task, begin, scale, i if task.mapped else -1)
            rows += tries
            ends.append(end)
        done[task.task_id] = max(ends)
    return rows


def _poisson(rng: random.Random, lam: float) -> int:
    import math

    k, p, limit = 0, 1.0, math.exp(-lam)
    while True:
        p *= rng.random()
        if p < limit:
            return k
        k += 1


def history(seed: int, weeks: int = 6) -> tuple[list[dict[str, Any]], dict[str, list[datetime]]]:
    """(history rows, scheduled run times per DAG) over ``weeks`` weeks from :data:`START`."""
    rng = random.Random(seed)
    tasks = example_tasks()
    end = START + timedelta(weeks=weeks)
    schedule = {d: run_times(cron, START, end) for d, cron in SCHEDULES.items()}
    rows: list[dict[str, Any]] = []
    for dag_id, times in schedule.items():
        for at in times:
            if rng.random() < 0.03:
                continue
            rows += simulate_run(rng, dag_id, tasks[dag_id], at + timedelta(seconds=rng.uniform(0, 180)),
                                 f"scheduled__{at.isoformat()}")
    day = START
    while day < end:
        if day.weekday() < 5:
            for _ in range(_poisson(rng, 1.0)):
                dag_id = rng.choice(sorted(SCHEDULES))
                at = day + timedelta(hours=rng.uniform(9, 18))
                rows += simulate_run(rng, dag_id, tasks[dag_id], at, f"manual__{at.isoformat()}")
        day += timedelta(days=1)
    rows = [r for r in rows if r["actual_end"] <= end]
    return sorted(rows, key=lambda r: r["actual_end"]), schedule


def resources_of(tasks: dict[str, list[BenchTask]]) -> Any:
    by = {(d, t.task_id): (t.vcpus, 0) for d, ts in tasks.items() for t in ts}
    return lambda dag_id, task_id: by.get((dag_id, task_id), (1.0, 0))
