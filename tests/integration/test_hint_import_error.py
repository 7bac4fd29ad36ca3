"""A malformed placement hint, as a user sees it: a real dag-processor records an import error naming the
DAG, the task and the field (REST API ``/api/v2/importErrors``, what the UI shows), and the file's other
DAG still loads."""

from __future__ import annotations

import time
import urllib.error

import pytest

from airflow_ai_scheduler.demo.deployment import LocalDeployment

pytestmark = pytest.mark.integration

DAG_FILE = '''
from datetime import datetime, timedelta

from airflow.sdk import dag, task

from airflow_ai_scheduler.airflow.hints import placement


@dag(schedule=None, start_date=datetime(2026, 1, 1))
def hint_typo():
    @task(executor_config=placement(deadline=timedelta(hours=1)))
    def extract():
        pass

    @task(executor_config={"ai_scheduler": {"tiers": ["spot", "preemptible"]}})
    def train():
        pass

    extract() >> train()


hint_typo()


@dag(schedule=None, start_date=datetime(2026, 1, 1))
def hint_ok():
    @task(executor_config=placement(tiers=("spot",), priority=2))
    def train():
        pass

    train()


hint_ok()
'''


def test_dag_processor_reports_the_bad_hint_as_an_import_error(tmp_path):
    path = tmp_path / "hint_dags.py"
    path.write_text(DAG_FILE)
    af = LocalDeployment(dags=[path], executor="LocalExecutor")
    try:
        af.start(components=("api-server", "dag-processor"))
        af.wait_dag("hint_ok")
        deadline, errors = time.monotonic() + 120, []
        while time.monotonic() < deadline and not errors:
            errors = [e for e in af.import_errors() if e["filename"].endswith("hint_dags.py")]
            time.sleep(1)
        assert len(errors) == 1, af.import_errors()
        trace = errors[0]["stack_trace"]
        assert "AirflowClusterPolicyViolation" in trace
        assert "DAG 'hint_typo'" in trace and "task 'train'" in trace and "field 'tiers[1]'" in trace
        with pytest.raises(urllib.error.HTTPError) as missing:
            af.api("GET", "/api/v2/dags/hint_typo")
        assert missing.value.code == 404
    except BaseException:
        af.print_logs()
        raise
    finally:
        af.stop()
