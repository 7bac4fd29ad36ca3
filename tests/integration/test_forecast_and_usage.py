"""The resource API behind the real api-server's auth, the forecast/budget commands, and measured usage,
right-sizing and anomaly flags, in one real Airflow on the local fleets (one deployment: their settings do
not differ in anything these tests look at; the usage test runs last, after the forecasts it would feed)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
from conftest import DAGS
from harness import history_store, stored_plan

from airflow_ai_scheduler.demo.deployment import LocalDeployment

USERS = {"admin": ("admin", "admin-pw"), "viewer": ("viewer", "viewer-pw")}
HOLD_MIB, BURN_CPU_SECONDS = 300, 2.0  # what it_usage's hog task does


def _token(af, user):
    req = urllib.request.Request(f"http://127.0.0.1:{af.port}/auth/token", method="POST",
                                 data=json.dumps({"username": user, "password": USERS[user][1]}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return str(json.loads(r.read())["access_token"])


@pytest.fixture(scope="module")
def af(tmp_path_factory, request):
    home = tmp_path_factory.mktemp("forecast-airflow")
    (home / "passwords.json").write_text(json.dumps({u: pw for u, (_, pw) in USERS.items()}))
    config = {"ai_scheduler.planner": "greedy", "core.simple_auth_manager_all_admins": "False",
              "core.simple_auth_manager_users": ",".join(f"{u}:{role}" for u, (role, _) in USERS.items()),
              "core.simple_auth_manager_passwords_file": str(home / "passwords.json")}
    # the default fleets: local-spot (4 slots) and local-on-demand (2)
    with LocalDeployment(dags=[DAGS / "it_budget.py", DAGS / "it_usage.py"], config=config, home=home / "af") as dep:
        dep._token = _token(dep, "admin")
        dep.wait_dag("it_budget")
        failed = request.session.testsfailed
        yield dep
        if request.session.testsfailed > failed:  # a test of this module failed: show the components' logs
            dep.print_logs(200)


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


# -- measured usage, right-sizing, anomalies (last: its runs add history) -----------------------------

@pytest.fixture(scope="module")
def store(af):
    """The deployment's history, read straight from its database (an ``airflow`` command per poll is slow)."""
    return history_store(af)


def _rows(store, run_id, n, timeout=90):
    """The run's history rows once ``n`` successful ones are written (rows are written off the scheduler loop)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = store.history("it_usage", run_id=run_id, limit=500)
        if sum(r["outcome"] == "success" for r in rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(1)


@pytest.mark.timeout(1500)  # three runs and two CLI calls; slow on a shared 2-core machine
def test_usage_is_recorded_rightsized_and_a_slow_try_is_flagged(af, store):
    runs = []
    for conf in ({}, {}, {"slow_index": 2}):
        run_id = af.trigger("it_usage", conf)
        state = af.wait_run("it_usage", run_id, timeout=400)
        if state != "success":
            af.print_logs(120)
            pytest.fail(f"run {run_id} {state}: " + ", ".join(
                f"{t['task_id']}[{t['map_index']}] {t['state']} try {t['try_number']}"
                for t in af.task_instances("it_usage", run_id)))
        runs.append((run_id, _rows(store, run_id, 7)))

    first = runs[0][1]
    ok = [r for r in first if r["outcome"] == "success"]
    assert len(ok) == 7 and all(r["peak_memory_mib"] and r["cpu_seconds"] is not None for r in ok)
    hog = next(r for r in first if r["task_id"] == "hog" and r["outcome"] == "success")
    # the task held 300 MiB on top of the task runner's own ~150-250 MiB, and burnt 2 CPU seconds
    assert HOLD_MIB <= hog["peak_memory_mib"] <= HOLD_MIB + 700, hog
    assert BURN_CPU_SECONDS * 0.95 <= hog["cpu_seconds"] <= BURN_CPU_SECONDS + 6, hog
    sleeper = next(r for r in first if r["task_id"] == "steady" and r["outcome"] == "success")
    assert sleeper["cpu_seconds"] < 1.0 and sleeper["peak_memory_mib"] < hog["peak_memory_mib"] - 200

    # rightsize: hog asked for 4 vCPUs and 16 GiB; it uses ~1 core and < 1 GiB
    (rep,) = _json(af, "rightsize", "it_usage")
    r = next(t for t in rep["tasks"] if t["task_id"] == "hog")
    assert r["verdict"] == "over-requested" and r["measured"]["tries"] == 3
    assert r["recommended"]["memoryGib"] < 16 and r["recommended"]["vcpus"] < 4
    assert r["saving_per_run_usd"] > 0 and r["recommended_offer"] != r["requested_offer"]

    # the slow instance of the third run is flagged in its row, the scheduler log and the anomalies list
    slow = next(x for x in runs[2][1] if x["task_id"] == "steady" and x["map_index"] == 2 and x["outcome"] == "success")
    assert slow["anomaly"] and "runtime_high" in slow["anomaly"], slow
    assert "ai-scheduler anomaly: it_usage/steady/" in af.logs("scheduler")
    from airflow_ai_scheduler.airflow.usage_api import recent_anomalies

    flagged = recent_anomalies("it_usage", store=store)
    assert any(a.run_id == runs[2][0] and a.map_index == 2 and "runtime_high" in a.flags for a in flagged)

    # the ranking of the fleets for hog uses its history
    s = _json(af, "rank", "it_usage", "hog")
    assert s["evidence"] == "history" and s["samples"] == 3 and s["profile"]["source"] == "measured"
    assert {o["offer_id"] for o in s["offers"]} == {"local-spot", "local-on-demand"}
