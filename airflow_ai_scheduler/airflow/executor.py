"""``AiSchedulerExecutor``: routes each task instance to the fleet its run's plan names, at the planned time.

Set it in airflow.cfg::

    [core]
    executor = airflow_ai_scheduler.airflow.executor.AiSchedulerExecutor

How a queued task instance moves (all in the scheduler loop, all cheap):

1. ``queue_workload`` — Airflow hands over the workload; the run's planning is requested (background
   thread, :mod:`.planning_service`), never awaited here.
2. ``order_queued_tasks_by_priority`` — only *due* workloads are offered to the slots: the run has a plan
   (or ``plan_wait_seconds`` passed and the greedy plan is used), the placement's start time has come,
   and its fleet has a free slot. Others stay queued in the executor.
3. ``_process_workloads`` — the workload goes to its fleet; the JWT is re-minted if it was held long
   enough for the scheduler-minted one (valid ``task_queued_timeout``) to be at risk.
4. ``sync`` — fleets report finished workloads; a history row is written off the loop; held task
   instances get their ``queued_dttm`` refreshed so ``task_queued_timeout`` does not fail a planned wait.

Capacity and throughput: a fleet's ``slots`` cap what runs on it. Launched workloads are not counted in
``self.running`` (LocalExecutor does not count them either), so ``[core] parallelism`` bounds what the
scheduler hands the executor per loop and what waits in it, as it does for LocalExecutor. Each heartbeat
polls the fleets *before* handing out workloads, so a slot freed since the last loop is refilled in this
one; and a local fleet holds up to ``prefetch`` routed workloads and hands the next one to a worker the
moment a task ends (with a fresh token), as LocalExecutor's shared queue does.

History: one row per finished try (and per preempted attempt); task instances that never ran because an
upstream task failed get an ``upstream_failed`` row from a sweep of the runs in which a task failed.
"""

from __future__ import annotations

import logging
import time
from contextlib import suppress
from datetime import datetime, timezone
from typing import Any

from airflow.executors.base_executor import BaseExecutor

from airflow_ai_scheduler.airflow.manifest import job_id_for
from airflow_ai_scheduler.config import CONFIG_DEFAULTS, SECTION

log = logging.getLogger(__name__)
#: how long after a task failed its run is swept for upstream_failed task instances
UPSTREAM_FAILED_SWEEP_SECONDS = 900.0


