"""The UI app over a migrated SQLite database: numbers shown, ordering, access, validation, what-if, approval."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "history"))
from factories import NOW, job, manifest, offer  # noqa: E402

from airflow_ai_scheduler.planning.greedy import GreedyPlanner  # noqa: E402


def _try(task, cost, tier="spot", run="r1", dag="d", start_h=0.0, try_number=1, outcome="success", itype=None):
    return dict(dag_id=dag, task_id=task, run_id=run, map_index=-1, try_number=try_number, fleet="f-" + tier,
                provider="aws", region="us-east-1", instance_type=itype or ("type-s" if tier == "spot" else "type-od"),
                tier=tier, actual_start=NOW + timedelta(hours=start_h),
                actual_end=NOW + timedelta(hours=start_h + 1), runtime_seconds=3600.0,
                price_per_hour_at_launch=cost, actual_cost=cost, outcome=outcome)


@pytest.fixture
def store(sqlite_store):
    return sqlite_store


@pytest.fixture
def app(store):
    from airflow_ai_scheduler.airflow.plugin import create_app

    return create_app(lambda: store, auth=False)


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    return TestClient(app)


@pytest.fixture
def saved(store):
    m = manifest([job("<script>alert(1)</script>"), job("b", deps=["<script>alert(1)</script>"], deadline_h=1.5)],
                 [offer("od"), offer("s", "spot", 0.3, lam=0.01)])
    p = GreedyPlanner().plan(m)
    store.save_plan("d", "r1", p, m, on_demand_cost=2.0)
    store.record(_try("b", 0.5, tier="on-demand", start_h=1.0))  # recorded first, started second
    store.record(_try("<script>alert(1)</script>", 0.25, start_h=0.0))
    return p


def test_run_json_totals_are_honest(client, saved):
    rep = client.get("/api/runs/d/r1").json()
    s = rep["summary"]
    assert s["planned_cost"] == pytest.approx(saved.objective.cost)
    assert s["on_demand_planned_cost"] == 2.0
    assert s["planned_saving_pct"] == pytest.approx(100 * (2.0 - saved.objective.cost) / 2.0)
    assert s["actual_cost"] == pytest.approx(0.75)
    # the same two one-hour tries at the on-demand price (1.0/h): spot one on type-s has no on-demand price in
    # the run's offers and no catalog row, so the reference is unknown rather than invented
    assert s["actual_on_demand_cost"] is None
    by_task = {r["job_id"]: r for r in rep["tries"]}
    assert by_task["b"]["on_demand_cost"] == pytest.approx(1.0) and by_task["b"]["actual_cost"] == 0.5
    planned_b = next(x for x in saved.placements if x.job_id == "b")
    assert by_task["b"]["planned_cost"] == pytest.approx(planned_b.estimated_cost)
    assert by_task["b"]["rationale"] == planned_b.rationale
    assert rep["approval"]["state"] == "not_required"
    assert "deadline" in rep["legend"] and "✕ preempted" in rep["legend"]


def test_tries_are_chronological_and_a_relaunch_is_told_apart(client, store, saved):
    store.record(_try("b", 0.1, tier="spot", start_h=2.0, outcome="preempted", try_number=2))
    store.record(_try("b", 0.1, tier="spot", start_h=3.0, try_number=2))
    tries = client.get("/api/runs/d/r1").json()["tries"]
    assert [t["actual_start"] for t in tries] == sorted(t["actual_start"] for t in tries)
    assert tries[0]["job_id"] == "<script>alert(1)</script>"
    assert [(t["job_id"], t["label"], t["relaunch"]) for t in tries[1:]] == [
        ("b", "try 1", False), ("b", "try 2 · attempt 1", False), ("b", "try 2 · attempt 2", True)]


def test_placements_carry_critical_path_and_deadlines(client, saved):
    rep = client.get("/api/runs/d/r1").json()
    assert rep["critical_path"] == ["<script>alert(1)</script>", "b"]
    b = next(p for p in rep["placements"] if p["job_id"] == "b")
    assert b["critical"] and b["deadline"].startswith((NOW + timedelta(hours=1.5)).isoformat()[:16])
    assert [p["planned_start"] for p in rep["placements"]] == sorted(p["planned_start"] for p in rep["placements"])


def test_unknown_run_is_404(client, store):
    assert client.get("/api/runs/d/nope").status_code == 404


@pytest.mark.parametrize("query", ["limit=-1", "limit=0", "limit=1001", f"limit={10**9}", f"limit={10**30}",
                                   "limit=abc", "offset=-5", "limit=1.5"])
def test_bad_list_params_are_422(client, saved, query):
    for path in ("/api/runs", "/api/history/d"):
        resp = client.get(f"{path}?{query}")
        assert resp.status_code == 422, (path, query, resp.text)


def test_runs_are_paginated(client, store, saved):
    m = manifest([job("x")], [offer("od")])
    for i in range(5):
        store.save_plan("e", f"r{i}", GreedyPlanner().plan(m), m)
    page = client.get("/api/runs", params={"limit": 2, "offset": 1}).json()
    assert page["total_entries"] == 6 and [r["run_id"] for r in page["runs"]] == ["r3", "r2"]
    assert client.get("/api/runs", params={"dag_id": "d"}).json()["runs"][0]["actual_cost"] == pytest.approx(0.75)
    hist = client.get("/api/history/d", params={"limit": 1}).json()
    assert hist["total_entries"] == 2 and len(hist["history"]) == 1


def test_lists_show_only_the_dags_the_user_may_read(app, client, store, saved):
    from airflow_ai_scheduler.airflow.ui.auth import readable_dag_ids

    m = manifest([job("x")], [offer("od")])
    store.save_plan("secret", "s1", GreedyPlanner().plan(m), m)
    store.request_approval("secret", "s1")
    app.dependency_overrides[readable_dag_ids] = lambda: {"d"}
    assert {r["dag_id"] for r in client.get("/api/runs").json()["runs"]} == {"d"}
    assert client.get("/api/runs", params={"dag_id": "secret"}).json() == {"runs": [], "total_entries": 0}
    assert client.get("/api/approvals").json()["approvals"] == []
    app.dependency_overrides.clear()
    assert {r["dag_id"] for r in client.get("/api/runs").json()["runs"]} == {"d", "secret"}


def test_requests_without_a_token_are_refused(store):
    from fastapi.testclient import TestClient

    from airflow_ai_scheduler.airflow.plugin import create_app

    c = TestClient(create_app(lambda: store))
    for path in ("/api/runs", "/api/runs/d/r1", "/api/history/d", "/api/fleets", "/api/approvals",
                 "/docs", "/redoc", "/openapi.json"):
        assert c.get(path).status_code == 401, path
    assert c.post("/api/runs/d/r1/what-if", json={}).status_code == 401
    assert c.post("/api/runs/d/r1/approval", json={"decision": "approved"}).status_code == 401
    assert c.get("/static/ai-scheduler.js").status_code == 200  # the bundle holds no data


def test_openapi_lists_the_routes(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/runs", "/api/runs/{dag_id}/{run_id}/what-if", "/api/runs/{dag_id}/{run_id}/approval"} <= set(paths)
    assert "swagger" in client.get("/docs").text.lower()


def test_what_if_with_other_weights_gives_another_plan_and_changes_nothing(client, store):
    m = manifest([job("a", deadline_h=1.2), job("b")],
                 [offer("od", price=1.0), offer("s", "spot", 0.2, lam=0.5)])
    store.save_plan("d", "w1", GreedyPlanner().plan(m), m, on_demand_cost=2.0)
    before = store.latest_plan("d", "w1").plan
    cheap = client.post("/api/runs/d/w1/what-if", json={"weights": {"cost": 1, "tardiness": 0, "risk": 0}}).json()
    safe = client.post("/api/runs/d/w1/what-if", json={"weights": {"cost": 0.001, "tardiness": 0, "risk": 1000}}).json()
    tiers = lambda r: {p["job_id"]: p["tier"] for p in r["what_if"]["placements"]}  # noqa: E731
    assert set(tiers(cheap).values()) == {"spot"} and set(tiers(safe).values()) == {"on-demand"}
    assert cheap["what_if"]["cost"] < safe["what_if"]["cost"]
    od_only = client.post("/api/runs/d/w1/what-if", json={"tiers": ["on-demand"]}).json()
    assert set(tiers(od_only).values()) == {"on-demand"}
    assert store.latest_plan("d", "w1").plan == before  # the run keeps its plan
    assert client.post("/api/runs/d/w1/what-if", json={"providers": ["gcp"]}).status_code == 422
    assert client.post("/api/runs/d/w1/what-if", json={"weights": {"cost": -1}}).status_code == 422
    assert client.post("/api/runs/d/w1/what-if", json={"planner": "llm"}).status_code == 422
    assert client.post("/api/runs/d/nope/what-if", json={}).status_code == 404


def test_approval_flow(client, store, saved):
    assert client.post("/api/runs/d/r1/approval", json={"decision": "approved"}).status_code == 409  # not asked
    store.request_approval("d", "r1", timeout_minutes=30)
    st = client.get("/api/runs/d/r1/approval").json()
    assert st["state"] == "pending" and "then reject" in st["reason"]
    assert client.get("/api/approvals").json()["approvals"][0]["run_id"] == "r1"
    assert client.post("/api/runs/d/r1/approval", json={"decision": "maybe"}).status_code == 422
    done = client.post("/api/runs/d/r1/approval", json={"decision": "rejected", "reason": "too pricey"}).json()
    assert done["state"] == "rejected" and done["reason"] == "plan rejected by anonymous: too pricey"
    assert client.post("/api/runs/d/r1/approval", json={"decision": "approved"}).status_code == 409


def test_approving_a_what_if_plan_replaces_the_run_s_plan(client, store):
    m = manifest([job("a"), job("b")], [offer("od", price=1.0), offer("s", "spot", 0.2, lam=0.01)])
    store.save_plan("d", "e1", GreedyPlanner().plan(m), m, on_demand_cost=2.0)
    store.request_approval("d", "e1")
    body = {"decision": "approved", "reason": "on-demand only", "what_if": {"tiers": ["on-demand"]}}
    st = client.post("/api/runs/d/e1/approval", json=body).json()
    new = store.latest_plan("d", "e1")
    assert st["state"] == "approved" and st["plan_id"] == new.id
    assert {p.tier for p in new.plan.placements} == {"on-demand"} and "edited in the UI" in new.plan.notes[-1]


def test_llm_exchange_is_served_redacted(client, store):
    from airflow_ai_scheduler.planning.llm.schema import LLMExchange, RepairSummary

    m = manifest([job("a"), job("b", deps=["a"])], [offer("od"), offer("s", "spot", 0.3, lam=0.01)])
    key = "AKIA" + "ABCDEFGHIJKLMNOP"
    ex = LLMExchange(prompt_hash="c" * 64, prompt=f"# Role\n<b>plan</b> aws key {key} password=hunter22",
                     response_text='{"placements": []}', model="google:gemini-2.5-flash", latency_seconds=2.5,
                     input_tokens=1500, output_tokens=200, outcome="repaired", reason="invalid placements: capacity",
                     repair=RepairSummary(kept=["a"], retimed=["b"]))
    store.save_plan("d", "r9", GreedyPlanner().plan(m), m, llm_exchange_id=store.save_exchange(ex, "d", "r9"))
    rep = client.get("/api/runs/d/r9").json()
    assert rep["llm"]["outcome"] == "repaired" and rep["llm"]["repair"] == {
        "kept": 1, "changed": 0, "retimed": 1, "added": 0}
    full = client.get("/api/runs/d/r9/llm-exchange").json()
    assert full["prompt"].startswith("# Role\n<b>plan</b>") and key not in full["prompt"]
    assert "hunter22" not in full["prompt"] and full["response"] == '{"placements": []}'
    assert client.get("/api/runs/d/r1/llm-exchange").status_code == 404


def test_plugin_registers_app_react_views_and_no_iframe_pages():
    from airflow_ai_scheduler.airflow.plugin import AiSchedulerPlugin
    from airflow_ai_scheduler.airflow.ui.app import STATIC

    assert AiSchedulerPlugin.fastapi_apps[0]["url_prefix"] == "/ai-scheduler"
    apps = {a["destination"]: a for a in AiSchedulerPlugin.react_apps}
    assert set(apps) == {"nav", "dag", "dag_run"}
    bundle = (STATIC / "ai-scheduler.js").read_text()
    for a in apps.values():
        assert a["bundle_url"] == "ai-scheduler/static/ai-scheduler.js"
        assert json.dumps(a["name"]) in bundle  # the bundle registers itself under every view's name
    assert [v["destination"] for v in AiSchedulerPlugin.external_views] == ["nav"]  # only the API docs link


def test_fleets_json_hides_backend_options(client, monkeypatch):
    fleets = [{"name": "gpu-spot", "provider": "aws", "region": "us-west-2", "instance_type": "m6i.xlarge",
               "tier": "spot", "slots": 3, "options": {"api_key": "s3cr3t-value"}}]
    monkeypatch.setenv("AIRFLOW__AI_SCHEDULER__FLEETS", json.dumps(fleets))
    resp = client.get("/api/fleets")
    (f,) = resp.json()
    assert (f["name"], f["slots"], f["region"]) == ("gpu-spot", 3, "us-west-2") and f["price_per_hour"] > 0
    assert "s3cr3t-value" not in resp.text


def test_what_if_of_a_re_planned_run_covers_the_whole_run(client, store):
    """After a re-plan (e.g. a preemption) the stored manifest holds only the unfinished tasks; the what-if
    keeps the finished tasks' placements so that both plans price the whole run."""
    offers = [offer("od", price=1.0), offer("s", "spot", 0.2, lam=0.01)]
    full = manifest([job("a"), job("b", deps=["a"])], offers)
    first = GreedyPlanner().plan(full)
    store.save_plan("d", "rp", first, full, on_demand_cost=2.0)
    rest = manifest([job("b")], offers)
    from airflow_ai_scheduler.planning.routing_rules import merge_plans

    store.save_plan("d", "rp", merge_plans(first, GreedyPlanner().plan(rest)), rest, on_demand_cost=2.0)
    r = client.post("/api/runs/d/rp/what-if", json={"tiers": ["on-demand"]}).json()
    assert {p["job_id"] for p in r["what_if"]["placements"]} == {"a", "b"}
    a = next(p for p in r["what_if"]["placements"] if p["job_id"] == "a")
    assert a["fleet"] == first.placement_map["a"].offer_id  # finished: kept as planned


