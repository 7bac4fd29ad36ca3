"""The executor end to end in a real Airflow: routing by plan, history, preemption, holds, restarts."""

from __future__ import annotations

import json
import time
import urllib.error
from datetime import datetime

import pytest
from harness import stored_plan, wait_history
from procutil import alive


def _json(af, *args):
    out = af.airflow("ai-scheduler", *args, "--json")
    return json.loads(out.stdout[out.stdout.index(next(c for c in out.stdout if c in "[{")):])


def _placements(af, dag_id, run_id, cli=False):
    """The run's placements by job id, as ``airflow ai-scheduler plan --json`` prints them (run through the
    real CLI if ``cli``; otherwise read by the same code from the database, much cheaper)."""
    plan = _json(af, "plan", dag_id, run_id) if cli else stored_plan(af, dag_id, run_id)
    return {p["jobId"]: p for p in plan["placements"]}


def test_pipeline_runs_where_planned_and_records_history(airflow_sqlite):
    af = airflow_sqlite
    run_id = af.trigger("it_pipeline")
    assert af.wait_run("it_pipeline", run_id, timeout=240) == "success"
    placements = _placements(af, "it_pipeline", run_id, cli=True)
    tis = af.task_instances("it_pipeline", run_id)
    assert {t["state"] for t in tis} == {"success"}
    for ti in tis:
        value = af.xcom("it_pipeline", run_id, ti["task_id"], ti["map_index"])
        job = ti["task_id"] if ti["map_index"] < 0 else f"{ti['task_id']}[{ti['map_index']}]"
        planned = placements.get(job) or placements[ti["task_id"]]
        if ti["task_id"] != "train":  # train may be relaunched elsewhere after its preemption
            assert value["AI_SCHEDULER_FLEET"] == planned["offerId"], job
    assert placements["load"]["tier"] == "on-demand"
    assert placements["train"]["region"] == "us-west-2"

    # history rows are written off the scheduler loop
    mine = wait_history(af, "it_pipeline", run_id, lambda rs: sum(r["outcome"] == "success" for r in rs) >= len(tis))
    ok = [r for r in mine if r["outcome"] == "success"]
    assert len(ok) == len(tis)
    assert all(r["actual_cost"] > 0 and r["price_per_hour_at_launch"] > 0 and r["runtime_seconds"] > 0 for r in ok)

    # the spot fleet lost the training task's capacity once: recorded as preempted, same try, resumed
    train = [r for r in mine if r["task_id"] == "train"]
    assert [r["outcome"] for r in sorted(train, key=lambda r: r["id"])] == ["preempted", "success"]
    assert {r["try_number"] for r in train} == {1}
    resumed = af.xcom("it_pipeline", run_id, "train")["resumed_from"]
    assert resumed >= 1, "the relaunch did not resume from its checkpoint"

    # a second run is planned with the first run's measured runtimes, not the hints (10 min)
    measured_h = next(r["runtime_seconds"] for r in ok if r["task_id"] == "extract") / 3600
    run2 = af.trigger("it_pipeline")
    assert af.wait_run("it_pipeline", run2, timeout=240) == "success"
    p2 = _placements(af, "it_pipeline", run2)["extract"]
    planned_h = (datetime.fromisoformat(p2["expectedEndTime"]) - datetime.fromisoformat(p2["startTime"])
                 ).total_seconds() / 3600
    assert planned_h == pytest.approx(measured_h, rel=0.05)
    assert planned_h < 10 / 60 / 2


def test_operator_plan_routes_the_run_and_its_llm_exchange_is_stored(airflow_sqlite):
    af = airflow_sqlite
    run_id = af.trigger("it_operator")
    assert af.wait_run("it_operator", run_id, timeout=240) == "success"
    summary = af.xcom("it_operator", run_id, "plan")
    assert summary["planner"] == "llm" and summary["status"] == "fallback" and summary["valid"]
    # the executor stores the operator's plan off the scheduler loop
    plan = stored_plan(af, "it_operator", run_id, lambda p: {x["jobId"] for x in p["placements"]} == {"publish", "crunch"})
    placements = {p["jobId"]: p for p in plan["placements"]}
    assert set(placements) == {"publish", "crunch"}
    assert all(p["region"] == "us-east-1" for p in placements.values())  # the operator's allowed_regions
    assert placements["publish"]["tier"] == "on-demand"
    for task_id in ("publish", "crunch"):
        assert af.xcom("it_operator", run_id, task_id)["AI_SCHEDULER_FLEET"] == placements[task_id]["offerId"]
    report = _json(af, "report", "it_operator", run_id)
    assert report["planner"] == "llm"
    assert report["llm"]["outcome"] == "fallback" and report["llm"]["reason"]
    assert "LLM exchange" in af.airflow("ai-scheduler", "plan", "it_operator", run_id).stdout


