"""The resource API behind the real api-server's auth, and the forecast/budget commands, in a real Airflow."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from conftest import DAGS
from harness import stored_plan

from airflow_ai_scheduler.demo.deployment import LocalDeployment

USERS = {"admin": ("admin", "admin-pw"), "viewer": ("viewer", "viewer-pw")}


def _token(af, user):
    req = urllib.request.Request(f"http://127.0.0.1:{af.port}/auth/token", method="POST",
                                 data=json.dumps({"username": user, "password": USERS[user][1]}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return str(json.loads(r.read())["access_token"])


@pytest.fixture(scope="module")
def af(tmp_path_factory):
    home = tmp_path_factory.mktemp("forecast-airflow")
    (home / "passwords.json").write_text(json.dumps({u: pw for u, (_, pw) in USERS.items()}))
    config = {"ai_scheduler.planner": "greedy", "core.simple_auth_manager_all_admins": "False",
              "core.simple_auth_manager_users": ",".join(f"{u}:{role}" for u, (role, _) in USERS.items()),
              "core.simple_auth_manager_passwords_file": str(home / "passwords.json")}
    with LocalDeployment(dags=[DAGS / "it_budget.py"], config=config, home=home / "af") as dep:
        dep._token = _token(dep, "admin")
        dep.wait_dag("it_budget")
        yield dep


def _raw(af, method, path, body=None, auth=True, user="admin"):
    token = (af._token if user == "admin" else _token(af, user)) if auth else None
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    req = urllib.request.Request(f"http://127.0.0.1:{af.port}{path}", method=method, headers=headers,
                                 data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def _json(af, *args):
    out = af.airflow("ai-scheduler", *args, "-o", "json").stdout
    return json.loads(out[out.index(next(c for c in out if c in "[{")):])


def test_routes_need_a_login(af):
    for method, path, body in (("POST", "/ai-scheduler/api/predict_demand", {"dag_id": "it_budget"}),
                               ("POST", "/ai-scheduler/api/get_optimal_instance", {"duration_hours": 1}),
                               ("POST", "/ai-scheduler/api/allocate_budget", {}),
                               ("GET", "/ai-scheduler/api/budgets", None)):
        status, _ = _raw(af, method, path, body, auth=False)
        assert status == 401, (method, path, status)


def test_predict_demand_of_a_scheduled_dag_from_its_hints(af):
    status, out = _raw(af, "POST", "/ai-scheduler/api/predict_demand",
                       {"dag_id": "it_budget", "horizon_hours": 6, "metric": "vcpu_hours"})
    assert status == 200, out
    assert out["fallback"] and out["method"] == "schedule"  # < 72 h of history: scheduled runs × runtimes
    (s,) = out["series"]
    # hourly, three 20-minute tasks of 2 vCPUs each: 2 vCPU-hours an hour
    assert s["group"] == "it_budget" and s["total"] == pytest.approx(6 * 2.0, rel=0.2)
    status, out = _raw(af, "POST", "/ai-scheduler/api/predict_demand", {"dag_id": "it_budget", "levels": [120]})
    assert status == 422 and "levels" in json.dumps(out)


def test_optimal_instance_and_budgets_over_http(af):
    status, out = _raw(af, "POST", "/ai-scheduler/api/get_optimal_instance",
                       {"resources": {"vcpus": 2, "memory_gib": 4}, "duration_hours": 1, "top": 3})
    assert status == 200 and len(out["offers"]) == 3 and out["offers"][0]["rank"] == 1
    status, out = _raw(af, "POST", "/ai-scheduler/api/allocate_budget",
                       {"scope": "owner", "subject": "alice", "period": "day", "amount_usd": 0.05})
    assert status == 200 and out["updated_by"] == "admin", out
    status, out = _raw(af, "POST", "/ai-scheduler/api/allocate_budget",
                       {"scope": "owner", "subject": "alice", "period": "day", "amount_usd": 9}, user="viewer")
    assert status == 403, out  # a viewer may read budgets, not set them
    status, out = _raw(af, "GET", "/ai-scheduler/api/budgets", user="viewer")
    assert status == 200 and out[0]["amount_usd"] == 0.05
    status, out = _raw(af, "POST", "/ai-scheduler/api/allocate_budget",
                       {"scope": "owner", "subject": "alice", "period": "fortnight", "amount_usd": 1})
    assert status == 422 and out["detail"][0]["loc"][-1] == "period"
    status, out = _raw(af, "GET", "/ai-scheduler/api/budgets")
    assert status == 200 and [(b["scope"], b["subject"]) for b in out] == [("owner", "alice")]
    (b,) = out
    assert b["spent_usd"] >= 0.0 and b["window_start"] < b["window_end"]
    status, schema = _raw(af, "GET", "/ai-scheduler/openapi.json")
    assert status == 200 and "/api/allocate_budget" in schema["paths"]


def test_cli_sets_budgets_and_forecasts(af):
    af.airflow("ai-scheduler", "budget-set", "tag", "finance", "month", "10", "--policy", "fail")
    rows = {(b["scope"], b["subject"]): b for b in _json(af, "budgets")}
    assert rows[("tag", "finance")]["policy"] == "fail" and rows[("tag", "finance")]["spent_usd"] >= 0.0
    rep = _json(af, "forecast", "--hours", "4")
    assert rep["method"] == "schedule" and rep["sizing"]
    assert {s["fleet"] for s in rep["sizing"]} == {"local-spot", "local-on-demand"}
    assert all(s["recommended_now"] >= 0 and s["cost_usd"] >= 0 for s in rep["sizing"])
    bad = af.airflow("ai-scheduler", "forecast", "--fleet", "nope", check=False)
    assert bad.returncode != 0 and "no fleet named 'nope'" in bad.stderr


def _held_reasons(af, run_id):
    import urllib.parse

    q = urllib.parse.urlencode({"dag_id": "it_budget", "run_id": run_id, "event": "ai_scheduler.held", "limit": 100})
    return [e["extra"] or "" for e in af.api("GET", f"/api/v2/eventLogs?{q}")["event_logs"]]


def test_an_owners_daily_budget_holds_tasks_at_dispatch_until_it_is_raised(af):
    import time

    def set_budget(amount):
        status, out = _raw(af, "POST", "/ai-scheduler/api/allocate_budget",
                           {"scope": "owner", "subject": "alice", "period": "day", "amount_usd": amount})
        assert status == 200, out

    set_budget(0.0001)  # less than any task: all three wait, queued, with the reason
    time.sleep(6)  # the executor's budget gate re-reads budgets every couple of seconds
    run_id = af.trigger("it_budget")
    deadline = time.monotonic() + 120
    while len(_held_reasons(af, run_id)) < 3 and time.monotonic() < deadline:
        time.sleep(1)
    held = _held_reasons(af, run_id)
    assert len(held) == 3 and all("owner 'alice' daily budget $0.0001 " in r for r in held), held
    assert {t["state"] for t in af.task_instances("it_budget", run_id)} == {"queued"}
    cost = max(p["estimatedCost"] for p in stored_plan(af, "it_budget", run_id)["placements"])
    # the DAG is hourly: unpaused, it ran its latest interval at once, so alice has spent something today
    status, rows = _raw(af, "GET", "/ai-scheduler/api/budgets")
    spent = next(b["spent_usd"] for b in rows if (b["scope"], b["subject"]) == ("owner", "alice"))
    # room for two at once: two launch; the third counts them as committed and waits until their actual cost
    # (seconds of runtime) is in history, then fits and runs
    amount = float(f"{spent + 2.5 * cost:.6f}")
    set_budget(amount)
    try:
        state = af.wait_run("it_budget", run_id, timeout=180)
    except TimeoutError:
        state = "running"
    assert state == "success", (af.task_instances("it_budget", run_id), _held_reasons(af, run_id), "\n".join(
        ln[:400] for ln in af.logs("scheduler").splitlines()
        if any(w in ln.lower() for w in ("held", "budget", "error", "routed", "gate", "it_budget"))))
    raised = [r for r in _held_reasons(af, run_id) if f"daily budget ${amount:g} " in r]
    assert raised and "planned for tasks still running" in raised[0], _held_reasons(af, run_id)
    assert {t["try_number"] for t in af.task_instances("it_budget", run_id)} == {1}