def test_next_run_settings_are_set_read_and_cleared(client, store):
    assert client.get("/api/dags/d/next-run").json()["next_run"] is None
    body = {"planner": "greedy", "weights": {"cost": 1, "tardiness": 0, "risk": 0}, "tiers": ["spot"]}
    got = client.put("/api/dags/d/next-run", json=body).json()["next_run"]
    assert got["settings"]["tiers"] == ["spot"] and got["settings"]["weights"]["tardiness"] == 0
    assert got["set_by"] == "anonymous"
    assert client.put("/api/dags/d/next-run", json={"tiers": ["cheap"]}).status_code == 422
    assert store.take_next_run("d")["settings"]["planner"] == "greedy"
    assert store.take_next_run("d") is None  # taken once: only the next run
    client.put("/api/dags/d/next-run", json=body)
    assert client.delete("/api/dags/d/next-run").json()["cleared"] is True
    assert client.get("/api/dags/d/next-run").json()["next_run"] is None


def _regions_run(store, run="p1", jobs=None):
    """Three fleets that trade cost against carbon and risk: cheap risky spot, dirty and clean on-demand."""
    offers = [offer("dirty", price=0.30, region="us-east-1"), offer("clean", price=0.33, region="eu-north-1"),
              offer("spot", "spot", 0.12, lam=0.2, region="us-east-1")]
    m = manifest(jobs or [job(f"j{i}", 2.0, deadline_h=2.5) for i in range(3)], offers)
    store.save_plan("d", run, GreedyPlanner().plan(m), m, on_demand_cost=2.0)
    return m


