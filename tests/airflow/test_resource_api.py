"""The resource API through HTTP (FastAPI's TestClient, our real migrations on SQLite): predictions, offers,
budgets, 422s naming the field, and a property-based run of schemathesis over its OpenAPI schema."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_ai_scheduler.airflow.forecasting import DagFacts
from airflow_ai_scheduler.forecast.schedule import TaskSpec

NOW = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)


def facts_provider(dag_ids=None):
    from airflow.timetables.trigger import CronTriggerTimetable

    facts = {"etl": DagFacts(dag_id="etl", owners=("alice",), tags=("finance",),
                             timetable=CronTriggerTimetable("0 * * * *", timezone="UTC"),
                             tasks=[TaskSpec("extract", 0.25), TaskSpec("load", 0.5, upstream=("extract",))])}
    return {k: v for k, v in facts.items() if dag_ids is None or k in dag_ids}


@pytest.fixture
def app(sqlite_store):
    from airflow_ai_scheduler.airflow.ui.app import create_app

    a = create_app(lambda: sqlite_store, auth=False)
    a.state.dag_facts = facts_provider
    return a


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    return TestClient(app)


def test_predict_demand_from_job_profiles(client):
    start = NOW + timedelta(days=1)
    body = {"jobs": [{"job_id": "train", "resources": {"vcpus": 4, "gpus": 1}, "duration_hours": 2,
                      "duration_std_hours": 0.5, "starts": [start.isoformat()]},
                     {"job_id": "etl", "duration_hours": 0.5, "cron": "0 */6 * * *"}],
            "horizon_hours": 24, "metric": "vcpu_hours", "start": start.isoformat()}
    r = client.post("/api/predict_demand", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["method"] == "schedule" and out["fallback"] and out["metric"] == "vcpu_hours"
    series = {s["group"]: s for s in out["series"]}
    assert series["train"]["total"] == pytest.approx(8.0)  # 2 h × 4 vCPUs
    assert series["etl"]["total"] == pytest.approx(4 * 0.5)  # four runs in 24 h, one vCPU
    first = series["train"]["points"][0]
    assert first["hi"]["95"] > first["hi"]["80"] > first["mean"] > first["lo"]["80"]


def test_predict_demand_for_a_dag_with_no_history_uses_its_hints(client):
    r = client.post("/api/predict_demand", json={"dag_id": "etl", "horizon_hours": 6})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["fallback"] and any("no history" in n for n in out["notes"])
    (s,) = out["series"]
    assert s["group"] == "etl" and s["total"] == pytest.approx(6 * 0.75, rel=0.2)
    assert client.post("/api/predict_demand", json={"dag_id": "nope"}).status_code == 404


@pytest.mark.parametrize("body, field", [
    pytest.param({"jobs": [{"job_id": "a", "duration_hours": -1, "starts": []}]}, "duration_hours", id="duration"),
    pytest.param({"dag_id": "etl", "horizon_hours": 1000}, "horizon_hours", id="horizon"),
    pytest.param({"dag_id": "etl", "metric": "gpus"}, "metric", id="metric"),
    pytest.param({"dag_id": "etl", "unknown": 1}, "unknown", id="extra-field"),
    pytest.param({"jobs": [{"job_id": "a", "duration_hours": 1, "cron": "not a cron"}]}, "cron", id="cron"),
])
def test_bad_predict_input_is_422_naming_the_field(client, body, field):
    r = client.post("/api/predict_demand", json=body)
    assert r.status_code == 422, r.text
    assert field in r.text


def test_get_optimal_instance_ranks_catalog_offers(client):
    body = {"resources": {"vcpus": 4, "memory_gib": 16}, "duration_hours": 2, "budget_usd": 0.5,
            "deadline_hours": 6, "providers": ["aws"], "regions": ["us-east-1"], "top": 5}
    r = client.post("/api/get_optimal_instance", json=body)
    assert r.status_code == 200, r.text
    offers = r.json()["offers"]
    assert 1 <= len(offers) <= 5 and [o["rank"] for o in offers] == list(range(1, len(offers) + 1))
    assert all(o["provider"] == "aws" and o["region"] == "us-east-1" for o in offers)
    flags = [o["within_budget"] for o in offers]
    assert flags == sorted(flags, reverse=True)  # affordable ones first
    assert all(o["within_budget"] == (o["expected_cost_usd"] <= 0.5) for o in offers)
    r = client.post("/api/get_optimal_instance", json={**body, "ranking": "coin-toss"})
    assert r.status_code == 422 and "ranking" in r.text
    r = client.post("/api/get_optimal_instance", json={**body, "tiers": ["reserved"]})
    assert r.status_code == 422 and "tiers" in r.text


def test_the_ranking_is_swappable(client, monkeypatch):
    from airflow_ai_scheduler.airflow.ui import resources

    def cheapest(job, offers, *, now, top):
        ranked = sorted(offers, key=lambda o: o.price_per_hour)[:top]
        return [dict(rank=i + 1, offer_id=o.offer_id, provider=o.provider, region=o.region,
                     instance_type=o.instance_type, tier=o.tier, price_per_hour=o.price_per_hour,
                     expected_runtime_hours=job.estimated_duration_hours, p_interruption=0.0, p_miss=0.0, score=1.0,
                     expected_cost_usd=o.price_per_hour * job.estimated_duration_hours)
                for i, o in enumerate(ranked)], {}

    monkeypatch.setitem(resources.RANKERS, "cheapest", cheapest)
    r = client.post("/api/get_optimal_instance", json={"duration_hours": 1, "ranking": "cheapest", "top": 3})
    prices = [o["price_per_hour"] for o in r.json()["offers"]]
    assert r.status_code == 200 and prices == sorted(prices) and r.json()["ranking"] == "cheapest"


def test_allocate_and_list_budgets_with_spend(client, sqlite_store):
    r = client.post("/api/allocate_budget", json={"scope": "owner", "subject": "alice", "period": "day",
                                                   "amount_usd": 2.0, "note": "team lunch money"})
    assert r.status_code == 200, r.text
    assert r.json()["id"] >= 1 and r.json()["policy"] == "hold"
    sqlite_store.record(dict(dag_id="etl", task_id="load", run_id="r1", map_index=-1, try_number=1, fleet="f",
                             actual_start=datetime.now(timezone.utc), actual_end=datetime.now(timezone.utc),
                             runtime_seconds=1.0, actual_cost=0.75, outcome="success"))
    (b,) = client.get("/api/budgets").json()
    assert (b["scope"], b["subject"], b["amount_usd"]) == ("owner", "alice", 2.0)
    assert b["spent_usd"] == pytest.approx(0.75) and b["remaining_usd"] == pytest.approx(1.25)
    assert b["updated_by"] == "anonymous"


@pytest.mark.parametrize("body, field", [
    pytest.param({"scope": "planet", "subject": "x", "period": "day", "amount_usd": 1}, "scope", id="scope"),
    pytest.param({"scope": "dag", "subject": "x", "period": "week", "amount_usd": 1}, "period", id="period"),
    pytest.param({"scope": "dag", "subject": "x", "period": "day", "amount_usd": -5}, "amount_usd", id="amount"),
    pytest.param({"scope": "task", "subject": "nodot", "period": "run", "amount_usd": 1}, "subject", id="task"),
])
def test_bad_budget_is_422_naming_the_field(client, body, field):
    r = client.post("/api/allocate_budget", json=body)
    assert r.status_code == 422, r.text
    assert field in r.text


def test_openapi_documents_the_routes(client):
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/api/predict_demand", "/api/get_optimal_instance", "/api/allocate_budget", "/api/budgets"):
        assert p in paths, p


def test_schemathesis_finds_no_server_error(app):
    """Property-based: generated bodies for every resource route, the app mounted at /ai-scheduler as the
    api-server mounts it; no 5xx, responses match the schema, and some requests get through validation."""
    import schemathesis
    from fastapi import FastAPI
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    parent = FastAPI()
    parent.mount("/ai-scheduler", app)
    schema = schemathesis.openapi.from_asgi("/ai-scheduler/openapi.json", parent)
    resource = schema.include(path_regex=r"/api/(predict_demand|get_optimal_instance|allocate_budget|budgets)$")
    failures, statuses = [], {}
    ops = [r.ok() for r in resource.get_all_operations()]
    assert len(ops) == 4
    def check(case):
        response = case.call()
        statuses.setdefault(case.operation.label, set()).add(response.status_code)
        try:
            case.validate_response(response, checks=(not_a_server_error, response_schema_conformance))
        except Exception as exc:  # collect per operation, report together
            failures.append(f"{case.operation.label}: {str(exc)[:500]}")
            raise

    for op in ops:
        run = settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck),
                       database=None)(given(case=op.as_strategy())(check))
        try:
            run()
        except Exception:
            if not failures:
                raise  # not a check's failure: the test itself is broken
    assert not failures, "\n".join(failures[:5])
    assert all(statuses.values()) and any(200 in codes for codes in statuses.values()), statuses
    assert 404 not in set().union(*statuses.values()) - statuses["POST /api/predict_demand"]  # 404: unknown DAG


def test_forecast_chart_shows_the_band_against_what_happened(client, sqlite_store):
    # a week of one hourly task on fleet "spot" (the etl DAG's timetable is hourly)
    for h in range(24 * 7, 0, -1):
        start = NOW - timedelta(hours=h) + timedelta(minutes=1)
        sqlite_store.record(dict(dag_id="etl", task_id="extract", run_id=f"r{h}", map_index=-1, try_number=1,
                                 fleet="spot", actual_start=start, actual_end=start + timedelta(minutes=30),
                                 runtime_seconds=1800.0, actual_cost=0.01, outcome="success"))
    r = client.get("/api/forecast", params={"hours": 12, "back": 12})
    assert r.status_code == 200, r.text
    out = r.json()
    (spot,) = [s for s in out["series"] if s["fleet"] == "spot"]
    assert len(spot["forecast"]) == 12 and len(spot["past_forecast"]) == 12
    assert {p["value"] for p in spot["actual"][-12:]} == {0.5}
    p = spot["forecast"][0]
    assert p["lo95"] <= p["lo80"] <= p["mean"] <= p["hi80"] <= p["hi95"]
    assert abs(p["mean"] - 0.5) < 0.2 and out["method"] == "schedule_ets"
    assert client.get("/api/forecast", params={"hours": 0}).status_code == 422


def test_forecast_notes_name_only_dags_the_user_may_read(app, client):
    from airflow_ai_scheduler.airflow.ui.auth import readable_dag_ids

    everyone = client.get("/api/forecast", params={"hours": 6, "back": 0}).json()
    assert any(n.startswith("etl: no history") for n in everyone["notes"])
    app.dependency_overrides[readable_dag_ids] = lambda: {"another_dag"}
    outsider = client.get("/api/forecast", params={"hours": 6, "back": 0}).json()
    assert not any("etl" in n for n in outsider["notes"])
    # the fleet's totals are shared capacity: the same for both
    assert [s["forecast"] for s in outsider["series"]] == [s["forecast"] for s in everyone["series"]]


def _failing(scope, error, times):
    """``scope`` whose first ``times`` sessions raise ``error`` (what the driver raises when SQLite is locked
    or PostgreSQL is down), then the real ones; ``calls`` counts them."""
    def wrapped():
        wrapped.calls += 1
        if wrapped.calls <= times:
            raise error
        return scope()
    wrapped.calls = 0
    return wrapped


def test_a_budget_change_is_retried_while_sqlite_is_locked(sqlite_store):
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from airflow_ai_scheduler.budgets.model import Budget
    from airflow_ai_scheduler.history.budget_store import BudgetStore

    locked = OperationalError("UPDATE ai_scheduler_budget ...", {}, sqlite3.OperationalError("database is locked"))
    scope = _failing(sqlite_store.session_scope, locked, times=2)
    saved = BudgetStore(scope).set(Budget(scope="owner", subject="alice", period="day", amount_usd=1.0))
    assert scope.calls == 3 and saved.id >= 1
    assert [b.amount_usd for b in BudgetStore(sqlite_store.session_scope).list()] == [1.0]
    # any other database error is not retried
    down = OperationalError("SELECT 1", {}, Exception("could not connect to server"))
    scope = _failing(sqlite_store.session_scope, down, times=1)
    with pytest.raises(OperationalError):
        BudgetStore(scope).set(Budget(scope="owner", subject="bob", period="day", amount_usd=1.0))
    assert scope.calls == 1


def test_a_database_error_is_a_503_naming_the_reason_not_the_sql(sqlite_store):
    from fastapi.testclient import TestClient
    from sqlalchemy.exc import OperationalError

    from airflow_ai_scheduler.airflow.ui.app import create_app
    from airflow_ai_scheduler.history.store import HistoryStore

    down = OperationalError("INSERT INTO ai_scheduler_budget (note) VALUES (?)", {"note": "s3cr3t"},
                            Exception("could not connect to server: Connection refused\nIs the server running?"))
    store = HistoryStore(_failing(sqlite_store.session_scope, down, times=10**6))
    r = TestClient(create_app(lambda: store, auth=False)).post(
        "/api/allocate_budget", json={"scope": "owner", "subject": "alice", "period": "day", "amount_usd": 2.0})
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    assert "could not connect to server: Connection refused" in r.json()["detail"]
    assert "s3cr3t" not in r.text and "INSERT" not in r.text and "Is the server" not in r.text
