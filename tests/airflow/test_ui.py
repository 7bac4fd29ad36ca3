"""The UI app over a migrated SQLite database: numbers shown, escaping, 404s."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "history"))
from factories import NOW, job, manifest, offer  # noqa: E402

from airflow_ai_scheduler.planning.greedy import GreedyPlanner  # noqa: E402


def _try(task, cost, tier="spot", run="r1"):
    return dict(dag_id="d", task_id=task, run_id=run, map_index=-1, try_number=1, fleet="f-" + tier,
                provider="aws", region="us-east-1", instance_type="m6i.xlarge", tier=tier, actual_start=NOW,
                actual_end=NOW + timedelta(hours=1), runtime_seconds=3600.0, price_per_hour_at_launch=cost,
                actual_cost=cost, outcome="success")


@pytest.fixture
def store(sqlite_store):
    return sqlite_store


@pytest.fixture
def client(store):
    from fastapi.testclient import TestClient

    from airflow_ai_scheduler.airflow.plugin import create_app

    return TestClient(create_app(lambda: store, auth=False))


@pytest.fixture
def saved(store):
    m = manifest([job("<script>alert(1)</script>"), job("b", deps=["<script>alert(1)</script>"])],
                 [offer("od"), offer("s", "spot", 0.3, lam=0.01)])
    p = GreedyPlanner().plan(m)
    store.save_plan("d", "r1", p, m, on_demand_cost=2.0)
    store.record(_try("<script>alert(1)</script>", 0.25))
    store.record(_try("b", 0.5, tier="on-demand"))
    return p


def test_run_json_totals(client, saved):
    rep = client.get("/api/runs/d/r1").json()
    assert rep["planned_cost"] == pytest.approx(saved.objective.cost)
    assert rep["actual_cost"] == pytest.approx(0.75)
    assert rep["on_demand_planned_cost"] == 2.0
    assert rep["planned_saving_pct"] == pytest.approx(100 * (2.0 - saved.objective.cost) / 2.0)
    by_task = {r["task"]: r for r in rep["rows"]}
    assert by_task["b"]["actual_cost"] == pytest.approx(0.5)
    planned_b = next(x for x in saved.placements if x.job_id == "b")
    assert by_task["b"]["planned_cost"] == pytest.approx(planned_b.estimated_cost)
    assert by_task["b"]["rationale"] == planned_b.rationale


def test_unknown_run_is_404(client, store):
    assert client.get("/api/runs/d/nope").status_code == 404


def test_run_page_escapes_task_ids_and_shows_totals(client, saved):
    page = client.get("/runs/d/r1")
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert f"${saved.objective.cost:.6f}" in page.text
    assert "$0.750000" in page.text


def test_index_lists_runs(client, saved, store):
    m = manifest([job("x")], [offer("od")])
    store.save_plan("d<b>", "r2", GreedyPlanner().plan(m), m)
    page = client.get("/").text
    assert "/ai-scheduler/runs/d/r1" in page
    assert "d&lt;b&gt; / r2" in page and "d<b>" not in page
    assert {r["run_id"] for r in client.get("/api/runs").json()} == {"r1", "r2"}


def test_plugin_registers_app_and_views():
    from airflow_ai_scheduler.airflow.plugin import AiSchedulerPlugin

    assert AiSchedulerPlugin.fastapi_apps[0]["url_prefix"] == "/ai-scheduler"
    dests = {v["destination"]: v["href"] for v in AiSchedulerPlugin.external_views}
    assert dests["dag_run"] == "/ai-scheduler/runs/{DAG_ID}/{RUN_ID}"
    assert dests["dag"] == "/ai-scheduler/history/{DAG_ID}"
    assert "nav" in dests


def test_history_json_and_page(client, saved):
    rows = client.get("/api/history/d", params={"task_id": "b"}).json()
    assert [(r["task_id"], r["actual_cost"], r["tier"]) for r in rows] == [("b", 0.5, "on-demand")]
    page = client.get("/history/d").text
    assert "&lt;script&gt;" in page and "<script>alert" not in page
    assert "0.500000" in page and "0.250000" in page


def test_fleets_json_hides_backend_options(client, monkeypatch):
    fleets = [{"name": "gpu-spot", "provider": "aws", "region": "us-west-2", "instance_type": "m6i.xlarge",
               "tier": "spot", "slots": 3, "options": {"api_key": "s3cr3t-value"}}]
    monkeypatch.setenv("AIRFLOW__AI_SCHEDULER__FLEETS", json.dumps(fleets))
    resp = client.get("/api/fleets")
    (f,) = resp.json()
    assert (f["name"], f["slots"], f["region"]) == ("gpu-spot", 3, "us-west-2") and f["price_per_hour"] > 0
    assert "s3cr3t-value" not in resp.text


def test_requests_without_a_token_are_refused(store):
    from fastapi.testclient import TestClient

    from airflow_ai_scheduler.airflow.plugin import create_app

    c = TestClient(create_app(lambda: store))
    for path in ("/", "/api/runs/d/r1", "/runs/d/r1", "/api/history/d", "/api/fleets"):
        assert c.get(path).status_code == 401, path


def test_run_page_shows_the_llm_exchange_and_serves_it(client, store):
    from airflow_ai_scheduler.planning.llm.schema import LLMExchange, RepairSummary

    m = manifest([job("a"), job("b", deps=["a"])], [offer("od"), offer("s", "spot", 0.3, lam=0.01)])
    ex = LLMExchange(prompt_hash="c" * 64, prompt="# Role\n<b>plan</b>", response_text='{"placements": []}',
                     model="google:gemini-2.5-flash", latency_seconds=2.5, input_tokens=1500, output_tokens=200,
                     outcome="repaired", reason="invalid placements: capacity",
                     repair=RepairSummary(kept=["a"], retimed=["b"]))
    store.save_plan("d", "r9", GreedyPlanner().plan(m), m, llm_exchange_id=store.save_exchange(ex, "d", "r9"))
    rep = client.get("/api/runs/d/r9").json()
    assert rep["llm"]["outcome"] == "repaired" and rep["llm"]["repair"] == {
        "kept": 1, "changed": 0, "retimed": 1, "added": 0}
    page = client.get("/runs/d/r9").text
    assert "google:gemini-2.5-flash" in page and "repaired" in page and "retimed 1" in page
    full = client.get("/api/runs/d/r9/llm-exchange").json()
    assert full["prompt"] == "# Role\n<b>plan</b>" and full["response"] == '{"placements": []}'
    assert client.get("/api/runs/d/r1/llm-exchange").status_code == 404