class AiSchedulerExecutor(BaseExecutor):
    is_local: bool = True
    serve_logs: bool = True
    supports_callbacks: bool = True
    supports_connection_test: bool = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fleets: dict[str, Any] = {}
        self._jwt: Any = None
        self.offers: list[Any] = []
        self.planning: Any = None
        self.history: Any = None
        self._first_seen: dict[Any, float] = {}
        self._launched: dict[Any, dict[str, Any]] = {}
        self._routes: dict[Any, str] = {}
        self.offer_map: dict[str, Any] = {}
        self._last_refresh = 0.0
        self._failed_runs: dict[tuple[str, str], float] = {}  # runs with a failed task: sweep upstream_failed
        self._operator_runs: set[tuple[str, str]] = set()  # runs planned by a PlanPlacementOperator
        self._workloads: dict[Any, Any] = {}  # running task workloads, kept for relaunch after preemption
        self.preemption: Any = None
        self.orphans: Any = None  # records the tries of a dead scheduler (airflow.orphans)

    # -- configuration ------------------------------------------------------------------------------
    def _opt(self, key: str) -> str:
        from airflow.configuration import conf

        return conf.get(SECTION, key, fallback=CONFIG_DEFAULTS[key])

    def _float(self, key: str) -> float:
        from airflow_ai_scheduler.exceptions import ConfigError

        raw = self._opt(key)
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"[{SECTION}] {key} must be a number, got {raw!r}") from None

    def start(self) -> None:
        from airflow.configuration import conf
        from airflow.executors.base_executor import get_execution_api_server_url

        from airflow_ai_scheduler.airflow.planning_service import PlanningService, PlanningSettings
        from airflow_ai_scheduler.fleets.base import fleet_offers, load_fleets, make_backend
        from airflow_ai_scheduler.models import Weights

        specs = load_fleets(self._opt("fleets"), self._opt("fleets_file"))
        catalog = None
        if self._opt("catalog_path"):
            from airflow_ai_scheduler.catalog import load_catalog

            catalog = load_catalog(self._opt("catalog_path"))
        self.offers = fleet_offers(specs, catalog)
        self.fleet_specs = {s.name: s for s in specs}
        self.offer_map = {o.offer_id: o for o in self.offers}
        server = get_execution_api_server_url(self.conf)
        self.fleets = {s.name: make_backend(s, server=server) for s in specs}
        try:
            self._jwt = self.jwt_generator  # built once: fleets re-mint tokens from their own threads
        except Exception as exc:  # no signing key configured: workloads keep the scheduler's token
            self.log.warning("cannot mint fresh workload tokens: %s", exc)
            self._jwt = None
        for fleet in self.fleets.values():
            if hasattr(fleet, "mint"):
                fleet.mint = self._mint
            if hasattr(fleet, "record_id"):
                fleet.record_id = _store_external_id
            fleet.start()

        self.default_fleet = next((s.name for s in specs if s.tier == "on-demand"), specs[0].name)
        self.plan_wait = self._float("plan_wait_seconds")
        self.max_hold = self._float("max_hold_seconds")
        self.queued_timeout = conf.getfloat("scheduler", "task_queued_timeout", fallback=600.0)
        settings = PlanningSettings(
            planner=self._opt("planner"), time_limit_seconds=self._float("planner_time_limit_seconds"),
            default_duration_hours=self._float("default_duration_hours"),
            lookback_runs=int(self._float("history_lookback_runs")),
            weights=Weights(cost=self._float("cost_weight"), tardiness=self._float("tardiness_weight"),
                            risk=self._float("risk_weight")),
            llm_conn_id=self._opt("llm_conn_id") or None, llm_model=self._opt("llm_model") or None,
            llm_timeout_seconds=self._float("llm_timeout_seconds"),
            approval_timeout_minutes=self._float("approval_timeout_minutes") if self._opt("approval_timeout_minutes")
            else None,
            approval_on_timeout=self._opt("approval_on_timeout"),
        )
        self.history = self._make_history_store()
        self.history_writer: Any = None
        if self.history is not None:
            from airflow_ai_scheduler.history.store import ResilientHistoryWriter

            self.history_writer = ResilientHistoryWriter(self.history)
            from airflow_ai_scheduler.airflow.orphans import OrphanRecorder

            self.orphans = OrphanRecorder.for_executor(self, _session_scope)
        self.planning = PlanningService(self.offers, settings, session_scope=_session_scope, store=self.history)
        from airflow_ai_scheduler.airflow.preemption import PreemptionHandler
        from airflow_ai_scheduler.recovery import get_policy

        self.preemption = PreemptionHandler(self, get_policy(self._opt("spot_policy")),
                                            int(self._float("preemption_retries")))
        self.log.info("AiSchedulerExecutor started: fleets %s, planner %s",
                      ", ".join(f"{s.name}({s.tier}, {s.slots} slots)" for s in specs), settings.planner)

    def _make_history_store(self) -> Any:
        try:
            from airflow_ai_scheduler.history.store import HistoryStore

            return HistoryStore(_session_scope)
        except Exception as exc:  # history is an aid, never a requirement
            self.log.warning("history store unavailable: %s", exc)
            return None

    # -- the scheduler's calls ----------------------------------------------------------------------
    def heartbeat(self) -> None:
        self._poll_fleets()  # free the slots of tasks finished since the last loop before filling them
        super().heartbeat()

    def queue_workload(self, workload: Any, session: Any) -> None:
        super().queue_workload(workload, session)
        ti = getattr(workload, "ti", None)
        if ti is not None and hasattr(ti, "run_id"):
            self._first_seen.setdefault(workload.key, time.monotonic())
            if _is_planner_task(ti):
                self._operator_runs.add((ti.dag_id, ti.run_id))
            if self.planning is not None:
                self.planning.request(ti.dag_id, ti.run_id)

    def order_queued_tasks_by_priority(self) -> list[tuple[Any, Any]]:
        ordered = super().order_queued_tasks_by_priority()
        if self.planning is None:
            return ordered
        now_mono, now = time.monotonic(), datetime.now(timezone.utc)
        free = {name: f.free_slots() for name, f in self.fleets.items()}
        due = []
        for key, workload in ordered:
            fleet = self._decide(key, workload, now_mono, now)
            if fleet is None or free.get(fleet, 0) <= 0:
                continue
            free[fleet] -= 1
            self._routes[key] = fleet
            due.append((key, workload))
        return due

    def _decide(self, key: Any, workload: Any, now_mono: float, now: datetime) -> str | None:
        """The fleet for this workload if it is due now, else None (hold it)."""
        ti = workload.ti
        waited = now_mono - self._first_seen.setdefault(key, now_mono)
        rp = self.planning.get(ti.dag_id, ti.run_id)
        if (ti.dag_id, ti.run_id) in self._operator_runs and not _is_planner_task(ti) and (
                rp is None or rp.source != "operator") and waited < max(self.plan_wait, 60.0):
            return None  # the run's PlanPlacementOperator plan is being loaded
        if rp is None and self.planning.failed(ti.dag_id, ti.run_id):
            return self.default_fleet
        if rp is None or (not rp.final and waited < self.plan_wait):
            return self.default_fleet if waited >= max(self.plan_wait, 60.0) else None
        placement = rp.placements.get(job_id_for(ti.task_id, ti.map_index)) or rp.placements.get(ti.task_id)
        if placement is None:
            # a mapped task expanded after planning, or a cleared task: re-plan, run safely meanwhile
            self.planning.request(ti.dag_id, ti.run_id, replan=True)
            return self.default_fleet
        if self._waiting_for_window(placement, now) and waited < self.max_hold:
            return None
        return placement.offer_id if placement.offer_id in self.fleets else self.default_fleet

    def _waiting_for_window(self, placement: Any, now: datetime) -> bool:
        """Hold only a deliberate wait for a cheaper price window: a start planned after its dependencies
        because of their estimated runtimes is released as soon as the scheduler queues the task."""
        offer = self.offer_map.get(placement.offer_id)
        if offer is None or not offer.price_schedule or placement.start_time <= now:
            return False
        return offer.price_at(now) > offer.price_at(placement.start_time) + 1e-12

    def _mint(self, workload: Any) -> Any:
        """The workload with a fresh token (its first one lives task_queued_timeout from queueing)."""
        if self._jwt is None or not hasattr(workload, "ti") or not workload.token:
            return workload
        return workload.model_copy(update={"token": type(workload).generate_token(str(workload.ti.id), self._jwt)})

    def _price_now(self, fleet: str) -> float:
        offer = self.offer_map.get(fleet)
        return offer.price_at(datetime.now(timezone.utc)) if offer else 0.0

    def _process_workloads(self, workloads: Any) -> None:
        for workload in workloads:
            key = workload.key
            removed = (self.queued_tasks.pop(key, None) or self.queued_callbacks.pop(key, None)
                       or self.queued_connection_tests.pop(key, None))
            if removed is None:
                raise KeyError(f"Workload {key} was not found in any queue")
            fleet_name = self._routes.pop(key, None) or self.default_fleet
            held = time.monotonic() - self._first_seen.pop(key, time.monotonic())
            if held > 0.5 * self.queued_timeout:
                # the scheduler's token expires task_queued_timeout after queueing: give a fresh one
                workload = self._mint(workload)
            # not added to self.running, as LocalExecutor does not: the fleets' slots cap what runs, and
            # [core] parallelism bounds what the scheduler hands us per loop, not what runs
            self._launch(key, workload, fleet_name)
            self.log.info("routed %s to fleet %s (held %.1f s)", key, fleet_name, held)

    def _launch(self, key: Any, workload: Any, fleet_name: str) -> None:
        self._launched[key] = {"fleet": fleet_name, "start": datetime.now(timezone.utc),
                               "price": self._price_now(fleet_name),
                               "planner_task": _is_planner_task(getattr(workload, "ti", None))}
        if hasattr(workload, "ti"):
            self._workloads[key] = workload
        self.fleets[fleet_name].submit(workload)

    def try_adopt_task_instances(self, tis: Any) -> Any:
        """Adopt a dead scheduler's tasks that still run somewhere: those it sent to a Celery fleet (the
        TI's ``external_executor_id`` names the fleet, :func:`~..fleets.celery.task_id_for`). A local fleet's
        tasks died with their scheduler's worker processes: those are returned, and Airflow resets them.
        An adopted task is tracked and costed like any other, from its TI's start. Its workload (needed to
        relaunch it after a preemption) died with the old scheduler: if it is preempted, the workload is
        rebuilt then from its TI in a session of its own (:func:`_rebuild_workload`), so nothing here touches
        the scheduler's session beyond what Airflow loaded; if the rebuild fails, the preemption goes to
        Airflow's own retries."""
        from airflow_ai_scheduler.fleets.celery import fleet_of

        not_adopted = []
        for ti in tis:
            name = fleet_of(getattr(ti, "external_executor_id", None))
            fleet = self.fleets.get(name) if name else None
            if fleet is None or not hasattr(fleet, "adopt"):
                not_adopted.append(ti)
                continue
            key = ti.key
            fleet.adopt(key, ti.external_executor_id)
            self._launched[key] = {"fleet": name, "start": ti.start_date or datetime.now(timezone.utc),
                                   "price": self._price_now(name), "planner_task": _is_planner_task(ti),
                                   "adopted": True}
            self.log.info("adopted %s on fleet %s (Celery task %s)", key, name, ti.external_executor_id)
        if self.orphans is not None:  # Airflow resets these: their tries get a 'reset' history row
            self.orphans.reset(not_adopted)
        return not_adopted

    def record_event(self, key: Any, event: str, extra: str) -> None:
        """A row in Airflow's audit log (the task's Event Log in the UI), written on the planner thread.

        Not ``BaseExecutor.log_task_event``: Airflow 3.3.2's scheduler saves those with
        ``bulk_save_objects`` over a generator that pops them off the executor's deque, so nothing holds the
        ``Log`` objects any more, their states lose their (weakly referenced) values, the insert is
        ``INSERT INTO log DEFAULT VALUES``, it fails on ``log.event NOT NULL`` and the events are lost."""
        self.planning.submit(_write_event, key, event, extra[:4000])

    def revoke_task(self, *, ti: Any) -> None:
        """Airflow's answer to a task stuck in QUEUED past ``[scheduler] task_queued_timeout`` (it then puts
        the TI back to SCHEDULED, or fails it after ``num_stuck_in_queued_retries``): forget the task and take
        it back from its fleet. Tasks held on purpose — for their plan or planned start, in a fleet's prefetch
        buffer, or for a relaunch after a preemption — have their ``queued_dttm`` refreshed and never get
        here; what does is a task that never started, e.g. a Celery message no worker consumes. As the
        BaseExecutor contract asks: no state change, no event, never raises."""
        key = ti.key
        try:
            self.queued_tasks.pop(key, None)
            self._routes.pop(key, None)
            self._first_seen.pop(key, None)
            self._workloads.pop(key, None)
            if self.preemption is not None:
                self.preemption.pending.pop(key, None)
            launch = self._launched.pop(key, None)
            fleet = self.fleets.get(launch["fleet"]) if launch else None
            if fleet is not None and hasattr(fleet, "revoke"):
                fleet.revoke(key)
            self.log.warning("%s was queued longer than task_queued_timeout%s: revoked", key,
                             f" on fleet {launch['fleet']}" if launch else "")
        except Exception:
            self.log.exception("AiSchedulerExecutor: revoking %s failed; continuing", key)

    def _poll_fleets(self) -> None:
        try:
            from airflow_ai_scheduler.fleets.local import PREEMPTED

            for name, fleet in self.fleets.items():
                for key, state, info in fleet.poll():
                    if state == PREEMPTED:
                        self._preempted(key, info)
                        continue
                    if str(state) in ("queued", "running"):  # info: the backend's id, kept by Airflow
                        self.change_state(key, state, info, remove_running=False)
                        continue
                    self.change_state(key, state, info)
                    self._workloads.pop(key, None)
                    self._finished(key, name)
        except Exception:  # an exception here would kill the scheduler
            self.log.exception("AiSchedulerExecutor: polling the fleets failed; continuing")

    def sync(self) -> None:
        self._poll_fleets()
        try:
            if self.preemption is not None:
                for key, workload, fleet in self.preemption.relaunch_due():
                    self._launch(key, self._mint(workload), fleet)
            self._refresh_held()
        except Exception:  # an exception here would kill the scheduler
            self.log.exception("AiSchedulerExecutor.sync failed; continuing")

    def _preempted(self, key: Any, info: Any) -> None:
        launch = self._launched.pop(key, None) or {"start": datetime.now(timezone.utc), "fleet": None}
        if self.history is not None and launch.get("fleet"):
            launch = {**launch, "end": datetime.now(timezone.utc), "outcome": "preempted"}
            self.planning.submit(_record_try, self.history_writer, self.planning, key, launch, self.fleet_specs)
        workload = self._workloads.get(key)
        if workload is None and launch.get("adopted"):
            try:  # one query, only when an adopted task loses its capacity
                workload = self._workloads[key] = _rebuild_workload(key, self._jwt)
            except Exception as exc:
                self.log.warning("workload of adopted task %s could not be rebuilt (%s): its preemption goes to "
                                 "Airflow's own retries", key, exc)
        self.preemption.on_preempted(key, launch, workload, info)

    def _finished(self, key: Any, fleet: str) -> None:
        launch = self._launched.pop(key, None)
        if launch is None or not hasattr(key, "task_id"):
            return
        if launch.get("planner_task"):
            self.planning.adopt_operator_plan(key.dag_id, key.run_id)
        if self.history is None:
            return
        launch["end"] = datetime.now(timezone.utc)
        self.planning.submit(self._record_finished, key, launch)

    def _record_finished(self, key: Any, launch: dict[str, Any]) -> None:
        """(planner thread) The try's history row; a failed task's run is then swept for upstream_failed."""
        if _record_try(self.history_writer, self.planning, key, launch, self.fleet_specs) == "failed":
            self._failed_runs[(key.dag_id, key.run_id)] = time.monotonic()

    def _refresh_held(self) -> None:
        """Keep held task instances from being failed as 'stuck in queued' while they wait on purpose."""
        now = time.monotonic()
        if now - self._last_refresh < max(5.0, self.queued_timeout / 4):
            return
        self._last_refresh = now
        old = [w.ti.id for k, w in self.queued_tasks.items()
               if now - self._first_seen.get(k, now) > self.queued_timeout / 4]
        for fleet in self.fleets.values():  # and those a fleet holds for its next free worker
            old += [w.ti.id for w, since in getattr(fleet, "waiting", list)()
                    if hasattr(w, "ti") and now - since > self.queued_timeout / 4]
        if self.preemption is not None:  # and those waiting for a relaunch (the policy may wait for spot)
            old += [r.workload.ti.id for r in list(self.preemption.pending.values())
                    if hasattr(r.workload, "ti") and now - r.since > self.queued_timeout / 4]
        if old:
            self.planning.submit(_touch_queued, old)
        if self.orphans is not None:
            self.orphans.tick(self.planning.submit)
        if self.history_writer is not None and self.history_writer.pending:
            self.planning.submit(self.history_writer.flush)  # rows kept while the database was down
        for run, since in list(self._failed_runs.items()):
            if self.history_writer is not None:
                self.planning.submit(_record_upstream_failed, self.history_writer, self.planning, *run)
            if now - since > UPSTREAM_FAILED_SWEEP_SECONDS:
                del self._failed_runs[run]

    def end(self) -> None:
        for fleet in self.fleets.values():
            with suppress(Exception):
                fleet.end()
        self.sync()
        if self.planning is not None:
            self.planning.shutdown()

    def terminate(self) -> None:
        for fleet in self.fleets.values():
            with suppress(Exception):
                fleet.terminate()
        if self.planning is not None:
            self.planning.shutdown()


