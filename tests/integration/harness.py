"""The test-facing name of the real-Airflow harness: ``AirflowDeployment`` is
:class:`airflow_ai_scheduler.demo.deployment.LocalDeployment` (the demo drives the same class), with the
helper names the integration tests' brief uses (``trigger_dag``, ``wait_for_run``).

Also what tests read back from a deployment without an ``airflow ai-scheduler`` command (each is a full
Airflow CLI start, 5-30 CPU seconds on a loaded machine): its history rows and stored plans, straight from
its database through :class:`~airflow_ai_scheduler.history.store.HistoryStore`, the code the CLI prints
from. The CLI commands themselves keep their own tests (test_executor, test_usage_real_airflow,
test_forecast_api, test_celery_fleet).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from airflow_ai_scheduler.demo.deployment import EXECUTOR, LocalDeployment, free_port

__all__ = ["EXECUTOR", "AirflowDeployment", "free_port", "history", "history_store", "stop_after_last_use",
           "stop_unused_deployments", "stored_plan", "wait_history"]

#: deployments stopped right after the last test (of their module) that uses them, by (module, fixture name):
#: pytest stops a module's fixtures at the end of the module, and an idle Airflow (a scheduler loop, a
#: dag-processor parsing its files every few seconds) slows down the module's later tests on another deployment
_LIVE = pytest.StashKey[dict]()


class AirflowDeployment(LocalDeployment):
    """A temporary Airflow 3.3 (api-server, scheduler, dag-processor) with any executor string."""

    def trigger_dag(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        return self.trigger(dag_id, conf)

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300) -> str:
        return self.wait_run(dag_id, run_id, timeout=timeout)


def stop_after_last_use(request: pytest.FixtureRequest, af: LocalDeployment) -> LocalDeployment:
    """Register the deployment of a module-scoped fixture to be stopped after its module's last test that uses
    it (by :func:`stop_unused_deployments`; the fixture's own exit then finds nothing left to stop)."""
    request.config.stash.setdefault(_LIVE, {})[(str(request.node.path), request.fixturename)] = af
    return af


def stop_unused_deployments(item: pytest.Item) -> None:
    """Called by ``pytest_runtest_teardown``: stop the registered deployments no later test needs."""
    live = item.config.stash.get(_LIVE, {})
    if not live:
        return
    items = item.session.items
    rest = items[items.index(item) + 1:]
    for (module, name), af in list(live.items()):
        if not any(str(i.path) == module and name in i.fixturenames for i in rest):
            del live[(module, name)]
            af.stop()


def history_store(af: LocalDeployment) -> Any:
    """A :class:`HistoryStore` on the deployment's database (one per deployment; no pooled connection is
    kept, so the deployment's teardown can drop its database)."""
    store = af.__dict__.get("_test_history_store")
    if store is None:
        from sqlalchemy.pool import NullPool

        from airflow_ai_scheduler.history.store import HistoryStore

        helpers = str(Path(__file__).parents[1] / "history")
        if helpers not in sys.path:
            sys.path.insert(0, helpers)
        from dbutil import scope_for

        scope, _ = scope_for(af.database_url, poolclass=NullPool)
        store = af.__dict__["_test_history_store"] = HistoryStore(scope)
    return store


def history(af: LocalDeployment, dag_id: str, run_id: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    """The rows ``airflow ai-scheduler history <dag_id> --json`` prints (newest first), of one run if given."""
    return history_store(af).history(dag_id, run_id=run_id, limit=limit)


def wait_history(af: LocalDeployment, dag_id: str, run_id: str, want: Callable[[list[dict[str, Any]]], bool],
                 timeout: float = 60) -> list[dict[str, Any]]:
    """The run's history rows once ``want(rows)`` holds (rows are written off the scheduler loop)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = history(af, dag_id, run_id)
        if want(rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"history of {dag_id}/{run_id} never matched in {timeout} s: {rows}")
        time.sleep(1)


def stored_plan(af: LocalDeployment, dag_id: str, run_id: str, want: Callable[[dict[str, Any]], bool] | None = None,
                timeout: float = 30) -> dict[str, Any]:
    """What ``airflow ai-scheduler plan <dag_id> <run_id> --json`` prints: the run's plan in force (with
    ``want``: once ``want(plan)`` holds, as plans are stored off the scheduler loop)."""
    deadline = time.monotonic() + timeout
    while True:
        stored = history_store(af).latest_plan(dag_id, run_id)
        plan = dict(stored.plan.model_dump(mode="json")) if stored is not None else None
        if plan is not None and (want is None or want(plan)):
            return plan
        if want is None or time.monotonic() > deadline:
            assert plan is not None, f"no plan stored for {dag_id} / {run_id}"
            return plan
        time.sleep(1)
