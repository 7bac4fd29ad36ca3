"""History rows: every task-instance state has an honest outcome; a deferral, a reschedule or a wait for
input leave the try's row open and the rest of the try is added to it; tries of a dead scheduler."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from airflow.models.taskinstancekey import TaskInstanceKey
from airflow.utils.state import TaskInstanceState

from airflow_ai_scheduler.airflow.orphans import OrphanRecorder
from airflow_ai_scheduler.airflow.recording import build_try, record_try
from airflow_ai_scheduler.history import outcomes

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=timezone.utc)
KEY = TaskInstanceKey("d", "t", "r1", 1, -1)
SPEC = SimpleNamespace(provider="aws", region="us-east-1", instance_type="m6i.xlarge", tier="spot")


def _launch(start=T0, secs=60.0, **kw):
    return {"fleet": "local-spot", "start": start, "end": start + timedelta(seconds=secs), "price": 0.36, **kw}


@pytest.mark.parametrize("state,outcome", [
    pytest.param("success", "success", id="success"),
    pytest.param("failed", "failed", id="failed"),
    pytest.param("up_for_retry", "failed", id="up_for_retry"),
    pytest.param("skipped", "skipped", id="skipped"),
    pytest.param("upstream_failed", "upstream_failed", id="upstream_failed"),
    pytest.param("removed", "removed", id="removed"),
    pytest.param("restarting", "cleared", id="restarting"),
    pytest.param("deferred", "deferred", id="deferred"),
    pytest.param("up_for_reschedule", "up_for_reschedule", id="up_for_reschedule"),
    pytest.param("awaiting_input", "awaiting_input", id="awaiting_input"),
    pytest.param("running", "unknown", id="running"),
    pytest.param(None, "unknown", id="none"),
])
def test_each_state_has_its_own_outcome(state, outcome):
    row = build_try(KEY, _launch(), {"state": state, "start": T0, "end": T0 + timedelta(seconds=30)}, None, SPEC)
    assert row["outcome"] == outcome


def test_every_airflow_state_is_mapped():
    states = {s.value for s in TaskInstanceState}
    unmapped = states - set(outcomes.BY_STATE) - {s for s in outcomes.UNSETTLED if s}
    assert not unmapped, f"task-instance states without an outcome: {sorted(unmapped)}"
    assert outcomes.for_state("running", executor_failed=True) == "failed"
    assert all(len(o) <= 20 for o in outcomes.ALL)  # the outcome column is String(20)


def test_a_resumed_segment_counts_from_its_own_launch():
    # resumed from the triggerer: the TI keeps the first segment's start_date; only this segment counts
    launch = _launch(start=T0 + timedelta(minutes=10), secs=20)
    row = build_try(KEY, launch, {"state": "success", "start": T0, "end": T0 + timedelta(minutes=10, seconds=15)},
                    None, SPEC)
    assert row["actual_start"] == launch["start"] and row["runtime_seconds"] == pytest.approx(15)
    # the next poke of a sensor: the TI's end is the previous poke's
    row = build_try(KEY, launch, {"state": "up_for_reschedule", "start": T0, "end": T0 + timedelta(seconds=5)},
                    None, SPEC)
    assert row["actual_end"] == launch["end"] and row["runtime_seconds"] == pytest.approx(20)


def _store_rows(store):
    return sorted(store.history("d", limit=100), key=lambda r: r["id"])


class _Planning:
    def get(self, dag_id, run_id):
        return None


def _scope_with(state_by_call):
    """A session_scope whose task instance reads give the states in turn (try 1, then what the test says)."""
    calls = iter(state_by_call)

    class _Result:
        def __init__(self, row):
            self.row = row

        def first(self):
            return self.row

    class _Session:
        def execute(self, q):
            state, start, end = next(calls)
            return _Result((state, start, end, "host", 1))

    class _Scope:
        def __enter__(self):
            return _Session()

        def __exit__(self, *a):
            return False

    return _Scope


def test_deferred_then_resumed_try_is_one_row(sqlite_store):
    first = _launch(secs=10)
    state = record_try(sqlite_store, _Planning(), KEY, first, _scope_with([("deferred", T0, None)]),
                       {"local-spot": SPEC})
    assert state == "deferred"  # not "failed": no upstream_failed sweep
    (open_row,) = _store_rows(sqlite_store)
    assert open_row["outcome"] == "deferred" and open_row["runtime_seconds"] == pytest.approx(10)

    resumed = _launch(start=T0 + timedelta(minutes=5), secs=20)
    record_try(sqlite_store, _Planning(), KEY, resumed,
               _scope_with([("success", T0, T0 + timedelta(minutes=5, seconds=20))]), {"local-spot": SPEC})
    (row,) = _store_rows(sqlite_store)
    assert row["outcome"] == "success" and row["try_number"] == 1
    assert row["runtime_seconds"] == pytest.approx(30)  # fleet time only, not the triggerer's 5 minutes
    assert row["actual_cost"] == pytest.approx(30 / 3600 * 0.36)
    assert row["actual_start"] == T0 and row["actual_end"] == T0 + timedelta(minutes=5, seconds=20)


def test_sensor_pokes_are_one_row_and_a_preemption_keeps_its_own(sqlite_store):
    scope = _scope_with([("up_for_reschedule", T0, T0 + timedelta(seconds=3))] * 2 + [("running", T0, None)]
                        + [("success", T0, T0 + timedelta(seconds=63))])
    for i in range(2):
        record_try(sqlite_store, _Planning(), KEY, _launch(start=T0 + timedelta(seconds=30 * i), secs=3), scope)
    record_try(sqlite_store, _Planning(), KEY, {**_launch(start=T0 + timedelta(seconds=60), secs=1),
                                                "outcome": "preempted"}, scope)
    record_try(sqlite_store, _Planning(), KEY, _launch(start=T0 + timedelta(seconds=61), secs=2), scope)
    rows = _store_rows(sqlite_store)
    assert [r["outcome"] for r in rows] == ["success", "preempted"]
    assert rows[0]["runtime_seconds"] == pytest.approx(3 + 3 + 2)


def test_a_skipped_task_is_not_a_failure(sqlite_store):
    state = record_try(sqlite_store, _Planning(), KEY, _launch(), _scope_with([("skipped", T0, T0)]))
    assert state == "skipped" and _store_rows(sqlite_store)[0]["outcome"] == "skipped"


def test_a_task_that_died_unheard_is_settled_before_it_is_recorded(sqlite_store, monkeypatch):
    monkeypatch.setattr("airflow_ai_scheduler.airflow.recording.SETTLE_PAUSE_SECONDS", 0.0)
    scope = _scope_with([("running", T0, None), ("failed", T0, T0 + timedelta(seconds=9))])
    assert record_try(sqlite_store, _Planning(), KEY, _launch(), scope) == "failed"
    assert _store_rows(sqlite_store)[0]["outcome"] == "failed"


# -- tries of a dead scheduler ---------------------------------------------------------------------

def _recorder(writer, specs=None, offers=None):
    return OrphanRecorder(writer, lambda: None, offers=offers or {}, specs=specs or {}, job_id=lambda: 7,
                          executor_names=["AiSchedulerExecutor"], default_executor=True)


def test_a_reset_try_is_recorded_on_its_fleet_from_its_dates(sqlite_store):
    offer = SimpleNamespace(price_at=lambda t: 0.36)
    rec = _recorder(sqlite_store, {"local-spot": SPEC}, {"local-spot": offer})
    rec.reset([SimpleNamespace(id="old-ti-id")])
    t = {"dag_id": "d", "task_id": "t", "run_id": "r1", "map_index": -1, "try_number": 1, "state": "failed",
         "start": T0, "end": T0 + timedelta(seconds=100), "hostname": "h",
         "external_executor_id": "ai-scheduler/local-spot/local-4242", "ti_id": "old-ti-id", "archived": True}
    row = rec.row(t)
    assert row["outcome"] == "reset" and row["fleet"] == "local-spot" and row["tier"] == "spot"
    assert row["runtime_seconds"] == pytest.approx(100) and row["actual_cost"] == pytest.approx(0.01)
    # a try that the dead scheduler's worker finished keeps its state
    assert rec.row({**t, "archived": False, "state": "success", "ti_id": "x"})["outcome"] == "success"
    # no external id: the fleet comes from the run's plan, or stays unknown
    assert rec.row({**t, "external_executor_id": None})["fleet"] is None
