"""The executor core in a real Airflow: a planner slower than ``task_queued_timeout`` (45 s against 25 s; the
issue's example is a minute against the default) never lets a held task be failed as stuck in queued; an
invalid plan never routes a task; two schedulers run a DAG with nothing run twice, nothing lost, and each
run planned once."""

from __future__ import annotations

import json
import os
import re
import time
from datetime import datetime
from pathlib import Path

import pytest
from harness import stop_after_last_use, stored_plan, wait_history

from airflow_ai_scheduler.demo.deployment import LocalDeployment

DAGS = Path(__file__).parent / "dags"
SUPPORT = Path(__file__).parent / "support"
BASE = {"provider": "aws", "region": "us-east-1", "instance_type": "m6i.xlarge"}
FLEETS = [{**BASE, "name": "local-spot", "tier": "spot", "slots": 4},
          {**BASE, "name": "local-on-demand", "tier": "on-demand", "slots": 2},
          # dear and far: no valid plan puts anything here, and a safe default fleet is never a spot one
          {**BASE, "name": "trap", "tier": "spot", "slots": 4, "region": "us-west-2", "price_per_hour": 10.0,
           "vcpus": 4, "memory_gib": 16}]
QUEUED_TIMEOUT, QUEUED_TIMEOUT_CHECK = 25, 5
#: the slow planner's answer comes this long after it starts: past task_queued_timeout and the next check of
#: it, with room for the scheduler to queue the first task a few seconds after the run started
SLOW_SECONDS = QUEUED_TIMEOUT + QUEUED_TIMEOUT_CHECK + 15


def _env() -> dict[str, str]:
    return {"PYTHONPATH": os.pathsep.join([str(SUPPORT), os.environ.get("PYTHONPATH", "")]),
            "AI_SCHEDULER_TEST_SLOW_SECONDS": str(SLOW_SECONDS)}


@pytest.fixture(scope="module")
def core_airflow(request):
    config = {"ai_scheduler.fleets": json.dumps(FLEETS), "ai_scheduler.planner": "greedy",
              # tasks may wait this long for a run's configured planner (chosen per run below)
              "ai_scheduler.plan_wait_seconds": "120",
              "scheduler.task_queued_timeout": str(QUEUED_TIMEOUT),
              "scheduler.task_queued_timeout_check_interval": str(QUEUED_TIMEOUT_CHECK),
              "scheduler.num_stuck_in_queued_retries": "0"}
    with LocalDeployment(dags=[DAGS / "it_core.py"], config=config, env=_env()) as af:
        yield stop_after_last_use(request, af)


def _ran_on(af: LocalDeployment, run_id: str) -> list[str]:
    return [af.xcom("it_core", run_id, "work", map_index=i)["fleet"] for i in range(8)]


def _check_all_ran_once(af: LocalDeployment, run_id: str) -> None:
    tis = af.task_instances("it_core", run_id)
    assert len(tis) == 9 and {t["state"] for t in tis} == {"success"}
    assert {t["try_number"] for t in tis} == {1}, "a task ran more than once"


def test_a_planner_slower_than_task_queued_timeout_never_lets_held_tasks_fail_as_stuck_in_queued(core_airflow):
    af = core_airflow
    run_id = af.trigger("it_core", {"ai_scheduler_planner": "planners:SlowPlanner"})
    try:
        assert af.wait_run("it_core", run_id, timeout=420) == "success"
        _check_all_ran_once(af, run_id)
        # the tasks waited for the slow plan and ran by it: the first one was held, queued, past
        # task_queued_timeout and the check after it
        assert stored_plan(af, "it_core", run_id)["planner"] == "slow"
        run = af.api("GET", f"/api/v2/dags/it_core/dagRuns/{run_id}")
        (first,) = [t for t in af.task_instances("it_core", run_id) if t["task_id"] == "start"]
        held = (datetime.fromisoformat(first["start_date"])
                - datetime.fromisoformat(run["start_date"])).total_seconds()
        assert held > QUEUED_TIMEOUT + QUEUED_TIMEOUT_CHECK, held
        log = af.logs("scheduler")
        assert "stuck in queued" not in log.lower() and "was queued longer than task_queued_timeout" not in log
    except BaseException:
        af.print_logs()
        raise


