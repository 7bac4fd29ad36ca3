"""Integration tests: a real Airflow 3.3 (api-server, scheduler, dag-processor as subprocesses)."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from harness import stop_after_last_use, stop_unused_deployments

from airflow_ai_scheduler.demo.deployment import LocalDeployment

DAGS = Path(__file__).parent / "dags"
#: the window the it_window DAG waits for opens this long after the deployment starts; its run is triggered as
#: soon as the deployment is up and checked by the module's last test, so the wait overlaps the other tests
WINDOW_AFTER_SECONDS = 130
QUEUED_TIMEOUT_SECONDS = 25


def fleets(window_at: datetime) -> str:
    base = {"provider": "aws", "instance_type": "m6i.xlarge"}
    return json.dumps([
        {**base, "name": "local-spot", "region": "us-east-1", "tier": "spot", "slots": 4},
        {**base, "name": "local-on-demand", "region": "us-east-1", "tier": "on-demand", "slots": 2},
        {**base, "name": "flaky-spot", "region": "us-west-2", "tier": "spot", "slots": 2,
         "options": {"preempt_after_seconds": 3, "preempt_max": 1}},
        {**base, "name": "night-spot", "region": "eu-west-1", "tier": "spot", "slots": 1,
         "price_schedule": [{"from": window_at.isoformat(), "price_per_hour": 0.001}]},
    ])


def pytest_collection_modifyitems(items):
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


def pytest_runtest_teardown(item, nextitem):
    stop_unused_deployments(item)


@pytest.fixture(scope="module")
def airflow_sqlite(request):
    window_at = datetime.now(timezone.utc) + timedelta(seconds=WINDOW_AFTER_SECONDS)
    config = {"ai_scheduler.fleets": fleets(window_at), "ai_scheduler.planner": "optimal",
              "ai_scheduler.planner_time_limit_seconds": "5",
              "scheduler.task_queued_timeout": str(QUEUED_TIMEOUT_SECONDS),
              "scheduler.task_queued_timeout_check_interval": "5"}
    dags = [DAGS / f for f in ("it_pipeline.py", "it_window.py", "it_slow.py", "it_bad_hint.py", "it_hint_typo.py",
                               "it_operator.py", "it_fail.py")]
    with LocalDeployment(dags=dags, config=config) as af:
        af.window_at = window_at
        af.window_run = (datetime.now(timezone.utc), af.trigger("it_window"))
        yield stop_after_last_use(request, af)


@pytest.fixture(scope="module")
def airflow_postgres():
    url = os.environ.get("AI_SCHEDULER_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("AI_SCHEDULER_REQUIRE_POSTGRES"):
            pytest.fail("AI_SCHEDULER_TEST_POSTGRES_URL is not set but PostgreSQL is required")
        pytest.skip("no PostgreSQL (scripts/test.sh starts one)")
    window_at = datetime.now(timezone.utc) + timedelta(days=1)
    with LocalDeployment(dags=[DAGS / "it_pipeline.py"], database_url=url,
                         config={"ai_scheduler.fleets": fleets(window_at), "ai_scheduler.planner": "greedy"}) as af:
        yield af
