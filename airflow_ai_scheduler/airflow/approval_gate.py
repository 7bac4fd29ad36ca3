"""The plan approval gate at dispatch: a run whose DAG asks for approval (``ai_scheduler_require_approval``)
starts no task until a person approves its plan (UI / API, :mod:`airflow_ai_scheduler.history.approval`).

Pending: the task waits in QUEUED with the reason (kept fresh, so Airflow does not fail it as stuck).
Rejected — by a person, or by the request's timeout policy — : the task fails with the reason, and its
dependents do not run. Approved, or no approval asked: nothing to hold — except when the person approved
an edited plan (a what-if, stored as the run's plan): the task waits until the executor has loaded it
(``reload_plan``, set by the executor), so that it goes where the approved plan says.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from airflow_ai_scheduler.airflow.gates import Gate, GateInput, Verdict

log = logging.getLogger(__name__)


class ApprovalGate(Gate):
    name = "plan approval"

    def __init__(self, settings: Any = None, store: Any = None) -> None:
        super().__init__(settings)
        self._store = store
        self._status: dict[tuple[str, str], Any] = {}
        self._wanted: set[tuple[str, str]] = set()
        self._reload: set[tuple[str, str]] = set()
        #: (dag_id, run_id) → load the run's stored plan (the executor sets it to its planning service's)
        self.reload_plan: Any = None
        self._lock = threading.Lock()

    def store(self) -> Any:
        if self._store is None:
            from airflow_ai_scheduler.airflow.bookkeeping import session_scope
            from airflow_ai_scheduler.history.store import HistoryStore

            self._store = HistoryStore(session_scope)
        return self._store

    def refresh(self, runs: set[tuple[str, str]]) -> None:
        with self._lock:
            wanted = [r for r in self._wanted if r in runs]
            self._wanted &= runs
            reload, self._reload = self._reload, set()
        for run in reload:
            if self.reload_plan is not None:
                self.reload_plan(*run)
        fresh = {}
        for run in wanted:
            try:
                fresh[run] = self.store().approval_status(*run)
            except Exception as exc:  # the next refresh tries again; tasks keep waiting meanwhile
                log.warning("could not read the plan approval of %s/%s: %s", *run, exc)
        with self._lock:
            self._status = {r: s for r, s in {**self._status, **fresh}.items() if r in runs}

    def check(self, task: GateInput) -> Verdict | None:
        plan = task.plan
        if plan is None or not getattr(plan, "needs_approval", False):
            return None
        run = (task.dag_id, task.run_id)
        with self._lock:
            self._wanted.add(run)
            status = self._status.get(run)
        if status is None:
            return Verdict("hold", "waiting for a person to approve the run's plan")
        if status.state == "rejected":
            return Verdict("fail", status.reason)
        if status.state == "pending":
            return Verdict("hold", status.reason)
        stored_id = getattr(plan, "stored_id", None)
        if status.plan_id is not None and stored_id is not None and stored_id != status.plan_id:
            with self._lock:
                self._reload.add(run)
            return Verdict("hold", "loading the plan approved in the UI")
        return None
