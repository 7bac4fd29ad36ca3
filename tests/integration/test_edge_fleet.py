"""The edge fleets on real parts: a real Airflow 3.3 (api-server with the Edge API, scheduler, dag-processor)
with our executor and two Edge fleets, each served by a real ``airflow edge worker`` pulling its queue over
HTTP from the api-server. A DAG's spot task runs on the spot fleet's worker and its on-demand task on the
other's; the spot worker killed mid-task (its machine reclaimed) is reported preempted and the task is
relaunched within its preemption budget, keeping its try number."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.parse
from contextlib import suppress
from pathlib import Path

import pytest
from harness import wait_history

from airflow_ai_scheduler.demo.deployment import LocalDeployment
from airflow_ai_scheduler.fleets.base import FleetSpec
from airflow_ai_scheduler.fleets.edge import worker_command, worker_environment

DAGS = Path(__file__).parent / "dags"
BASE = {"provider": "aws", "region": "us-east-1", "instance_type": "m6i.xlarge"}
SPOT = {**BASE, "name": "edge-spot", "tier": "spot", "slots": 2, "backend": "edge",
        "options": {"queue": "spot-q", "worker_lost_after_seconds": 20, "poll_interval_seconds": 1}}
ON_DEMAND = {**BASE, "name": "edge-on-demand", "tier": "on-demand", "slots": 2, "backend": "edge",
             "options": {"queue": "od-q", "poll_interval_seconds": 1}}


def _worker(af: LocalDeployment, fleet: dict, name: str) -> None:
    """Exactly what docs/fleets-cloud.md tells a platform team to run on a fleet's machines."""
    spec = FleetSpec.model_validate(fleet)
    # several workers share this machine's AIRFLOW_HOME: each its own pid file
    af.start_component(name, [*worker_command(spec)[1:], "--edge-hostname", name, "--pid", str(af.home / f"{name}.pid")],
                       env=worker_environment(spec))


@pytest.fixture(scope="module")
def edge_airflow():
    config = {"ai_scheduler.fleets": json.dumps([SPOT, ON_DEMAND]), "ai_scheduler.planner": "greedy",
              "ai_scheduler.plan_wait_seconds": "1", "edge.api_enabled": "True",
              "edge.heartbeat_interval": "2", "edge.job_poll_interval": "1"}
    keep = bool(os.environ.get("AI_SCHEDULER_KEEP_AIRFLOW"))  # debugging: keep AIRFLOW_HOME and its logs
    with LocalDeployment(dags=[DAGS / "it_edge.py"], config=config, keep=keep) as af:
        print(f"AIRFLOW_HOME {af.home}")
        af.env["AIRFLOW__EDGE__API_URL"] = f"http://127.0.0.1:{af.port}/edge_worker/v1/rpcapi"
        _worker(af, SPOT, "edge-spot-1")
        _worker(af, ON_DEMAND, "edge-od-1")
        try:
            yield af
        finally:
            for name in [n for n in af.procs if n.startswith("edge-")]:
                af.kill(name)


def test_spot_and_on_demand_tasks_run_on_their_edge_workers_and_are_costed(edge_airflow):
    af = edge_airflow
    run_id = af.trigger("it_edge")
    assert af.wait_run("it_edge", run_id, timeout=240) == "success"
    spot, od = af.xcom("it_edge", run_id, "on_spot"), af.xcom("it_edge", run_id, "on_demand")
    spot_worker, od_worker, scheduler = (af.procs[n].pid for n in ("edge-spot-1", "edge-od-1", "scheduler"))
    assert spot["env"]["AI_SCHEDULER_FLEET"] == "edge-spot" and spot["env"]["AI_SCHEDULER_TIER"] == "spot"
    assert spot_worker in spot["ancestors"] and scheduler not in spot["ancestors"]
    assert od["env"]["AI_SCHEDULER_FLEET"] == "edge-on-demand" and od_worker in od["ancestors"]
    rows = wait_history(af, "it_edge", run_id, lambda rs: len([r for r in rs if r["outcome"] == "success"]) == 2)
    by_task = {r["task_id"]: r for r in rows}
    assert by_task["on_spot"]["fleet"] == "edge-spot" and by_task["on_demand"]["fleet"] == "edge-on-demand"
    assert all(r["actual_cost"] > 0 for r in rows)
    assert by_task["on_spot"]["price_per_hour_at_launch"] < by_task["on_demand"]["price_per_hour_at_launch"]
    # the task instance keeps the fleet's external id (what a restarted scheduler adopts by)
    (ti,) = [t for t in af.task_instances("it_edge", run_id) if t["task_id"] == "on_spot"]
    assert ti["try_number"] == 1 and ti["queue"] == "default"


def test_a_killed_spot_worker_is_a_preemption_and_the_task_is_relaunched(edge_airflow, tmp_path):
    af = edge_airflow
    hold = tmp_path / "hold.json"
    started = Path(f"{hold}.started")
    run_id = af.trigger("it_edge", conf={"hold_file": str(hold)})
    deadline = time.monotonic() + 120
    while not hold.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert hold.exists(), "the spot task never started on the spot Edge worker"
    time.sleep(0.5)
    pids = json.loads(hold.read_text())
    # the spot machine is reclaimed: the worker, its job process and the task die at once
    af.kill("edge-spot-1")
    for pid in (pids["ppid"], pids["pid"]):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _worker(af, SPOT, "edge-spot-2")  # the pool gets a replacement machine
    assert af.wait_run("it_edge", run_id, timeout=240) == "success"

    assert len(started.read_text().split()) == 2  # started twice: the lost try and the relaunch
    rows = wait_history(af, "it_edge", run_id,
                        lambda rs: any(r["task_id"] == "on_spot" and r["outcome"] == "success" for r in rs))
    spot = sorted((r for r in rows if r["task_id"] == "on_spot"), key=lambda r: r["id"])
    assert [(r["outcome"], r["fleet"]) for r in spot][0] == ("preempted", "edge-spot")
    assert spot[-1]["outcome"] == "success" and {r["try_number"] for r in spot} == {1}
    q = urllib.parse.urlencode({"dag_id": "it_edge", "run_id": run_id, "event": "ai_scheduler.preempted"})
    (event,) = af.api("GET", f"/api/v2/eventLogs?{q}")["event_logs"]
    assert "Edge worker edge-spot-1 silent" in event["extra"] and "preemption 1 of at most" in event["extra"]
    (ti,) = [t for t in af.task_instances("it_edge", run_id) if t["task_id"] == "on_spot"]
    assert ti["try_number"] == 1 and ti["state"] == "success"
