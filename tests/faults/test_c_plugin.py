"""The plugin's endpoints × {no token, a bad token, a user who may not read the DAG}, and bad query values."""

from __future__ import annotations

import pytest

SECRET = "f_secret"
@pytest.fixture(scope="module")
def secret_run(faults_af):
    af = faults_af
    run_id = af.trigger(SECRET)
    af.clean_run(SECRET, run_id)
    af.wait_history(SECRET, run_id, lambda rows: len(rows) == 3)
    return run_id


def _paths(run_id: str) -> dict[str, str]:
    return {
        "run view": f"/ai-scheduler/api/runs/{SECRET}/{run_id}",
        "LLM exchange": f"/ai-scheduler/api/runs/{SECRET}/{run_id}/llm-exchange",
        "approval": f"/ai-scheduler/api/runs/{SECRET}/{run_id}/approval",
        "history": f"/ai-scheduler/api/history/{SECRET}",
        "rightsize": f"/ai-scheduler/api/dags/{SECRET}/rightsize",
        "anomalies": f"/ai-scheduler/api/dags/{SECRET}/anomalies",
        "run list": "/ai-scheduler/api/runs",
        "run list of the DAG": f"/ai-scheduler/api/runs?dag_id={SECRET}",
        "approvals": "/ai-scheduler/api/approvals",
        "fleets": "/ai-scheduler/api/fleets",
        "/docs": "/ai-scheduler/docs",
        "/redoc": "/ai-scheduler/redoc",
        "/openapi.json": "/ai-scheduler/openapi.json",
    }


DAG_SCOPED = ["run view", "LLM exchange", "approval", "history", "rightsize", "anomalies"]
LISTS = ["run list", "run list of the DAG", "approvals"]
OTHER = ["fleets", "/docs", "/redoc", "/openapi.json"]
CASES = [pytest.param(e, who, id=f"{e}-{who}") for e in DAG_SCOPED + LISTS + OTHER
         for who in ("no token", "bad token", "outsider")]


@pytest.mark.parametrize("endpoint,who", CASES)
def test_plugin_access(faults_af, secret_run, fault, endpoint, who):
    fault(f"plugin {endpoint}: {who}")
    af = faults_af
    path = _paths(secret_run)[endpoint]
    token = {"no token": None, "bad token": af.token("admin")[:-6] + "AAAAAA",
             "outsider": af.token("outsider")}[who]
    status, body = af.http(path, token)
    assert status < 500, (status, body[:300])
    if who in ("no token", "bad token"):
        assert status in (401, 403), (status, body[:200])
        assert secret_run not in body
        fault.result(f"HTTP {status}")
    elif endpoint in DAG_SCOPED:
        assert status in (403, 404), (status, body[:200])
        assert secret_run not in body
        fault.result(f"HTTP {status}")
    else:  # lists, fleets, docs: allowed, without the hidden DAG's runs
        assert status == 200, (status, body[:200])
        assert secret_run not in body and (endpoint not in LISTS or SECRET not in body)
        fault.result("HTTP 200 without the hidden DAG")


BAD_QUERIES = [
    pytest.param("/ai-scheduler/api/history/f_chain?limit=abc", id="limit=abc"),
    pytest.param("/ai-scheduler/api/history/f_chain?limit=-1", id="history limit=-1"),
    pytest.param("/ai-scheduler/api/history/f_chain?limit=1000000000", id="history limit=1e9"),
    pytest.param("/ai-scheduler/api/history/f_chain?offset=-3", id="history offset=-3"),
    pytest.param("/ai-scheduler/api/runs?limit=-1", id="runs limit=-1"),
    pytest.param("/ai-scheduler/api/runs?limit=1000000000", id="runs limit=1e9"),
    pytest.param("/ai-scheduler/api/runs?dag_id=" + "d" * 300, id="runs dag_id too long"),
]


@pytest.mark.parametrize("path", BAD_QUERIES)
def test_bad_query_values_are_422(faults_af, fault, path):
    fault(f"bad query value {path.rsplit('?', 1)[1][:20]} on {path.split('?')[0].replace('/ai-scheduler', '')}")
    status, body = faults_af.http(path, faults_af.token("admin"))
    assert status == 422, (status, body[:200])
    fault.result("HTTP 422 naming the parameter")


def test_hostile_ids_in_urls_are_escaped_not_errors(faults_af, fault):
    fault("HTML and odd characters in URL ids")
    af = faults_af
    token = af.token("admin")
    for path in ("/ai-scheduler/api/runs/%3Cscript%3Ealert(1)%3C%2Fscript%3E/x", "/ai-scheduler/api/history/%3Cb%3Ex",
                 "/ai-scheduler/api/runs/f_chain/%27%3B%20DROP%20TABLE%20dag%3B--"):
        status, body = af.http(path, token)
        assert status in (200, 403, 404, 422), (path, status, body[:200])
        assert body.lstrip().startswith("{")  # JSON, never HTML that a browser would render
    assert af.api("GET", "/api/v2/dags/f_chain")["dag_id"] == "f_chain"  # the database is intact
    fault.result("404 or an empty list, as JSON; no error, no injection")
