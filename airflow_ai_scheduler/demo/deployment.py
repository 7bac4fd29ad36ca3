"""A real, throw-away Airflow 3 deployment on this machine: api-server, scheduler and dag-processor as
subprocesses of one temporary AIRFLOW_HOME, with this provider's executor. Used by the demo
(``python -m airflow_ai_scheduler.demo``) and by the integration tests.

Every process starts in its own process group and is killed on exit, even when the caller fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

EXECUTOR = "airflow_ai_scheduler.airflow.executor.AiSchedulerExecutor"
COMPONENTS = ("api-server", "scheduler", "dag-processor")
#: seconds a connection to the embedded SQLite database waits for another writer before "database is locked"
SQLITE_BUSY_TIMEOUT_SECONDS = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalDeployment:
    """``with LocalDeployment(dags=[...]) as af: run_id = af.trigger("dag"); af.wait(...)``"""

    def __init__(self, dags: Iterable[str | Path] = (), *, executor: str = EXECUTOR, database_url: str | None = None,
                 config: Mapping[str, str] | None = None, home: str | Path | None = None,
                 keep: bool = False, host: str = "127.0.0.1", port: int | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self.home = Path(home or tempfile.mkdtemp(prefix="ai-scheduler-airflow-"))
        self.dags_folder = self.home / "dags"
        self.dags_folder.mkdir(parents=True, exist_ok=True)
        for d in dags:
            shutil.copy(d, self.dags_folder / Path(d).name)
        self.host = host  # the api-server's bind address: loopback unless asked otherwise
        self.port = port or free_port()
        self.keep = keep
        self.procs: dict[str, subprocess.Popen] = {}
        self._pg_admin_url: str | None = None
        self.database_url = self._database(database_url)
        self.env = {**self._environment(executor, config or {}), **(env or {})}

    # -- set-up --------------------------------------------------------------------------------------
    def _database(self, url: str | None) -> str:
        if not url:
            # SQLite lets one writer in at a time; the scheduler, the dag-processor and the api-server all write,
            # and Python's default 5-s wait for the lock is short on a busy 2-core machine: a scheduler that
            # gets "database is locked" exits. Wait up to a minute instead (pysqlite's ``timeout``).
            return f"sqlite:///{self.home / 'airflow.db'}?timeout={SQLITE_BUSY_TIMEOUT_SECONDS}"
        # a fresh database per deployment on the given server
        from sqlalchemy import create_engine, text

        name = f"af_{uuid.uuid4().hex[:12]}"
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f"CREATE DATABASE {name}"))
        admin.dispose()
        self._pg_admin_url = url
        self._pg_db = name
        return url.rsplit("/", 1)[0] + f"/{name}"

    def _environment(self, executor: str, config: Mapping[str, str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        base = {
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.database_url,
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{self.port}",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex,
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_SEC": "2",
            # a new DAG file is found within 3 s and parsed at once; a parsed one is parsed again after Airflow's
            # default 30 s (every 5 s, re-parsing the files cost a fifth of a core per deployment, all the time)
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "3",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__API__EXPOSE_CONFIG": "False",
        }
        env.update(base)
        for key, value in config.items():  # "section.option": value
            section, option = key.split(".", 1)
            env[f"AIRFLOW__{section.upper()}__{option.upper()}"] = value
        return env

    def write_passwords(self, passwords: Mapping[str, str]) -> None:
        """Fix the simple auth manager's passwords (it generates random ones for users missing here)."""
        path = self.home / "simple_auth_manager_passwords.json"
        path.write_text(json.dumps(dict(passwords)))
        path.chmod(0o600)
        self.env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] = str(path)

    # -- lifecycle -----------------------------------------------------------------------------------
    def airflow(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "airflow", *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} exited with {done.returncode}:\n{done.stderr[-4000:]}")
        return done

    def start(self, components: Iterable[str] = COMPONENTS) -> LocalDeployment:
        self.airflow("db", "migrate")
        for c in components:
            self.start_component(c)
        self.wait_healthy()
        return self

    def start_component(self, name: str, args: Sequence[str] | None = None,
                        env: Mapping[str, str] | None = None) -> subprocess.Popen:
        """Start ``airflow <name>`` (or ``airflow <args>``, e.g. a celery worker, with extra ``env``)."""
        if args is None:
            args = ["api-server", "--port", str(self.port), "--host", self.host] if name == "api-server" else [name]
        log = open(self.home / f"{name}.log", "ab")  # noqa: SIM115 - kept open for the process' life
        self.procs[name] = subprocess.Popen([sys.executable, "-m", "airflow", *args],
                                            env={**self.env, **(env or {})}, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        return self.procs[name]

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        p = self.procs.pop(name, None)
        if p is None:
            return
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=10)

    def restart(self, name: str) -> None:
        self.kill(name)
        self.start_component(name)

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM every process group at once, SIGKILL what is left after ``grace`` seconds; a second
        Ctrl-C (or the terminal closing) while this runs is ignored, so no process is left behind."""
        previous = {}
        for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
            try:
                previous[sig] = signal.signal(sig, signal.SIG_IGN)
            except ValueError:  # not the main thread: nothing to protect
                pass
        try:
            self._stop_all(grace)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop_all(self, grace: float) -> None:
        procs, self.procs = self.procs, {}
        for p in procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for p in procs.values():
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)  # also the group's children (workers, gunicorn/uvicorn)
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=10)
        if self._pg_admin_url:
            from sqlalchemy import create_engine, text

            admin = create_engine(self._pg_admin_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f"DROP DATABASE IF EXISTS {self._pg_db} WITH (FORCE)"))
            admin.dispose()
        if not self.keep:
            shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> LocalDeployment:
        try:
            return self.start()
        except BaseException:
            self.print_logs()
            self.stop()
            raise

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.print_logs()
        self.stop()

    def logs(self, name: str) -> str:
        path = self.home / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def print_logs(self, lines: int = 60) -> None:
        for name in dict.fromkeys([*COMPONENTS, *self.procs]):
            tail = self.logs(name).splitlines()[-lines:]
            if tail:
                print(f"----- {name} (last {len(tail)} lines) -----\n" + "\n".join(tail), file=sys.stderr)

    # -- REST API ------------------------------------------------------------------------------------
    def api(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json", **self._auth()})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    def login(self, username: str, password: str) -> str:
        """Log in as a user of the simple auth manager; later API calls use this user's token."""
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/auth/token", method="POST",
                                     data=json.dumps({"username": username, "password": password}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            self._token = str(json.loads(r.read())["access_token"])
        return self._token

    def _auth(self) -> dict[str, str]:
        token = getattr(self, "_token", None)
        if token is None:
            req = urllib.request.Request(f"http://127.0.0.1:{self.port}/auth/token", method="GET")
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    token = json.loads(r.read())["access_token"]
            except (urllib.error.URLError, KeyError, ValueError):
                return {}
            self._token = token
        return {"Authorization": f"Bearer {token}"}

    def wait_healthy(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            for name, p in self.procs.items():
                if p.poll() is not None:
                    raise RuntimeError(f"airflow {name} exited with {p.returncode}:\n{self.logs(name)[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/v2/monitor/health", timeout=5) as r:
                    last = json.loads(r.read())
                if all((last.get(k) or {}).get("status") == "healthy"
                       for k in ("metadatabase", "scheduler", "dag_processor")
                       if k.replace("_", "-") in self.procs or k == "metadatabase"):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
                pass
            time.sleep(1)
        raise TimeoutError(f"Airflow did not become healthy in {timeout} s: {last}")

    def wait_dag(self, dag_id: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.api("GET", f"/api/v2/dags/{dag_id}")
                return
            except urllib.error.HTTPError:
                time.sleep(1)
        raise TimeoutError(f"DAG {dag_id} was not parsed in {timeout} s; import errors: {self.import_errors()}")

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        self.wait_dag(dag_id)
        self.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        run = self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": dict(conf or {})})
        return str(run["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 300) -> str:
        deadline = time.monotonic() + timeout
        state = "?"
        while time.monotonic() < deadline:
            try:
                state = self.run_state(dag_id, run_id)
            except (urllib.error.URLError, OSError):  # refused, reset, or a read timeout under load
                state = "api unavailable"
            if state in ("success", "failed"):
                return state
            time.sleep(1)
        raise TimeoutError(f"run {dag_id}/{run_id} still {state} after {timeout} s")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return list(self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=1000")
                    ["task_instances"])

    def xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1, key: str = "return_value") -> Any:
        value = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/"
                                f"{key}?map_index={map_index}&deserialize=true")["value"]
        return json.loads(value) if isinstance(value, str) and value[:1] in "[{" else value

    def import_errors(self) -> list[dict[str, Any]]:
        return list(self.api("GET", "/api/v2/importErrors")["import_errors"])
