"""``airflow ai-scheduler rightsize|rank|anomalies`` over a migrated SQLite history (no Airflow tables: the
DAG's hints are given as the serialized DAG would give them)."""

from __future__ import annotations

import json
from argparse import Namespace
from datetime import timedelta

import pytest
from factories import NOW, offer

from airflow_ai_scheduler.airflow import cli, usage_api
from airflow_ai_scheduler.airflow.hints import Resources, parse_hint, placement
from airflow_ai_scheduler.models import Job

OFFERS = [offer("big", price=0.8, vcpus=8, memory_gib=32), offer("tiny", price=0.05, vcpus=1, memory_gib=2),
          offer("big-spot", "spot", 0.3, vcpus=8, memory_gib=32, lam=0.05)]


def _row(task, run, secs, mem=900.0, anomaly=None):
    return dict(dag_id="d", task_id=task, run_id=run, map_index=-1, try_number=1, fleet="big", provider="aws",
                region="us-east-1", instance_type="type-big", tier="on-demand", actual_start=NOW,
                actual_end=NOW + timedelta(seconds=secs), runtime_seconds=secs, price_per_hour_at_launch=0.8,
                actual_cost=secs / 3600 * 0.8, outcome="success", cpu_seconds=0.5 * secs, usage_seconds=secs,
                peak_memory_mib=mem, anomaly=anomaly, anomaly_detail="runtime 900.0 s vs median" if anomaly else None)


@pytest.fixture
def env(sqlite_store, monkeypatch):
    for i in range(6):
        sqlite_store.record(_row("fat", f"r{i}", 600.0 + i))
    sqlite_store.record(_row("fat", "r9", 900.0, anomaly="runtime_high"))
    cfg = placement(resources=Resources(vcpus=8, memory_gib=16), deadline=timedelta(minutes=20))
    hint = parse_hint(cfg)
    tasks = {"fat": (hint.resources, Job(job_id="fat", estimated_duration_hours=1, **{
        k: v for k, v in hint.to_job_fields().items()}), hint)}
    monkeypatch.setattr(usage_api, "_store", lambda: sqlite_store)
    monkeypatch.setattr(usage_api, "dag_tasks", lambda dag_id: tasks if dag_id == "d" else {})
    monkeypatch.setattr(usage_api, "_catalog_offers", lambda locations: OFFERS)
    monkeypatch.setattr(usage_api, "fleet_offers", lambda: OFFERS)
    return sqlite_store


def test_rightsize_text_and_json(env, capsys):
    usage_api.rightsize_command(Namespace(dag_id="d", json=False, output="table"))
    out = capsys.readouterr().out
    assert "fat" in out and "over-requested" in out and "8 vCPU 16 GiB" in out and "1 vCPU 1.25 GiB" in out
    assert "big ($0.8/h) → tiny ($0.05/h)" in out
    usage_api.rightsize_command(Namespace(dag_id=None, json=False, output="json"))
    (rep,) = json.loads(capsys.readouterr().out)
    (fat,) = rep["tasks"]
    assert fat["recommended"]["vcpus"] == 1.0 and fat["saving_per_30_days_usd"] > 0


def test_rank_ranks_the_offers_with_the_deadline_from_now(env, capsys):
    usage_api.rank_command(Namespace(dag_id="d", task_id="fat", offers="fleets", top=5, json=True, output="table"))
    s = json.loads(capsys.readouterr().out)
    assert s["evidence"] == "history" and s["samples"] == 7 and s["deadline_hours"] == pytest.approx(1 / 3)
    assert [o["offer_id"] for o in s["offers"]][0] in ("big", "big-spot") and "tiny" in s["excluded"]
    usage_api.rank_command(Namespace(dag_id="d", task_id="fat", offers="fleets", top=5, json=False, output="table"))
    out = capsys.readouterr().out
    assert "task fat: runtime from history (n=7)" in out and "not fit: tiny" in out
    with pytest.raises(SystemExit, match="no task 'nope'"):
        usage_api.rank_command(Namespace(dag_id="d", task_id="nope", offers="fleets", top=5, json=False, output="table"))


def test_anomalies_listed(env, capsys):
    usage_api.anomalies_command(Namespace(dag_id="d", limit=10, json=False, output="table"))
    assert "d / r9 / fat try 1: runtime_high" in capsys.readouterr().out
    usage_api.anomalies_command(Namespace(dag_id="other", limit=10, json=False, output="json"))
    assert json.loads(capsys.readouterr().out) == []


def test_commands_registered():
    (group,) = cli.get_ai_scheduler_cli_commands()
    assert {"rightsize", "rank", "anomalies"} <= {c.name for c in group.subcommands}


def test_ui_endpoints_return_the_same_models(env):
    from fastapi.testclient import TestClient

    from airflow_ai_scheduler.airflow.plugin import create_app

    c = TestClient(create_app(lambda: env, auth=False))
    rep = c.get("/api/dags/d/rightsize").json()
    assert rep["tasks"][0]["task_id"] == "fat" and rep["tasks"][0]["verdict"] == "over-requested"
    s = c.get("/api/dags/d/tasks/fat/rank", params={"top": 2}).json()
    assert s["samples"] == 7 and len(s["offers"]) == 2 and s["offers"][0]["rank"] == 1
    assert c.get("/api/dags/d/tasks/nope/rank").status_code == 404
    assert c.get("/api/dags/d/tasks/fat/rank", params={"top": 0}).status_code == 422
    assert c.get("/api/dags/d/tasks/fat/rank", params={"offers": "moon"}).status_code == 422
    (a,) = c.get("/api/dags/d/anomalies").json()
    assert a["flags"] == ["runtime_high"] and a["run_id"] == "r9"
    assert c.get("/api/dags/d/anomalies", params={"limit": 0}).status_code == 422
