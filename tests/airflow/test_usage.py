"""The usage listener (as the task runner calls it) and the recorder's anomaly columns."""

from __future__ import annotations

import logging
from datetime import timedelta
from types import SimpleNamespace

import pytest
from factories import NOW

from airflow_ai_scheduler.airflow import usage_listener
from airflow_ai_scheduler.airflow.usage_record import anomaly_columns, usage_columns, usage_fields
from airflow_ai_scheduler.usage.measure import USAGE_XCOM_KEY, TaskUsage


def _ti(**kw):
    return SimpleNamespace(**{"id": "0190-ti", "dag_id": "d", "task_id": "t", "run_id": "r", "map_index": -1,
                              "try_number": 2, **kw})


@pytest.fixture
def pushed(monkeypatch):
    calls = []
    monkeypatch.setattr(usage_listener, "_push", lambda ti, key, value: calls.append((ti, key, value)))
    return calls


def test_listener_measures_a_try_on_our_fleets(monkeypatch, pushed):
    monkeypatch.setenv("AI_SCHEDULER_FLEET", "local-spot")
    ti = _ti()
    usage_listener.on_task_instance_running(previous_state="queued", task_instance=ti)
    held = b"x" * (64 * 1024 * 1024)
    usage_listener.on_task_instance_success(previous_state="running", task_instance=ti)
    assert len(held) and len(pushed) == 1
    _, key, value = pushed[0]
    usage = TaskUsage.model_validate(value)
    assert key == USAGE_XCOM_KEY and usage.try_number == 2 and usage.peak_memory_mib > 64
    usage_listener.on_task_instance_failed(previous_state="running", task_instance=ti, error=None)
    assert len(pushed) == 1  # nothing left to report for that try


def test_failed_tries_are_measured_too(monkeypatch, pushed):
    monkeypatch.setenv("AI_SCHEDULER_FLEET", "local-spot")
    ti = _ti(map_index=3)
    usage_listener.on_task_instance_running(previous_state="queued", task_instance=ti)
    usage_listener.on_task_instance_failed(previous_state="running", task_instance=ti, error=RuntimeError("x"))
    assert len(pushed) == 1


def test_not_on_our_fleets_or_switched_off_nothing_is_measured(monkeypatch, pushed):
    monkeypatch.delenv("AI_SCHEDULER_FLEET", raising=False)
    usage_listener.on_task_instance_running(previous_state="queued", task_instance=_ti())
    usage_listener.on_task_instance_success(previous_state="running", task_instance=_ti())
    monkeypatch.setenv("AI_SCHEDULER_FLEET", "local-spot")
    monkeypatch.setenv("AIRFLOW__AI_SCHEDULER__MEASURE_USAGE", "False")
    usage_listener.on_task_instance_running(previous_state="queued", task_instance=_ti())
    usage_listener.on_task_instance_success(previous_state="running", task_instance=_ti())
    assert pushed == []


def test_a_failing_push_never_fails_the_task(monkeypatch, caplog):
    monkeypatch.setenv("AI_SCHEDULER_FLEET", "local-spot")

    def boom(*a):
        raise ConnectionError("api down")

    monkeypatch.setattr(usage_listener, "_push", boom)
    usage_listener.on_task_instance_running(previous_state="queued", task_instance=_ti())
    with caplog.at_level(logging.WARNING):
        usage_listener.on_task_instance_success(previous_state="running", task_instance=_ti())
    assert "could not report the usage" in caplog.text


def _row(run, secs, outcome="success", mem=500.0, **kw):
    return dict(dag_id="d", task_id="t", run_id=run, map_index=-1, try_number=1, fleet="f", provider="aws",
                region="us-east-1", instance_type="m6i.xlarge", tier="spot", actual_start=NOW,
                actual_end=NOW + timedelta(seconds=secs), runtime_seconds=secs, price_per_hour_at_launch=0.1,
                actual_cost=0.0, outcome=outcome, peak_memory_mib=mem, **kw)


def test_anomaly_columns_against_the_stored_history(sqlite_store, caplog):
    for i in range(8):
        sqlite_store.record(_row(f"r{i}", 60.0 + i))
    with caplog.at_level(logging.WARNING):
        cols = anomaly_columns(sqlite_store, _row("slow", 400.0))
    assert cols["anomaly"] == "runtime_high" and "400.0 s vs median" in cols["anomaly_detail"]
    assert "ai-scheduler anomaly: d/t/slow" in caplog.text
    assert anomaly_columns(sqlite_store, _row("ok", 63.0)) == {}
    sqlite_store.record({**_row("slow", 400.0), **cols})
    from airflow_ai_scheduler.history.usage_queries import anomalies

    (flagged,) = anomalies(sqlite_store, "d")
    assert flagged["run_id"] == "slow" and flagged["anomaly"] == "runtime_high"


def test_usage_fields_skip_preempted_and_survive_a_missing_xcom_table(sqlite_store):
    key = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1, try_number=1)
    assert usage_fields(sqlite_store, key, _row("r", 10.0, outcome="preempted"), sqlite_store.session_scope) == {}
    # no Airflow tables in this database: the read fails, the row is still judged
    assert usage_fields(sqlite_store, key, _row("r", 10.0), sqlite_store.session_scope) == {}
    u = TaskUsage(cpu_seconds=1.5, peak_memory_mib=300.0, wall_seconds=3.0, io_read_bytes=0, io_write_bytes=10)
    assert usage_columns(u) == {"cpu_seconds": 1.5, "usage_seconds": 3.0, "peak_memory_mib": 300.0,
                                "gpu_memory_mib": None, "io_read_bytes": 0, "io_write_bytes": 10,
                                "usage_source": "task-runner"}