# -- background work (planner thread) ---------------------------------------------------------------

def _is_planner_task(ti: Any) -> bool:
    from airflow_ai_scheduler.airflow.operator import PLANNER_MARKER

    return bool(ti is not None and (getattr(ti, "executor_config", None) or {}).get(PLANNER_MARKER))


def _session_scope() -> Any:
    from airflow.utils.session import create_session

    return create_session()


def _touch_queued(ti_ids: list[Any]) -> None:
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import update

    with _session_scope() as session:
        session.execute(update(TaskInstance).where(TaskInstance.id.in_(ti_ids), TaskInstance.state == "queued")
                        .values(queued_dttm=datetime.now(timezone.utc)).execution_options(synchronize_session=False))


def _rebuild_workload(key: Any, generator: Any) -> Any:
    """The ExecuteTask workload of a task instance, built as the scheduler builds it (for a task adopted from
    a dead scheduler, whose workloads died with it); None when the TI is gone."""
    from airflow.executors import workloads
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import select

    with _session_scope() as session:
        ti = session.scalar(select(TaskInstance).where(
            TaskInstance.dag_id == key.dag_id, TaskInstance.task_id == key.task_id,
            TaskInstance.run_id == key.run_id, TaskInstance.map_index == key.map_index))
        return None if ti is None else workloads.ExecuteTask.make(ti, generator=generator)


