"""One history row per task try, written on the planner thread (never in the scheduler loop).

The row's outcome is the try's honest one (:mod:`airflow_ai_scheduler.history.outcomes`): a skipped task
is ``skipped``; a deferral, a sensor's reschedule or a wait for human input leave the try's row open and
the rest of the try is added to it when it resumes.

The runtime comes from the task instance's own start/end dates (what the task runner reported), the price
from the moment of launch (never today's catalog: SkyPilot #2780), the planned numbers from the run's plan.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from airflow_ai_scheduler.airflow.manifest import job_id_for
from airflow_ai_scheduler.airflow.usage_record import usage_fields
from airflow_ai_scheduler.history import outcomes

log = logging.getLogger(__name__)

#: re-reads of a task instance whose workload ended while Airflow still calls it running (the task
#: runner died without reporting: the scheduler settles it from the executor's event within a loop)
SETTLE_READS = 3
SETTLE_PAUSE_SECONDS = 1.0


def _ti_facts(key: Any, session_scope: Any) -> dict[str, Any]:
    """The task instance's state, dates and host *for this try*: from the task instance while it is on
    this try, else from Airflow's record of the try (``task_instance_history``: cleared or reset since)."""
    from airflow.models.taskinstance import TaskInstance as TI
    from airflow.models.taskinstancehistory import TaskInstanceHistory as TIH
    from sqlalchemy import select

    with session_scope() as session:
        row = session.execute(select(TI.state, TI.start_date, TI.end_date, TI.hostname, TI.try_number).where(
            TI.dag_id == key.dag_id, TI.task_id == key.task_id, TI.run_id == key.run_id,
            TI.map_index == key.map_index)).first()
        if row is not None and row[4] is not None and row[4] != key.try_number:
            row = session.execute(select(TIH.state, TIH.start_date, TIH.end_date, TIH.hostname,
                                         TIH.try_number).where(
                TIH.dag_id == key.dag_id, TIH.task_id == key.task_id, TIH.run_id == key.run_id,
                TIH.map_index == key.map_index, TIH.try_number == key.try_number)).first()
    if row is None:
        return {}
    state = row[0].value if hasattr(row[0], "value") else row[0]
    return {"state": state, "start": row[1], "end": row[2], "hostname": row[3]}


def build_try(key: Any, launch: dict[str, Any], facts: dict[str, Any], placement: Any, fleet_spec: Any) -> dict[str, Any]:
    """The history row's fields (pure: tested without a database)."""
    if launch.get("outcome") == outcomes.PREEMPTED:  # the task instance's dates belong to the whole try
        start, end = launch["start"], launch["end"]
    else:
        start = facts.get("start") or launch["start"]
        end = facts.get("end") or launch["end"]
        if facts.get("start") and launch["start"] > facts["start"]:
            # a relaunch after a preemption, a resume after a deferral, the next poke: this segment only
            start = launch["start"]
        if end < start:  # the task instance's end is an earlier segment's
            end = launch["end"]
    runtime = max(0.0, (end - start).total_seconds())
    outcome = launch.get("outcome") or outcomes.for_state(facts.get("state"),
                                                          launch.get("executor_state") == "failed")
    price = float(launch.get("price") or 0.0)
    co2_rate = launch.get("co2e_kg_per_hour")
    if co2_rate is None:  # the plan's kg CO2e per hour on this placement (energy scales with time on it)
        kg, s0, e0 = (getattr(placement, a, None) for a in ("estimated_co2e_kg", "start_time", "expected_end_time"))
        hours = (e0 - s0).total_seconds() / 3600.0 if s0 is not None and e0 is not None else 0.0
        co2_rate = kg / hours if kg is not None and hours > 0 else None
    return {
        "dag_id": key.dag_id, "task_id": key.task_id, "run_id": key.run_id, "map_index": key.map_index,
        "try_number": key.try_number, "fleet": launch.get("fleet"),
        "provider": getattr(fleet_spec, "provider", None), "region": getattr(fleet_spec, "region", None),
        "instance_type": getattr(fleet_spec, "instance_type", None), "tier": getattr(fleet_spec, "tier", None),
        "planned_start": getattr(placement, "start_time", None),
        "planned_end": getattr(placement, "expected_end_time", None),
        "planned_cost": getattr(placement, "estimated_cost", None),
        "actual_start": start, "actual_end": end, "runtime_seconds": runtime,
        "price_per_hour_at_launch": price, "actual_cost": round(runtime / 3600.0 * price, 8),
        "outcome": outcome, "hostname": facts.get("hostname"),
        "co2e_kg": round(runtime / 3600.0 * co2_rate, 8) if co2_rate is not None else None,
    }


