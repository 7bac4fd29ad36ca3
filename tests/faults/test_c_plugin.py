"""The plugin's endpoints × {no token, a bad token, a user who may not read the DAG}, and bad query values."""

from __future__ import annotations

import pytest

SECRET = "f_secret"
UI = "helper ui, issue 19"
XFAIL_LISTS = pytest.mark.xfail(strict=True, reason=f"item 2: lists are not filtered by DAG access ({UI})")
XFAIL_DOCS = pytest.mark.xfail(strict=True, reason=f"item 7: /docs, /redoc, /openapi.json answer without a login ({UI})")
XFAIL_LIMIT = pytest.mark.xfail(strict=True, reason=f"item 3: limit is not validated ({UI})")


@pytest.fixture(scope="module")
def secret_run(faults_af):
    af = faults_af
    run_id = af.trigger(SECRET)
    af.clean_run(SECRET, run_id)
    af.wait_history(SECRET, run_id, lambda rows: len(rows) == 3)
    return run_id


def _paths(run_id: str) -> dict[str, str]:
    return {
        "run page": f"/ai-scheduler/runs/{SECRET}/{run_id}",
        "run report": f"/ai-scheduler/api/runs/{SECRET}/{run_id}",
        "LLM exchange": f"/ai-scheduler/api/runs/{SECRET}/{run_id}/llm-exchange",
        "history page": f"/ai-scheduler/history/{SECRET}",
        "history API": f"/ai-scheduler/api/history/{SECRET}",
        "index page": "/ai-scheduler/",
        "run list": "/ai-scheduler/api/runs",
        "run list of the DAG": f"/ai-scheduler/api/runs?dag_id={SECRET}",
        "fleets": "/ai-scheduler/api/fleets",
        "/docs": "/ai-scheduler/docs",
        "/redoc": "/ai-scheduler/redoc",
        "/openapi.json": "/ai-scheduler/openapi.json",
    }


DAG_SCOPED = ["run page", "run report", "LLM exchange", "history page", "history API"]
LISTS = ["index page", "run list", "run list of the DAG"]
DOCS = ["/docs", "/redoc", "/openapi.json"]
CASES = ([pytest.param(e, who, id=f"{e}-{who}") for e in DAG_SCOPED + LISTS + ["fleets"]
          for who in ("no token", "bad token")]
         + [pytest.param(e, who, id=f"{e}-{who}", marks=XFAIL_DOCS) for e in DOCS for who in ("no token", "bad token")]
         + [pytest.param(e, "outsider", id=f"{e}-outsider") for e in DAG_SCOPED + ["fleets"] + DOCS]
         + [pytest.param(e, "outsider", id=f"{e}-outsider", marks=XFAIL_LISTS) for e in LISTS])


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
    else:  # lists, fleets, docs: allowed, without the hidden DAG
        assert status == 200, (status, body[:200])
        assert SECRET not in body and secret_run not in body
        fault.result("HTTP 200 without the hidden DAG")


BAD_QUERIES = [
    pytest.param("/ai-scheduler/api/history/f_chain?limit=abc", id="limit=abc"),
    pytest.param("/ai-scheduler/api/history/f_chain?limit=-1", id="history limit=-1", marks=XFAIL_LIMIT),
    pytest.param("/ai-scheduler/api/history/f_chain?limit=1000000000", id="history limit=1e9", marks=XFAIL_LIMIT),
    pytest.param("/ai-scheduler/api/runs?limit=-1", id="runs limit=-1", marks=XFAIL_LIMIT),
    pytest.param("/ai-scheduler/api/runs?limit=1000000000", id="runs limit=1e9", marks=XFAIL_LIMIT),
    pytest.param("/ai-scheduler/history/f_chain?limit=-5", id="history page limit=-5", marks=XFAIL_LIMIT),
]


@pytest.mark.parametrize("path", BAD_QUERIES)
def test_bad_query_values_are_422(faults_af, fault, path):
    fault(f"bad query value {path.rsplit('?', 1)[1]} on {path.split('?')[0].replace('/ai-scheduler', '')}")
    status, body = faults_af.http(path, faults_af.token("admin"))
    assert status == 422, (status, body[:200])
    fault.result("HTTP 422 naming the parameter")


def test_hostile_ids_in_urls_are_escaped_not_errors(faults_af, fault):
    fault("HTML and odd characters in URL ids")
    af = faults_af
    token = af.token("admin")
    for path in ("/ai-scheduler/runs/%3Cscript%3Ealert(1)%3C%2Fscript%3E/x", "/ai-scheduler/history/%3Cb%3Ex",
                 "/ai-scheduler/api/runs/f_chain/%27%3B%20DROP%20TABLE%20dag%3B--"):
        status, body = af.http(path, token)
        assert status in (200, 403, 404), (path, status, body[:200])
        assert "<script>" not in body and "<b>x" not in body
    assert af.api("GET", "/api/v2/dags/f_chain")["dag_id"] == "f_chain"  # the database is intact
    fault.result("200/404 with the ids escaped; no error, no injection")