def _store_external_id(workload: Any, task_id: str) -> None:
    """(a fleet's thread, before it publishes) The TI's ``external_executor_id``, so that a scheduler that
    dies right after the publish leaves a task its successor adopts rather than one it resets and runs twice."""
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import update

    with _session_scope() as session:
        session.execute(update(TaskInstance).where(TaskInstance.id == workload.ti.id)
                        .values(external_executor_id=task_id).execution_options(synchronize_session=False))


def _write_event(key: Any, event: str, extra: str) -> None:
    from airflow.models.log import Log

    try:
        with _session_scope() as session:
            session.add(Log(event=event, task_instance=key, extra=extra))
    except Exception as exc:  # an audit row is an aid: never stop the planner thread over it
        log.warning("could not write the %s event of %s: %s", event, key, exc)


def _requeue_ti(ti_id: Any) -> bool:
    """Put a preempted task instance back to QUEUED so the Execution API lets its relaunch start; False
    when it was no longer running (it finished before its capacity was lost: nothing to relaunch)."""
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import update

    with _session_scope() as session:
        done = session.execute(update(TaskInstance).where(TaskInstance.id == ti_id, TaskInstance.state == "running")
                               .values(state="queued", queued_dttm=datetime.now(timezone.utc), pid=None)
                               .execution_options(synchronize_session=False))
        return bool(done.rowcount)


def _record_upstream_failed(writer: Any, planning: Any, dag_id: str, run_id: str) -> None:
    from airflow_ai_scheduler.airflow.recording import record_upstream_failed

    try:
        record_upstream_failed(writer, planning, dag_id, run_id, _session_scope)
    except Exception as exc:  # history is an aid: the next sweep tries again
        log.warning("could not record upstream_failed tasks of %s/%s: %s", dag_id, run_id, exc)


def _record_try(store: Any, planning: Any, key: Any, launch: dict[str, Any], specs: dict[str, Any]) -> str:
    from airflow_ai_scheduler.airflow.recording import record_try

    return record_try(store, planning, key, launch, _session_scope, specs)