def settled_facts(key: Any, session_scope: Any, reads: int = SETTLE_READS,
                  pause: float = SETTLE_PAUSE_SECONDS) -> dict[str, Any]:
    """The try's facts once Airflow has settled its state (a few re-reads at most)."""
    facts: dict[str, Any] = {}
    for i in range(max(1, reads)):
        try:
            facts = _ti_facts(key, session_scope)
        except Exception as exc:  # the metadata DB hiccupped: record what the executor saw
            log.warning("could not read task instance %s for history: %s", key, exc)
            return {}
        if facts.get("state") not in outcomes.UNSETTLED or i == reads - 1:
            break
        time.sleep(pause)
    return facts


def record_try(store: Any, planning: Any, key: Any, launch: dict[str, Any], session_scope: Any,
               fleet_specs: dict[str, Any] | None = None) -> str:
    """Write the try's row (or add this segment to the try's open row); returns the task instance's state
    as read — ``"failed"`` when the run may now have upstream_failed tasks to sweep (a task that failed
    reports success to the executor: its workload ran; the task instance's state says what the task did).
    """
    facts = settled_facts(key, session_scope, reads=1 if launch.get("outcome") else SETTLE_READS)
    rp = planning.get(key.dag_id, key.run_id) if planning is not None else None
    placement = None
    if rp is not None:
        placement = rp.placements.get(job_id_for(key.task_id, key.map_index)) or rp.placements.get(key.task_id)
    spec = (fleet_specs or {}).get(launch.get("fleet"))
    row = build_try(key, launch, facts, placement, spec)
    row.update(usage_fields(store, key, row, session_scope))  # measured usage and anomaly flags
    store.record(row)
    if not launch.get("outcome") and facts.get("state") in outcomes.UNSETTLED:
        return "failed"  # the task runner died unheard: the scheduler fails the task instance next
    return str(facts.get("state") or row["outcome"])


def build_not_run(dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int, placement: Any,
                  outcome: str = "upstream_failed") -> dict[str, Any]:
    """The history row of a task instance that never ran because an upstream task failed (pure)."""
    return {
        "dag_id": dag_id, "task_id": task_id, "run_id": run_id, "map_index": map_index,
        "try_number": max(int(try_number or 0), 1), "fleet": getattr(placement, "offer_id", None),
        "provider": getattr(placement, "provider", None), "region": getattr(placement, "region", None),
        "instance_type": getattr(placement, "instance_type", None), "tier": getattr(placement, "tier", None),
        "planned_start": getattr(placement, "start_time", None),
        "planned_end": getattr(placement, "expected_end_time", None),
        "planned_cost": getattr(placement, "estimated_cost", None),
        "actual_start": None, "actual_end": None, "runtime_seconds": 0.0, "price_per_hour_at_launch": None,
        "actual_cost": 0.0, "outcome": outcome, "hostname": None,
    }


def record_upstream_failed(writer: Any, planning: Any, dag_id: str, run_id: str, session_scope: Any) -> int:
    """One ``upstream_failed`` row per task instance of the run in that state that has none yet.

    Those task instances never reach an executor, so the executor sweeps the runs in which a task failed.
    Returns the number of rows written (or kept for retry by a resilient writer)."""
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import select

    with session_scope() as session:
        tis = session.execute(select(TaskInstance.task_id, TaskInstance.map_index, TaskInstance.try_number).where(
            TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id,
            TaskInstance.state == "upstream_failed")).all()
    if not tis:
        return 0
    store = getattr(writer, "store", writer)
    seen = {(r["task_id"], r["map_index"]) for r in store.history(dag_id, run_id=run_id, limit=100_000)
            if r["outcome"] == "upstream_failed"}
    rp = planning.get(dag_id, run_id) if planning is not None else None
    n = 0
    for task_id, map_index, try_number in tis:
        if (task_id, map_index) in seen:
            continue
        placement = None
        if rp is not None:
            placement = rp.placements.get(job_id_for(task_id, map_index)) or rp.placements.get(task_id)
        writer.record(build_not_run(dag_id, run_id, task_id, map_index, try_number, placement))
        n += 1
    return n