def test_an_invalid_plan_routes_no_task_and_the_run_still_succeeds(core_airflow):
    af = core_airflow
    run_id = af.trigger("it_core", {"ai_scheduler_planner": "planners:TrapPlanner"})
    try:
        assert af.wait_run("it_core", run_id, timeout=300) == "success"
        _check_all_ran_once(af, run_id)
        assert "trap" not in _ran_on(af, run_id)
        plan = stored_plan(af, "it_core", run_id)
        assert plan["planner"] == "greedy" and all(p["offerId"] != "trap" for p in plan["placements"])
        assert any("plan was invalid" in n and "planners:TrapPlanner" in n for n in plan["notes"]), plan["notes"]
    except BaseException:
        af.print_logs()
        raise


@pytest.fixture(scope="module")
def two_schedulers():
    url = os.environ.get("AI_SCHEDULER_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("AI_SCHEDULER_REQUIRE_POSTGRES"):
            pytest.fail("AI_SCHEDULER_TEST_POSTGRES_URL is not set but PostgreSQL is required")
        pytest.skip("no PostgreSQL (scripts/test.sh starts one)")
    config = {"ai_scheduler.fleets": json.dumps(FLEETS[:2]), "ai_scheduler.planner": "optimal",
              "ai_scheduler.planner_time_limit_seconds": "3", "core.parallelism": "8"}
    with LocalDeployment(dags=[DAGS / "it_core.py"], database_url=url, config=config, env=_env()) as af:
        af.start_component("scheduler-2", ["scheduler"])
        _wait_running_schedulers(af, 2)
        yield af


def _wait_running_schedulers(af: LocalDeployment, count: int, timeout: float = 180) -> None:
    """Until ``count`` scheduler jobs are running and heartbeating: runs triggered while the second scheduler
    is still importing Airflow would all go to the first."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(af.database_url, poolclass=NullPool)
    deadline, running = time.monotonic() + timeout, 0
    try:
        while time.monotonic() < deadline:
            with engine.connect() as c:
                running = c.execute(text(
                    "SELECT count(*) FROM job WHERE job_type = 'SchedulerJob' AND state = 'running' "
                    "AND latest_heartbeat > now() - interval '15 seconds'")).scalar_one()
            if running >= count:
                return
            time.sleep(1)
    finally:
        engine.dispose()
    raise TimeoutError(f"{running} of {count} schedulers running after {timeout} s")


def test_two_schedulers_run_each_task_once_and_plan_each_run_once(two_schedulers):
    af = two_schedulers
    runs: list[str] = []
    routed = "routed TaskInstanceKey(dag_id='it_core'"
    try:
        # Airflow does not promise to spread task instances over its schedulers: whichever holds the
        # critical section queues a batch. Four runs nearly always reach both; up to four more if not.
        for batch in (4, 2, 2):
            new = [af.trigger("it_core") for _ in range(batch)]
            for run_id in new:
                assert af.wait_run("it_core", run_id, timeout=300) == "success"
                _check_all_ran_once(af, run_id)
            runs += new
            logs = {name: af.logs(name) for name in ("scheduler", "scheduler-2")}
            if all(routed in log for log in logs.values()):
                break
        for run_id in runs:
            # only the scheduler that claimed the run planned it (greedy first, then CP-SAT)
            planners = [n for n, log in logs.items() if re.search(rf"planned it_core/{re.escape(run_id)} with greedy", log)]
            assert len(planners) == 1, (run_id, planners)
        # both schedulers routed tasks (Airflow spreads a run's task instances over them)
        assert all(routed in log for log in logs.values()), [n for n, log in logs.items() if routed not in log]
        for run_id in runs:  # one history row per task instance: nothing recorded twice
            rows = wait_history(af, "it_core", run_id, lambda rs: len(rs) >= 9)
            keys = [(r["task_id"], r["map_index"], r["try_number"]) for r in rows]
            assert len(keys) == len(set(keys)) == 9, keys
    except BaseException:
        af.print_logs()
        raise
