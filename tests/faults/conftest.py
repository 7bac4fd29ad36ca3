"""The fault matrix: one real Airflow 3.3 on PostgreSQL (api-server, scheduler, dag-processor, triggerer)
shared by every fault case, a fake LLM endpoint on 127.0.0.1, an auth manager that really restricts a user.

Each test names its fault with the ``fault`` fixture and may add the user-visible result; the table of
(fault, result) is printed at the end of the run, and written as Markdown to the file named by
``AI_SCHEDULER_FAULT_TABLE`` (docs/reliability.md keeps a dated copy).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_ai_scheduler.demo.deployment import LocalDeployment, free_port

HERE = Path(__file__).parent
DAGS = HERE / "dags"
sys.path.insert(0, str(HERE))
from fakellm import FakeLLM  # noqa: E402

PASSWORDS = {"admin": "admin-pass-faults", "outsider": "outsider-pass-faults"}
FINAL = {"success", "failed", "skipped", "upstream_failed", "removed"}
_TABLE: list[tuple[str, str, str]] = []  # (fault, outcome, detail)


def pytest_collection_modifyitems(items):
    for item in items:
        if f"{os.sep}faults{os.sep}" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


# -- the summary table ----------------------------------------------------------------------------------

class Fault:
    def __init__(self, node: Any) -> None:
        self.node = node

    def __call__(self, name: str) -> Fault:
        self.node._fault_name = name
        return self

    def result(self, text: str) -> None:
        self.node._fault_detail = text


@pytest.fixture
def fault(request) -> Fault:
    return Fault(request.node)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    name = getattr(item, "_fault_name", None)
    if name is None or "faults" not in str(item.fspath):
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        if hasattr(report, "wasxfail"):
            result = "xfail" if report.skipped else "XPASS (flip the xfail)"
            detail = report.wasxfail
        else:
            result = {"passed": "pass", "failed": "FAIL", "skipped": "skipped"}[report.outcome]
            detail = getattr(item, "_fault_detail", "")
            if report.failed:
                detail = (str(report.longrepr).strip().splitlines() or [""])[-1][:160]
        _TABLE.append((name, result, detail))


def fault_table_markdown() -> str:
    lines = ["| fault | result | what the user sees / why |", "|---|---|---|"]
    lines += [f"| {f} | {r} | {d.replace('|', '/')} |" for f, r, d in _TABLE]
    return "\n".join(lines)


def pytest_terminal_summary(terminalreporter):
    if not _TABLE:
        return
    terminalreporter.section(f"fault matrix ({datetime.now(timezone.utc):%Y-%m-%d})")
    width = max(len(f) for f, _, _ in _TABLE)
    for f, r, d in _TABLE:
        terminalreporter.write_line(f"{f:<{width}}  {r:<6}  {d}")
    path = os.environ.get("AI_SCHEDULER_FAULT_TABLE")
    if path:
        Path(path).write_text(f"Fault matrix, {datetime.now(timezone.utc):%Y-%m-%d}\n\n{fault_table_markdown()}\n")


# -- the deployment -------------------------------------------------------------------------------------

class FaultsDeployment(LocalDeployment):
    """LocalDeployment with real users: the harness acts as ``admin``; tests get tokens per user."""

    llm: FakeLLM

    def token(self, user: str) -> str:
        """A JWT for ``user`` (cached: tokens live longer than the matrix runs)."""
        cache = self.__dict__.setdefault("_tokens", {})
        if user not in cache:
            body = json.dumps({"username": user, "password": PASSWORDS[user]}).encode()
            req = urllib.request.Request(f"http://127.0.0.1:{self.port}/auth/token", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
            for attempt in range(4):
                try:
                    with urllib.request.urlopen(req, timeout=60) as r:
                        cache[user] = str(json.loads(r.read())["access_token"])
                    break
                except (urllib.error.URLError, TimeoutError, ConnectionError):
                    if attempt == 3:
                        raise
                    time.sleep(2 * (attempt + 1))
        return str(cache[user])

    def _auth(self) -> dict[str, str]:
        if getattr(self, "_token", None) is None:
            try:
                self._token = self.token("admin")
            except (urllib.error.URLError, KeyError, ValueError):
                return {}
        return {"Authorization": f"Bearer {self._token}"}

    def api(self, method: str, path: str, body: Any = None, timeout: float = 60) -> Any:
        """The REST API, patient with an api-server slowed by a loaded machine: a request that times out or
        cannot connect is tried again (a trigger carries its own run id, so a retry cannot run it twice)."""
        for attempt in range(4):
            try:
                return super().api(method, path, body, timeout)
            except urllib.error.HTTPError as exc:
                if exc.code == 409 and method == "POST" and attempt:  # the first try got through
                    return body
                raise
            except (urllib.error.URLError, TimeoutError, ConnectionError):
                if attempt == 3:
                    raise
                time.sleep(2 * (attempt + 1))
        raise AssertionError("unreachable")

    def trigger(self, dag_id: str, conf: Any = None) -> str:
        self.wait_dag(dag_id)
        self.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        run_id = f"fault__{dag_id}__{uuid.uuid4().hex[:12]}"
        run = self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns",
                       {"dag_run_id": run_id, "logical_date": None, "conf": dict(conf or {})})
        return str(run["dag_run_id"])

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """All the run's task instances (the API gives at most [api] maximum_page_limit, 100, a page)."""
        out: list[dict[str, Any]] = []
        while True:
            page = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances"
                                   f"?limit=100&offset={len(out)}&order_by=id")
            out += page["task_instances"]
            if not page["task_instances"] or len(out) >= page["total_entries"]:
                return out

    def http(self, path: str, token: str | None = None, method: str = "GET") -> tuple[int, str]:
        """(status, body) of a request to the api-server, with ``token`` as the Bearer token (or none)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method, headers=headers)
        for attempt in range(4):
            try:
                with urllib.request.urlopen(req, timeout=60) as r:
                    return r.status, r.read().decode(errors="replace")
            except urllib.error.HTTPError as exc:
                return exc.code, exc.read().decode(errors="replace")
            except (urllib.error.URLError, TimeoutError, ConnectionError):
                if attempt == 3:
                    raise
                time.sleep(2 * (attempt + 1))
        raise AssertionError("unreachable")

    # -- what tests assert on -------------------------------------------------------------------------
    def history(self, dag_id: str, run_id: str | None = None) -> list[dict[str, Any]]:
        """Every history row of the DAG (or run), read from the database (no API limit)."""
        from sqlalchemy import create_engine, select

        from airflow_ai_scheduler.history.tables import task_history as h

        engine = getattr(self, "_engine", None) or create_engine(self.database_url)
        self._engine = engine
        q = select(h).where(h.c.dag_id == dag_id)
        if run_id:
            q = q.where(h.c.run_id == run_id)
        with engine.connect() as c:
            return [dict(r) for r in c.execute(q.order_by(h.c.id)).mappings()]

    def sql(self, statement: str) -> None:
        from sqlalchemy import create_engine, text

        engine = getattr(self, "_engine", None) or create_engine(self.database_url)
        self._engine = engine
        with engine.begin() as c:
            c.execute(text("SET lock_timeout = '20s'"))
            c.execute(text(statement))

    def wait_history(self, dag_id: str, run_id: str, predicate: Any, timeout: float = 90) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        rows: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            rows = self.history(dag_id, run_id)
            if predicate(rows):
                return rows
            time.sleep(1)
        raise AssertionError(f"history of {dag_id}/{run_id} did not settle in {timeout} s: "
                             f"{[(r['task_id'], r['map_index'], r['try_number'], r['outcome']) for r in rows]}")

    def clean_run(self, dag_id: str, run_id: str, timeout: float = 240, max_try: int = 1) -> list[dict[str, Any]]:
        """Wait for the run; assert no task lost (every TI final), none stuck, none run twice (try ≤ max_try)."""
        state = self.wait_run(dag_id, run_id, timeout=timeout)
        tis = self.task_instances(dag_id, run_id)
        stuck = [(t["task_id"], t["map_index"], t["state"]) for t in tis if t["state"] not in FINAL]
        assert not stuck, f"{dag_id}/{run_id} ended {state} with task instances not final: {stuck}"
        again = [(t["task_id"], t["map_index"], t["try_number"]) for t in tis if t["try_number"] > max_try]
        assert not again, f"{dag_id}/{run_id}: task instances ran more than {max_try} time(s): {again}"
        assert state == "success", f"{dag_id}/{run_id} ended {state}: {[(t['task_id'], t['state']) for t in tis]}"
        return tis

    def report(self, dag_id: str, run_id: str) -> dict[str, Any]:
        status, body = self.http(f"/ai-scheduler/api/runs/{dag_id}/{run_id}", self.token("admin"))
        assert status == 200, (status, body[:300])
        return dict(json.loads(body))

    def wait_report(self, dag_id: str, run_id: str, predicate: Any, timeout: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        rep: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status, body = self.http(f"/ai-scheduler/api/runs/{dag_id}/{run_id}", self.token("admin"))
            rep = json.loads(body) if status == 200 else {}
            if rep and predicate(rep):
                return rep
            time.sleep(1)
        raise AssertionError(f"report of {dag_id}/{run_id} not ready in {timeout} s: {str(rep)[:400]}")


def median_first_start(af: FaultsDeployment, dag_id: str, run_ids: list[str]) -> float:
    """Median seconds from a run's queued time to its first task's start."""
    waits = []
    for run_id in run_ids:
        run = af.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
        first = min(datetime.fromisoformat(t["start_date"]) for t in af.task_instances(dag_id, run_id)
                    if t["start_date"])
        waits.append((first - datetime.fromisoformat(run["queued_at"])).total_seconds())
    return statistics.median(waits)


#: the matrix's running deployment: stopped after its last test rather than at the end of the session, where
#: a session fixture would end (it would load the machine through every test after it)
_LIVE: list[Any] = []


def pytest_runtest_teardown(item, nextitem):
    if nextitem is not None and Path(str(nextitem.fspath)).parent == HERE:
        return
    while _LIVE:
        af = _LIVE.pop()
        af.stop()  # idempotent: the fixture's own exit finds nothing left to stop
        af.llm.stop()


@pytest.fixture(scope="session")
def faults_af(tmp_path_factory):
    url = os.environ.get("AI_SCHEDULER_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("AI_SCHEDULER_REQUIRE_POSTGRES"):
            pytest.fail("AI_SCHEDULER_TEST_POSTGRES_URL is not set but PostgreSQL is required")
        pytest.skip("the fault matrix runs on PostgreSQL (scripts/test.sh starts one)")
    llm = FakeLLM(free_port()).start()
    secrets = tmp_path_factory.mktemp("auth") / "passwords.json"
    secrets.write_text(json.dumps(PASSWORDS))
    config = {
        "ai_scheduler.planner": "greedy",
        "ai_scheduler.planner_time_limit_seconds": "3",
        "ai_scheduler.llm_conn_id": "fake_llm",
        "ai_scheduler.llm_timeout_seconds": "4",
        "core.auth_manager": "authmgr.FaultsAuthManager",
        "core.simple_auth_manager_all_admins": "False",
        "core.simple_auth_manager_users": "admin:admin,outsider:viewer",
        "core.simple_auth_manager_passwords_file": str(secrets),
        "core.parallelism": "64",
        "scheduler.orphaned_tasks_check_interval": "10",
        "scheduler.scheduler_health_check_threshold": "20",
        "scheduler.task_queued_timeout": "120",
        "workers.execution_api_timeout": "30",  # a loaded 2-core CI machine: the api-server answers slowly
    }
    af = FaultsDeployment(dags=sorted(DAGS.glob("*.py")), database_url=url, config=config,
                          keep=bool(os.environ.get("AI_SCHEDULER_KEEP_AIRFLOW_HOME")))
    af.llm = llm
    af.env["PYTHONPATH"] = os.pathsep.join([str(HERE), af.env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    af.env["AIRFLOW_CONN_FAKE_LLM"] = json.dumps({
        "conn_type": "pydanticai", "password": "AIzaFAKE-fault-matrix-000000000000000000",
        "host": f"http://127.0.0.1:{llm.port}", "extra": {"model": "google:gemini-2.5-flash"}})
    try:
        with af:
            af.start_component("triggerer")
            _LIVE.append(af)
            yield af
    finally:
        llm.stop()
