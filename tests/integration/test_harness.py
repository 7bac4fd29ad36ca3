"""The harness itself, with the stock LocalExecutor: a real run succeeds on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from harness import AirflowDeployment

DAG = Path(__file__).parent / "dags" / "it_harness.py"


def _postgres_url() -> str:
    url = os.environ.get("AI_SCHEDULER_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("AI_SCHEDULER_REQUIRE_POSTGRES"):
            pytest.fail("AI_SCHEDULER_TEST_POSTGRES_URL is not set but PostgreSQL is required")
        pytest.skip("no PostgreSQL: set AI_SCHEDULER_TEST_POSTGRES_URL (scripts/test.sh starts one)")
    return url


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_two_task_dag_succeeds_with_local_executor(backend):
    url = _postgres_url() if backend == "postgres" else None
    with AirflowDeployment(dags=[DAG], executor="LocalExecutor", database_url=url) as af:
        assert af.database_url.startswith("postgresql" if url else "sqlite")
        run_id = af.trigger_dag("it_harness")
        assert af.wait_for_run("it_harness", run_id, timeout=180) == "success"
        states = {ti["task_id"]: ti["state"] for ti in af.task_instances("it_harness", run_id)}
        assert states == {"write": "success", "read": "success"}
        path = af.xcom("it_harness", run_id, "write")
        assert Path(path).read_text() == "written by it_harness"
        assert af.xcom("it_harness", run_id, "read") == len("written by it_harness")
        assert af.import_errors() == []
