"""History rows for tries that ran under a scheduler that died (SIGKILL, OOM, a lost machine).

A scheduler that dies takes its executor's memory with it: the tries it had launched on local fleets get
no history row from it. Two things happen to such a try, and both are recorded here, by the successor:

- it is still running when Airflow declares the old scheduler dead: the successor's
  ``try_adopt_task_instances`` cannot adopt a local fleet's task (its worker belonged to the dead
  scheduler), Airflow *resets* the task instance (archiving the try in ``task_instance_history`` with the
  reset as its end) and runs it again as the next try. Outcome ``reset``.
- it finishes first (a dead scheduler's busy local worker finishes its task; a Celery task ends before
  anybody adopts it): the task instance keeps the try's real end and state. Outcome: the state's.

A periodic sweep (planner thread, every :data:`SWEEP_SECONDS`) finds those tries in Airflow's own tables —
task instances and archived tries queued by a scheduler job that is no longer alive (not this one;
failed, or its heartbeat older than ``[scheduler] scheduler_health_check_threshold``), that started, ended,
and have no history row yet — and writes one for each: runtime from the try's start and end, the fleet
from the try's ``external_executor_id`` (local and Celery fleets report ``ai-scheduler/<fleet>/...``) or
else from the run's stored plan, priced at the fleet's price when the try started. A dead job none of
whose task instances is still queued or running is swept once more and then never again, so the scans of
``task_instance`` stop once a dead scheduler's tries are all recorded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_ai_scheduler.history import outcomes

log = logging.getLogger(__name__)

SWEEP_SECONDS = 30.0
#: how far back a dead scheduler's tries are looked for
LOOKBACK = timedelta(days=1)
BATCH = 1000
#: task-instance states of a try that ran and ended (or paused: an open row) under its scheduler
ENDED_STATES = ("success", "failed", "up_for_retry", "skipped", "removed", "deferred", "up_for_reschedule",
                "awaiting_input")


class OrphanRecorder:
    """Writes the rows a dead scheduler's executor owed (see the module docstring)."""

    def __init__(self, writer: Any, session_scope: Callable[[], Any], *, offers: dict[str, Any],
                 specs: dict[str, Any], job_id: Callable[[], Any], executor_names: Iterable[str],
                 default_executor: bool, health_threshold_seconds: float = 30.0) -> None:
        self.writer = writer
        self.session_scope = session_scope
        self.offers, self.specs = offers, specs
        self.job_id = job_id
        self.executor_names = sorted({n for n in executor_names if n})
        self.default_executor = default_executor
        self.health_threshold = timedelta(seconds=health_threshold_seconds)
        self.reset_ids: set[str] = set()
        self.settled_jobs: set[int] = set()  # dead jobs with no task instance left to end: swept for good
        self._last_sweep = 0.0

    @classmethod
    def for_executor(cls, executor: Any, session_scope: Callable[[], Any]) -> OrphanRecorder | None:
        writer = getattr(executor, "history_writer", None)
        if writer is None:
            return None
        from airflow.configuration import conf

        name = getattr(executor, "name", None)
        names = {getattr(name, "alias", None), getattr(name, "module_path", None), type(executor).__name__,
                 f"{type(executor).__module__}.{type(executor).__name__}"}
        try:
            from airflow.executors.executor_loader import ExecutorLoader

            default = ExecutorLoader.get_default_executor_name()
            is_default = default.module_path in names or default.alias in names
        except Exception:  # no executor config readable: assume the usual set-up (ours is the default)
            is_default = True
        return cls(writer, session_scope, offers=dict(executor.offer_map), specs=dict(executor.fleet_specs),
                   job_id=lambda: getattr(executor, "job_id", None), executor_names=names,
                   default_executor=is_default,
                   health_threshold_seconds=conf.getfloat("scheduler", "scheduler_health_check_threshold",
                                                          fallback=30.0))

    # -- scheduler thread: cheap ----------------------------------------------------------------------
    def reset(self, tis: Iterable[Any]) -> None:
        """The task instances Airflow is about to reset (not adopted): their tries are recorded ``reset``.
        Reads only ``ti.id``, which Airflow loaded."""
        self.reset_ids.update(str(ti.id) for ti in tis)

    def tick(self, submit: Callable[..., Any]) -> None:
        now = time.monotonic()
        if now - self._last_sweep >= SWEEP_SECONDS:
            self._last_sweep = now
            submit(self.sweep_safely)

    # -- planner thread -------------------------------------------------------------------------------
    def sweep_safely(self) -> int:
        try:
            return self.sweep()
        except Exception as exc:  # history is an aid: the next sweep tries again
            log.warning("could not record the tries of a dead scheduler: %s", exc)
            return 0

    def sweep(self, now: datetime | None = None) -> int:
        now = now or datetime.now(timezone.utc)
        with self.session_scope() as session:
            dead = [j for j in self._dead_jobs(session, now) if j not in self.settled_jobs]
            if not dead:
                return 0
            # read before the tries: a job with no task instance left queued or running cannot end another
            settled = set(dead) - self._unsettled(session, dead)
            tries = self._tries(session, dead, now)
            recorded = self._recorded(session, {(t["dag_id"], t["run_id"]) for t in tries}) if tries else set()
        n = 0
        for t in tries:
            if (t["dag_id"], t["task_id"], t["run_id"], t["map_index"], t["try_number"]) in recorded:
                continue
            self.writer.record(self.row(t))
            n += 1
        if n:
            log.info("recorded %d tries of task instances whose scheduler died", n)
        self.settled_jobs |= settled  # their tries are all recorded: no need to scan for them again
        return n

    def _unsettled(self, session: Any, dead: list[int]) -> set[int]:
        from airflow.models.taskinstance import TaskInstance as TI
        from sqlalchemy import select

        q = select(TI.queued_by_job_id).where(TI.queued_by_job_id.in_(dead),
                                              TI.state.in_(("queued", "running", "restarting"))).distinct()
        return {int(j) for j in session.scalars(q)}

    def _dead_jobs(self, session: Any, now: datetime) -> list[int]:
        from airflow.jobs.job import Job
        from sqlalchemy import or_, select

        mine = self.job_id()
        q = select(Job.id).where(Job.job_type == "SchedulerJob", Job.latest_heartbeat >= now - LOOKBACK,
                                 or_(Job.state != "running", Job.latest_heartbeat < now - self.health_threshold))
        if mine is not None:
            q = q.where(Job.id != mine)
        return [int(i) for i in session.scalars(q)]

    def _tries(self, session: Any, dead: list[int], now: datetime) -> list[dict[str, Any]]:
        from airflow.models.taskinstance import TaskInstance as TI
        from airflow.models.taskinstancehistory import TaskInstanceHistory as TIH
        from sqlalchemy import or_, select

        out: list[dict[str, Any]] = []
        for model, id_col, states in ((TI, TI.id, ENDED_STATES), (TIH, TIH.task_instance_id, None)):
            cols = (model.dag_id, model.task_id, model.run_id, model.map_index, model.try_number, model.state,
                    model.start_date, model.end_date, model.hostname, model.external_executor_id, id_col)
            q = select(*cols).where(model.queued_by_job_id.in_(dead), model.start_date.is_not(None),
                                    model.end_date.is_not(None), model.end_date >= now - LOOKBACK)
            if states is not None:
                q = q.where(model.state.in_(states))
            mine = [model.executor.in_(self.executor_names)] if self.executor_names else []
            if self.default_executor:
                mine.append(model.executor.is_(None))
            if mine:
                q = q.where(or_(*mine))
            # newest first: a dead scheduler's last tries are the ones it could not record
            for r in session.execute(q.order_by(model.end_date.desc()).limit(BATCH)):
                state = r[5].value if hasattr(r[5], "value") else r[5]
                out.append({"dag_id": r[0], "task_id": r[1], "run_id": r[2], "map_index": r[3],
                            "try_number": r[4], "state": state, "start": r[6], "end": r[7], "hostname": r[8],
                            "external_executor_id": r[9], "ti_id": str(r[10]), "archived": model is TIH})
        return out

    def _recorded(self, session: Any, runs: set[tuple[str, str]]) -> set[tuple[str, str, str, int, int]]:
        from sqlalchemy import select

        from airflow_ai_scheduler.history.tables import task_history as h

        seen: set[tuple[str, str, str, int, int]] = set()
        for dag_id, run_id in runs:
            for r in session.execute(select(h.c.dag_id, h.c.task_id, h.c.run_id, h.c.map_index, h.c.try_number)
                                     .where(h.c.dag_id == dag_id, h.c.run_id == run_id)):
                seen.add(tuple(r))  # type: ignore[arg-type]
        return seen

    def row(self, t: dict[str, Any]) -> dict[str, Any]:
        """The history row of one such try (pure, given the recorder's fleets)."""
        from airflow_ai_scheduler.fleets.base import fleet_of

        fleet = fleet_of(t.get("external_executor_id"))
        if fleet not in self.specs:
            fleet = self._planned_fleet(t)
        spec, offer = self.specs.get(fleet), self.offers.get(fleet)
        start, end = t["start"], t["end"]
        runtime = max(0.0, (end - start).total_seconds())
        price = float(offer.price_at(start)) if offer is not None else 0.0
        # an archived try of a reset task instance says "failed" (Airflow archives unfinished tries so)
        reset = t["archived"] and t["ti_id"] in self.reset_ids
        outcome = outcomes.RESET if reset else outcomes.for_state(t["state"])
        return {
            "dag_id": t["dag_id"], "task_id": t["task_id"], "run_id": t["run_id"], "map_index": t["map_index"],
            "try_number": t["try_number"], "fleet": fleet,
            "provider": getattr(spec, "provider", None), "region": getattr(spec, "region", None),
            "instance_type": getattr(spec, "instance_type", None), "tier": getattr(spec, "tier", None),
            "planned_start": None, "planned_end": None, "planned_cost": None,
            "actual_start": start, "actual_end": end, "runtime_seconds": runtime,
            "price_per_hour_at_launch": price, "actual_cost": round(runtime / 3600.0 * price, 8),
            "outcome": outcome, "hostname": t.get("hostname"),
        }

    def _planned_fleet(self, t: dict[str, Any]) -> str | None:
        store = getattr(self.writer, "store", None)
        if store is None:
            return None
        try:
            stored = store.latest_plan(t["dag_id"], t["run_id"])
        except Exception:  # no plan to be had: the row says the fleet is unknown
            return None
        if stored is None:
            return None
        from airflow_ai_scheduler.airflow.manifest import job_id_for

        placements = stored.plan.placement_map
        p = placements.get(job_id_for(t["task_id"], t["map_index"])) or placements.get(t["task_id"])
        return p.offer_id if p is not None else None