def test_pareto_front_of_a_run_reads_the_same_as_the_cli(client, store, tmp_path, capsys):
    from airflow_ai_scheduler.cli.main import main
    from airflow_ai_scheduler.planning.pareto import SWEEP, dominates

    _regions_run(store)
    before = store.latest_plan("d", "p1").plan
    r = client.post("/api/runs/d/p1/pareto", json={})
    assert r.status_code == 200, r.text
    body = r.json()
    points = body["points"]
    assert len(points) >= 2 and body["weightings"] == 60 and body["kept"] == {"jobs": [], "cost_usd": 0}
    assert body["sweep"] == {k: list(v) for k, v in SWEEP.items()}
    crit = [(p["cost_usd"], p["tardiness_h"], p["risk"], p["co2e_kg"]) for p in points]
    assert crit == sorted(crit) and not any(dominates(a, b) for a in crit for b in crit)
    assert store.latest_plan("d", "p1").plan == before  # the run keeps its plan
    # the same manifest through the CLI: the same rows, number for number
    path = tmp_path / "m.json"
    path.write_text(store.manifest_json(store.latest_plan("d", "p1").id))
    capsys.readouterr()
    assert main(["plan", str(path), "--pareto", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == points
    # a point's weights in the what-if give that point's plan (w_carbon included)
    cleanest = min(points, key=lambda p: p["co2e_kg"])
    weights = {k: cleanest[f"w_{k}"] for k in ("cost", "tardiness", "risk", "carbon")}
    wi = client.post("/api/runs/d/p1/what-if", json={"weights": weights}).json()
    assert wi["weights"] == weights and wi["what_if"]["cost"] == pytest.approx(cleanest["cost_usd"])
    assert {p["fleet"] for p in wi["what_if"]["placements"]} == {"clean"}
    # fleets are filtered as in the what-if; without carbon the front is over cost × tardiness × risk
    od = client.post("/api/runs/d/p1/pareto", json={"tiers": ["on-demand"], "carbon": False}).json()
    assert od["weightings"] == 12 and od["sweep"]["carbon"] == [0] and all(p["w_carbon"] == 0 for p in od["points"])
    assert [p["cost_usd"] for p in od["points"]] == [min(p["cost_usd"] for p in points if p["risk"] < 0.1)]


def test_pareto_of_a_re_planned_run_says_which_tasks_it_leaves_out(client, store):
    from airflow_ai_scheduler.planning.routing_rules import merge_plans

    full = _regions_run(store, "p2", [job("a"), job("b", 2.0, deps=["a"], deadline_h=3.5)])
    first = store.latest_plan("d", "p2").plan
    rest = full.model_copy(update={"jobs": [job("b", 2.0, deadline_h=3.5)]})
    store.save_plan("d", "p2", merge_plans(first, GreedyPlanner().plan(rest)), rest, on_demand_cost=2.0)
    body = client.post("/api/runs/d/p2/pareto", json={"sweep": {"tardiness": [1], "risk": [0, 100]}}).json()
    assert body["jobs"] == ["b"] and body["kept"]["jobs"] == ["a"] and body["weightings"] == 10
    assert body["kept"]["cost_usd"] == pytest.approx(first.placement_map["a"].estimated_cost)
    p = body["points"][-1]
    wi = client.post("/api/runs/d/p2/what-if", json={"weights": {k: p[f"w_{k}"] for k in
                                                                 ("cost", "tardiness", "risk", "carbon")}}).json()
    assert wi["what_if"]["cost"] == pytest.approx(p["cost_usd"] + body["kept"]["cost_usd"])


@pytest.mark.parametrize("body", [
    {"sweep": {"tardiness": list(range(11))}},  # more than 10 values for one weight
    {"sweep": {"tardiness": list(range(10)), "risk": list(range(10)), "carbon": [0, 1]}},  # 200 weightings
    {"sweep": {"risk": []}}, {"sweep": {"risk": [-1]}}, {"sweep": {"carbon": [1e7]}}, {"sweep": {"risk": ["x"]}},
    {"planner": "optimal", "time_limit_seconds": 2},  # 60 weightings × 2 s of CP-SAT
    {"planner": "optimal", "time_limit_seconds": 0}, {"time_limit_seconds": 6}, {"planner": "llm"},
    {"carbon": "maybe"}, {"tiers": ["cheap"]}, {"providers": ["gcp"]}, {"providers": [""]}])
def test_pareto_rejects_bad_or_unbounded_requests_with_422(client, store, body):
    _regions_run(store)
    r = client.post("/api/runs/d/p1/pareto", json=body)
    assert r.status_code == 422, (body, r.text)
    assert "weightings" not in r.text or "at most" in r.text


def test_pareto_and_what_if_need_read_access_to_the_dag(app, client, store):
    from fastapi import HTTPException
    from fastapi.testclient import TestClient

    from airflow_ai_scheduler.airflow.plugin import create_app
    from airflow_ai_scheduler.airflow.ui.auth import can_read_dag

    _regions_run(store)
    assert client.post("/api/runs/d/nope/pareto", json={}).status_code == 404
    assert TestClient(create_app(lambda: store)).post("/api/runs/d/p1/pareto", json={}).status_code == 401
    deps = {r.path: {d.call for d in r.dependant.dependencies} for r in app.routes if hasattr(r, "dependant")}
    assert can_read_dag in deps["/api/runs/{dag_id}/{run_id}/pareto"]

    def deny():
        raise HTTPException(403, "no access")

    app.dependency_overrides[can_read_dag] = deny
    assert client.post("/api/runs/d/p1/pareto", json={}).status_code == 403
    app.dependency_overrides.clear()


def test_optimal_pareto_front_within_its_time_budget(client, store):
    _regions_run(store)
    body = {"planner": "optimal", "time_limit_seconds": 1, "sweep": {"tardiness": [1], "risk": [1],
                                                                     "carbon": [0, 5]}}
    r = client.post("/api/runs/d/p1/pareto", json=body).json()
    assert r["weightings"] == 2 and r["seconds"] < 2 * 1 + 5
    assert {p["planner"] for p in r["points"]} == {"optimal"} and len(r["points"]) == 2


def test_a_weight_left_out_keeps_the_run_s_carbon_weight(client, store):
    from airflow_ai_scheduler.models import Weights
    from airflow_ai_scheduler.planning.routing_rules import apply_next_run

    m = manifest([job("a")], [offer("od")], weights=Weights(carbon=0.2))
    store.save_plan("d", "c1", GreedyPlanner().plan(m), m)
    kept = client.post("/api/runs/d/c1/what-if", json={"weights": {"tardiness": 0}}).json()["weights"]
    assert kept == {"cost": 1.0, "tardiness": 0.0, "risk": 1.0, "carbon": 0.2}
    assert client.post("/api/runs/d/c1/what-if", json={"weights": {"carbon": 5}}).json()["weights"]["carbon"] == 5
    assert client.post("/api/runs/d/c1/what-if", json={"weights": {"carbon": -1}}).status_code == 422
    settings = client.put("/api/dags/d/next-run", json={"weights": {"tardiness": 0}}).json()["next_run"]
    assert apply_next_run(m, m.offers, {}, settings)[0].weights == Weights(tardiness=0, carbon=0.2)