def test_a_failed_task_and_its_never_run_downstream_are_in_history(airflow_sqlite):
    af = airflow_sqlite
    run_id = af.trigger("it_fail")
    assert af.wait_run("it_fail", run_id, timeout=240) == "failed"
    # the executor sweeps runs with a failed task every few seconds
    rows = wait_history(af, "it_fail", run_id, lambda rs: {r["outcome"] for r in rs} >= {"failed", "upstream_failed"})
    by_task = {r["task_id"]: r for r in rows}
    assert by_task["broken"]["outcome"] == "failed" and by_task["broken"]["runtime_seconds"] > 0
    assert by_task["after"]["outcome"] == "upstream_failed" and by_task["after"]["actual_cost"] == 0
    assert by_task["after"]["planned_cost"] is not None  # what it would have cost, from the plan
    assert len(rows) == 2  # the sweep writes each upstream_failed task once


# its run was triggered when the deployment came up; the price window opens WINDOW_AFTER_SECONDS after the
# deployment started, while the tests above run (before the scheduler-kill test: a clean hold)
def test_a_hold_longer_than_task_queued_timeout_succeeds(airflow_sqlite):
    af = airflow_sqlite
    triggered, run_id = af.window_run
    assert af.wait_run("it_window", run_id, timeout=300) == "success"
    value = af.xcom("it_window", run_id, "night_job")
    assert value["fleet"] == "night-spot"
    started = datetime.fromisoformat(value["started"])
    (ti,) = af.task_instances("it_window", run_id)
    assert started >= af.window_at
    # queued soon after the trigger, then held past [scheduler] task_queued_timeout (25 s) for the window
    assert (started - triggered).total_seconds() > 25 + 5
    assert ti["try_number"] == 1


def test_scheduler_killed_mid_run_still_completes(airflow_sqlite):
    af = airflow_sqlite
    run_id = af.trigger("it_slow")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if any(t["state"] == "running" for t in af.task_instances("it_slow", run_id)):
            break
        time.sleep(0.5)
    workers = _fleet_workers(af.procs["scheduler"].pid)
    assert workers, "no fleet worker processes under the scheduler"
    af.kill("scheduler")
    time.sleep(2)
    af.start_component("scheduler")
    assert af.wait_run("it_slow", run_id, timeout=240) == "success"
    # the killed scheduler's fleet workers did not stay behind as orphans
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(alive(p) for p in workers):
        time.sleep(0.5)
    assert not [p for p in workers if alive(p)]


def _fleet_workers(scheduler_pid: int) -> list[int]:
    import subprocess

    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(scheduler_pid)], capture_output=True,
                         text=True).stdout
    return [int(line.split()[0]) for line in out.splitlines() if "ai-scheduler fleet" in line]



def test_bad_hint_is_an_import_error_naming_dag_task_and_field(airflow_sqlite):
    errors = [e["stack_trace"] for e in airflow_sqlite.import_errors() if "it_bad_hint" in e["filename"]]
    assert errors and "DAG 'it_bad_hint'" in errors[0] and "task 'crunch'" in errors[0]
    assert "field 'tiers[0]'" in errors[0]


def test_dag_processor_reports_the_bad_hint_as_an_import_error(airflow_sqlite):
    """A malformed placement hint, as a user sees it: the dag-processor records an import error naming the
    DAG, the task and the field (REST API ``/api/v2/importErrors``, what the UI shows), and the file's other
    DAG still loads."""
    af = airflow_sqlite
    af.wait_dag("hint_ok")
    deadline, errors = time.monotonic() + 120, []
    while time.monotonic() < deadline and not errors:
        errors = [e for e in af.import_errors() if e["filename"].endswith("it_hint_typo.py")]
        time.sleep(1)
    assert len(errors) == 1, af.import_errors()
    trace = errors[0]["stack_trace"]
    assert "AirflowClusterPolicyViolation" in trace
    assert "DAG 'hint_typo'" in trace and "task 'train'" in trace and "field 'tiers[1]'" in trace
    with pytest.raises(urllib.error.HTTPError) as missing:
        af.api("GET", "/api/v2/dags/hint_typo")
    assert missing.value.code == 404


def test_pipeline_on_postgres(airflow_postgres):
    af = airflow_postgres
    run_id = af.trigger("it_pipeline")
    assert af.wait_run("it_pipeline", run_id, timeout=240) == "success"
    wait_history(af, "it_pipeline", run_id, lambda rs: sum(r["outcome"] == "success" for r in rs) >= 4)
    # the real CLI, once its rows are there (here, on PostgreSQL)
    rows = [r for r in _json(af, "history", "it_pipeline", "--limit", "100") if r["run_id"] == run_id]
    assert {r["task_id"] for r in rows if r["outcome"] == "success"} == {"extract", "train", "process", "load"}
