"""The executor's database chores, on a thread of their own — never on the scheduler loop, never behind a
planner.

Keeping held task instances' ``queued_dttm`` fresh (so Airflow does not fail a deliberate wait as stuck in
queued), putting a preempted task back to QUEUED, storing a backend's external id, history rows, audit
events, the upstream-failed sweep, rebuilding an adopted task's workload: each is short, and each would be
harmful if it waited behind a 60 s solve or an LLM call, so they get their own single-thread pool
(planning has its own pools: :mod:`.planning_service`). Every session here is a new, non-scoped one —
never the scheduler loop's scoped session. Errors are logged, never raised into the scheduler.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

log = logging.getLogger(__name__)
#: how long after a task failed its run is swept for upstream_failed task instances
UPSTREAM_FAILED_SWEEP_SECONDS = 900.0


def session_scope() -> Any:
    """A new session of its own (commit on exit): never the scheduler loop's scoped one."""
    from airflow.utils.session import create_session

    return create_session(scoped=False)


class Bookkeeper:
    def __init__(self, history_writer: Any = None, planning: Any = None, fleet_specs: dict[str, Any] | None = None,
                 scope: Callable[[], Any] = session_scope) -> None:
        self.writer = history_writer
        self.planning = planning
        self.fleet_specs = fleet_specs or {}
        self.scope = scope
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ai-scheduler-bookkeeping")
        # scans that may take a while on a big metadata database (a dead scheduler's tries, upstream_failed
        # sweeps, finished runs) run on a thread of their own: they never delay a refresh or a requeue
        self._sweeps = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ai-scheduler-sweeps")
        self._lock = threading.Lock()
        self._failed_runs: dict[tuple[str, str], float] = {}  # runs with a failed task (under _lock)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        return self._pool.submit(fn, *args)

    def sweep(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Run a (possibly long) scan on the sweeps thread."""
        return self._sweeps.submit(fn, *args)

    def drain(self, timeout: float | None = None) -> None:
        self._pool.submit(lambda: None).result(timeout=timeout)
        self._sweeps.submit(lambda: None).result(timeout=timeout)

    def shutdown(self, wait: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
        self._sweeps.shutdown(wait=wait, cancel_futures=not wait)

    # -- what the executor asks for ---------------------------------------------------------------------
    def touch_queued(self, ti_ids: list[Any]) -> Future:
        return self.submit(self._guard, "refresh queued_dttm", touch_queued, self.scope, ti_ids)

    def requeue(self, workload: Any, key: Any, jwt: Any) -> Future:
        """Future[(workload, requeued)]: a preempted task instance back to QUEUED so its relaunch may start
        (False: it was no longer running); an adopted task's workload (None) is rebuilt from its TI first."""

        def chore() -> tuple[Any, bool]:
            w = workload if workload is not None else rebuild_workload(self.scope, key, jwt)
            return (w, requeue_ti(self.scope, w.ti.id)) if w is not None else (None, False)

        return self.submit(chore)

    def event(self, key: Any, event: str, extra: str) -> Future:
        return self.submit(self._guard, f"write the {event} event", write_event, self.scope, key, event, extra[:4000])

    def record_try(self, key: Any, launch: dict[str, Any]) -> Future:
        """The try's history row; a task instance that ended failed gets its run swept for upstream_failed
        task instances (they never reach an executor) for a while (:meth:`periodic`)."""
        return self.submit(self._record_try, key, launch)

    def periodic(self) -> Future:
        """History rows kept while the database was down, and the upstream-failed sweeps (sweeps thread)."""
        return self.sweep(self._periodic)

    def forget(self, runs: list[tuple[str, str]]) -> None:
        with self._lock:
            for run in runs:
                self._failed_runs.pop(run, None)

    # -- on the bookkeeping thread ------------------------------------------------------------------------
    @staticmethod
    def _guard(what: str, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as exc:  # a chore that failed is retried by its caller's next round
            log.warning("could not %s: %s", what, exc)
            return None

    def _record_try(self, key: Any, launch: dict[str, Any]) -> None:
        from airflow_ai_scheduler.airflow.recording import record_try

        if self.writer is None:
            return
        try:
            outcome = record_try(self.writer, self.planning, key, launch, self.scope, self.fleet_specs)
        except Exception as exc:  # history is an aid: a task is never stopped by it
            log.warning("could not record the try of %s: %s", key, exc)
            return
        if outcome == "failed":
            with self._lock:
                self._failed_runs[(key.dag_id, key.run_id)] = time.monotonic()

    def _periodic(self) -> None:
        from airflow_ai_scheduler.airflow.recording import record_upstream_failed

        if self.writer is None:
            return
        if self.writer.pending:
            self.writer.flush()
        now = time.monotonic()
        with self._lock:
            runs = list(self._failed_runs.items())
        for run, since in runs:
            try:
                record_upstream_failed(self.writer, self.planning, *run, self.scope)
            except Exception as exc:  # the next sweep tries again
                log.warning("could not record upstream_failed tasks of %s/%s: %s", *run, exc)
            if now - since > UPSTREAM_FAILED_SWEEP_SECONDS:
                with self._lock:
                    self._failed_runs.pop(run, None)


# -- the chores themselves (module functions: each takes its session scope) --------------------------------

def touch_queued(scope: Callable[[], Any], ti_ids: list[Any]) -> None:
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import update

    with scope() as session:
        session.execute(update(TaskInstance).where(TaskInstance.id.in_(ti_ids), TaskInstance.state == "queued")
                        .values(queued_dttm=datetime.now(timezone.utc)).execution_options(synchronize_session=False))


def requeue_ti(scope: Callable[[], Any], ti_id: Any) -> bool:
    """Put a preempted task instance back to QUEUED so the Execution API lets its relaunch start; False
    when it was no longer running (it finished before its capacity was lost: nothing to relaunch)."""
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import update

    with scope() as session:
        done = session.execute(update(TaskInstance).where(TaskInstance.id == ti_id, TaskInstance.state == "running")
                               .values(state="queued", queued_dttm=datetime.now(timezone.utc), pid=None)
                               .execution_options(synchronize_session=False))
        return bool(done.rowcount)


def rebuild_workload(scope: Callable[[], Any], key: Any, generator: Any) -> Any:
    """The ExecuteTask workload of a task instance, built as the scheduler builds it (for a task adopted from
    a dead scheduler, whose workloads died with it); None when the TI is gone."""
    from airflow.executors import workloads
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import select

    with scope() as session:
        ti = session.scalar(select(TaskInstance).where(
            TaskInstance.dag_id == key.dag_id, TaskInstance.task_id == key.task_id,
            TaskInstance.run_id == key.run_id, TaskInstance.map_index == key.map_index))
        return None if ti is None else workloads.ExecuteTask.make(ti, generator=generator)


def store_external_id(workload: Any, external_id: str) -> None:
    """(a fleet's thread, before it hands the workload to something that outlives the scheduler) the TI's
    ``external_executor_id``, so a scheduler that dies right after leaves a task its successor adopts
    rather than one it resets and runs twice."""
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import update

    with session_scope() as session:
        session.execute(update(TaskInstance).where(TaskInstance.id == workload.ti.id)
                        .values(external_executor_id=external_id).execution_options(synchronize_session=False))


def write_event(scope: Callable[[], Any], key: Any, event: str, extra: str) -> None:
    """A row in Airflow's audit log (the task's Event Log in the UI).

    Not ``BaseExecutor.log_task_event``: Airflow 3.3.2's scheduler saves those with ``bulk_save_objects``
    over a generator that pops them off the executor's deque, so nothing holds the ``Log`` objects any more,
    their states lose their (weakly referenced) values, the insert is ``INSERT INTO log DEFAULT VALUES``, it
    fails on ``log.event NOT NULL`` and the events are lost."""
    from airflow.models.log import Log

    with scope() as session:
        session.add(Log(event=event, task_instance=key, extra=extra))


def finished_runs(scope: Callable[[], Any], runs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Which of ``runs`` are over (success/failed) or gone: their per-run state can be dropped."""
    from airflow.models.dagrun import DagRun
    from sqlalchemy import select, tuple_

    if not runs:
        return []
    with scope() as session:
        rows = session.execute(select(DagRun.dag_id, DagRun.run_id, DagRun.state)
                               .where(tuple_(DagRun.dag_id, DagRun.run_id).in_(runs))).all()
    live = {(d, r) for d, r, state in rows if str(getattr(state, "value", state)) not in ("success", "failed")}
    return [run for run in runs if run not in live]
