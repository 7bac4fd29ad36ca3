"""The ``ecs`` and ``batch`` fleets against moto's server mode (a local HTTP server boto3 talks to through
the Airflow connection ``aws_default``): the exact RunTask / SubmitJob requests, task and job states
mapped to what the fleet reports (a spot reclaim = preempted), adoption by a new fleet after a
scheduler restart, revoke. The emulator plays AWS's part where it cannot on its own (stopping a task with
``SpotInterruption``, a Batch attempt whose host was terminated)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from airflow_ai_scheduler.exceptions import ConfigError
from airflow_ai_scheduler.fleets.base import FleetContext, FleetSpec, FleetStatus, backend_class, fleet_of
from tests.fleets.aws_emulator import Emulator, Recorder

BASE = {"provider": "aws", "region": "us-east-1", "instance_type": "m6i.xlarge"}


def workload(task_id: str, *, executor_config: dict | None = None, try_number: int = 1) -> Any:
    from airflow.executors.workloads import ExecuteTask
    from airflow.executors.workloads.base import BundleInfo
    from airflow.executors.workloads.task import TaskInstanceDTO

    ti = TaskInstanceDTO(id=uuid.uuid4(), task_id=task_id, dag_id="etl", run_id="manual__2026-12-02T07:00:00+00:00",
                         try_number=try_number, dag_version_id=uuid.uuid4(), map_index=-1, pool_slots=1,
                         queue="default", priority_weight=1, executor_config=executor_config)
    return ExecuteTask(token="tok", ti=ti, dag_rel_path="etl.py", bundle_info=BundleInfo(name="b", version=None),
                       log_path="x.log")


@pytest.fixture(scope="module")
def aws():
    emu = Emulator()  # started by the fixture, stopped after the module
    yield emu
    emu.stop()


@pytest.fixture
def aws_conn(aws, monkeypatch):
    for k, v in aws.connection_env().items():
        monkeypatch.setenv(k, v)
    return aws


def _until(fleet: Any, want: int, timeout: float = 20) -> list[tuple[Any, Any, Any]]:
    got: list[tuple[Any, Any, Any]] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        got += fleet.poll()
        time.sleep(0.05)
    return got


def _fleet(spec: dict, context: FleetContext | None = None) -> Any:
    s = FleetSpec.model_validate(spec)
    f = backend_class(s)(s, context)
    f.start()
    f.poll_interval = 0.2
    return f


# -- ECS -----------------------------------------------------------------------------------------------

@pytest.fixture
def ecs_fleets(aws_conn):
    setup = aws_conn.ecs_setup()
    stored: list[tuple[str, str]] = []
    ctx = FleetContext(record_external_id=lambda w, i: stored.append((w.ti.task_id, i)))
    spot = _fleet({**BASE, "name": "ecs-spot", "tier": "spot", "slots": 3, "backend": "ecs", "options": setup}, ctx)
    demand = _fleet({**BASE, "name": "ecs-on-demand", "tier": "on-demand", "slots": 2, "backend": "ecs",
                     "options": setup}, ctx)
    yield spot, demand, setup, stored
    spot.terminate()
    demand.terminate()


def test_ecs_run_task_requests_carry_the_capacity_strategy_overrides_and_cost_tags(ecs_fleets):
    from airflow_ai_scheduler.airflow.hints import Resources, placement

    spot, demand, setup, stored = ecs_fleets
    rec_spot, rec_demand = Recorder(spot.client), Recorder(demand.client)
    spot.submit(workload("extract", executor_config=placement(resources=Resources(vcpus=2, memory_gib=4))))
    demand.submit(workload("load"))
    (q1,), (q2,) = _until(spot, 1), _until(demand, 1)
    assert q1[1] is FleetStatus.QUEUED and fleet_of(q1[2]) == "ecs-spot"
    assert q2[1] is FleetStatus.QUEUED and fleet_of(q2[2]) == "ecs-on-demand"
    # the id was stored on the task instance before RunTask, and it is the one reported
    assert ("extract", q1[2]) in stored and ("load", q2[2]) in stored

    (req,) = rec_spot.of("RunTask")
    assert req["cluster"] == setup["cluster"] and req["taskDefinition"] == "airflow-worker"
    assert req["capacityProviderStrategy"] == [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]
    assert "launchType" not in req  # ECS refuses launchType with a strategy
    assert req["networkConfiguration"] == {"awsvpcConfiguration": {
        "subnets": setup["subnets"], "securityGroups": setup["security_groups"], "assignPublicIp": "DISABLED"}}
    assert req["startedBy"] == q1[2].rsplit("/", 1)[1] and len(req["startedBy"]) == 36
    (container,) = req["overrides"]["containerOverrides"]
    assert container["name"] == "worker"
    assert container["command"][:4] == ["python", "-m", "airflow.sdk.execution_time.execute_workload", "--json-string"]
    env = {e["name"]: e["value"] for e in container["environment"]}
    assert env["AI_SCHEDULER_FLEET"] == "ecs-spot" and env["AI_SCHEDULER_TIER"] == "spot"
    assert env["AIRFLOW_IS_EXECUTOR_CONTAINER"] == "true"
    assert (req["overrides"]["cpu"], req["overrides"]["memory"]) == ("2048", "4096")  # from the hint
    tags = {t["key"]: t["value"] for t in req["tags"]}
    assert tags == {"ai-scheduler:dag": "etl", "ai-scheduler:task": "extract",
                    "ai-scheduler:run": "manual__2026-12-02T07:00:00+00:00", "ai-scheduler:try": "1",
                    "ai-scheduler:fleet": "ecs-spot", "ai-scheduler:tier": "spot"}
    (req2,) = rec_demand.of("RunTask")
    assert req2["capacityProviderStrategy"] == [{"capacityProvider": "FARGATE", "weight": 1}]
    assert "cpu" not in req2["overrides"]  # no hint: the task definition's size
    # what the emulator holds: the task on FARGATE_SPOT with its tags
    ecs = spot.client
    (task,) = ecs.describe_tasks(cluster=setup["cluster"], tasks=[ecs.list_tasks(
        cluster=setup["cluster"], startedBy=req["startedBy"])["taskArns"][0]], include=["TAGS"])["tasks"]
    assert task["capacityProviderName"] == "FARGATE_SPOT"
    assert {t["key"]: t["value"] for t in task["tags"]}["ai-scheduler:task"] == "extract"


def _arn(fleet: Any, key: str) -> str:
    return next(t.cloud_id for t in fleet._tracked.values() if t.key == key)


def _stop(aws: Emulator, cluster: str, arn: str, code: str, reason: str, exit_code: int | None) -> None:
    from datetime import datetime, timezone

    task = aws.ecs_task(cluster, arn)
    task.started_at = datetime.now(timezone.utc)  # moto leaves startedAt out; ECS has it once a task started
    task.last_status = task.desired_status = "STOPPED"
    task.stop_code, task.stopped_reason = code, reason
    task.containers[0].last_status = "STOPPED"
    task.containers[0].exitCode = exit_code  # moto's attribute name


def test_ecs_spot_interruption_is_preempted_and_exit_codes_decide_the_rest(ecs_fleets, aws):
    spot, demand, setup, _ = ecs_fleets
    w_ok, w_bad, w_lost, w_od_lost = (workload(t) for t in ("ok", "bad", "lost", "od-lost"))
    for w in (w_ok, w_bad, w_lost):
        spot.submit(w)
    demand.submit(w_od_lost)
    got = _until(spot, 6)  # 3 queued, 3 running (moto starts tasks at once)
    assert sorted(str(s) for _, s, _ in got) == ["queued"] * 3 + ["running"] * 3
    assert spot.free_slots() == 0
    _until(demand, 2)
    cluster = setup["cluster"]
    _stop(aws, cluster, _arn(spot, w_ok.key), "EssentialContainerExited", "Essential container in task exited", 0)
    _stop(aws, cluster, _arn(spot, w_bad.key), "EssentialContainerExited", "Essential container in task exited", 1)
    _stop(aws, cluster, _arn(spot, w_lost.key), "SpotInterruption", "Your Spot Task was interrupted.", None)
    _stop(aws, cluster, _arn(demand, w_od_lost.key), "TerminationNotice", "Host is being terminated", None)
    reports = {k: (s, i) for k, s, i in _until(spot, 3)}
    assert reports[w_ok.key] == (FleetStatus.SUCCESS, None)
    assert reports[w_bad.key][0] is FleetStatus.FAILED and "exit 1" in reports[w_bad.key][1]
    assert reports[w_lost.key][0] is FleetStatus.PREEMPTED and "SpotInterruption" in reports[w_lost.key][1]
    assert spot.free_slots() == 3
    ((key, status, info),) = _until(demand, 1)
    # the same loss on an on-demand fleet is a failure, not a preemption
    assert key == w_od_lost.key and status is FleetStatus.FAILED and "TerminationNotice" in info


def test_ecs_task_is_adopted_by_a_new_fleet_after_a_scheduler_restart(ecs_fleets, aws):
    spot, _, setup, _ = ecs_fleets
    w = workload("long")
    spot.submit(w)
    (queued, _running) = _until(spot, 2)
    external_id = queued[2]
    arn = _arn(spot, w.key)
    spot.terminate()  # the scheduler dies; the ECS task keeps running

    spec = {**BASE, "name": "ecs-spot", "tier": "spot", "slots": 3, "backend": "ecs", "options": setup}
    successor = _fleet(spec)
    recorder = Recorder(successor.client)
    try:
        assert successor.adopt(w.key, external_id) is True
        assert successor.free_slots() == 2
        (running,) = _until(successor, 1)
        assert running == (w.key, FleetStatus.RUNNING, external_id)
        assert recorder.of("RunTask") == []  # found by startedBy, never launched again
        assert recorder.of("ListTasks")[0]["startedBy"] == external_id.rsplit("/", 1)[1]
        _stop(aws, setup["cluster"], arn, "SpotInterruption", "Your Spot Task was interrupted.", None)
        ((key, status, _),) = _until(successor, 1)
        assert key == w.key and status is FleetStatus.PREEMPTED
    finally:
        successor.terminate()


def test_ecs_revoke_stops_the_task(ecs_fleets, aws):
    spot, _, setup, _ = ecs_fleets
    w = workload("stuck")
    spot.submit(w)
    _until(spot, 2)
    arn = _arn(spot, w.key)
    recorder = Recorder(spot.client)
    spot.revoke(w.key)
    assert spot.free_slots() == 3
    deadline = time.monotonic() + 10
    while not recorder.of("StopTask") and time.monotonic() < deadline:
        time.sleep(0.05)
    (stop,) = recorder.of("StopTask")
    assert stop["task"] == arn and "revoked" in stop["reason"]
    assert aws.ecs_task(setup["cluster"], arn).desired_status == "STOPPED"
    time.sleep(0.5)
    assert spot.poll() == []  # revoked: nobody reports it


def test_ecs_options_are_checked_naming_the_fleet_and_field():
    spec = FleetSpec.model_validate({**BASE, "name": "ecs-x", "tier": "spot", "backend": "ecs",
                                     "options": {"cluster": "c", "capcity": "spot"}})
    with pytest.raises(ConfigError, match=r"fleet 'ecs-x' \(backend ecs\): options.capcity: not an option"):
        backend_class(spec)


# -- Batch ---------------------------------------------------------------------------------------------

@pytest.fixture
def batch_fleet(aws_conn):
    queue = f"airflow-spot-{uuid.uuid4().hex[:6]}"
    options = aws_conn.batch_setup(queue)
    spec = {**BASE, "name": "batch-spot", "tier": "spot", "slots": 4, "backend": "batch", "options": options}
    fleet = _fleet(spec)
    yield fleet, spec
    fleet.terminate()


def _job(fleet: Any, key: Any) -> str:
    return next(t.cloud_id for t in fleet._tracked.values() if t.key == key)


def _running(aws: Emulator, job_id: str) -> Any:
    job = aws.batch_job(job_id)  # moto's simple Batch finished it at once: put it back to RUNNING
    job.status, job.job_stopped = "RUNNING", False
    return job


def test_batch_submit_job_goes_to_the_fleets_queue_with_overrides_and_tags(batch_fleet, aws):
    from airflow_ai_scheduler.airflow.hints import Resources, placement

    fleet, spec = batch_fleet
    recorder = Recorder(fleet.client)
    w = workload("train", executor_config=placement(resources=Resources(vcpus=4, memory_gib=16, gpus=1)))
    fleet.submit(w)
    queued = _until(fleet, 1)[0]
    (req,) = recorder.of("SubmitJob")
    assert req["jobQueue"] == spec["options"]["job_queue"] and req["jobDefinition"] == "airflow-worker"
    assert req["jobName"] == "ai-scheduler-" + queued[2].rsplit("/", 1)[1]
    overrides = req["containerOverrides"]
    assert overrides["command"][:3] == ["python", "-m", "airflow.sdk.execution_time.execute_workload"]
    assert overrides["resourceRequirements"] == [{"type": "VCPU", "value": "4"}, {"type": "MEMORY", "value": "16384"},
                                                 {"type": "GPU", "value": "1"}]
    env = {e["name"]: e["value"] for e in overrides["environment"]}
    assert env["AI_SCHEDULER_FLEET"] == "batch-spot" and env["AI_SCHEDULER_INSTANCE_TYPE"] == "m6i.xlarge"
    assert req["tags"]["ai-scheduler:task"] == "train" and req["tags"]["ai-scheduler:tier"] == "spot"
    assert req["tags"]["ai-scheduler:run"] == "manual__2026-12-02T07:00:00+00:00"
    assert req["propagateTags"] is True
    (report,) = _until(fleet, 1)  # moto's simple Batch ends the job at once
    assert report == (w.key, FleetStatus.SUCCESS, None)


def test_batch_host_terminated_is_preempted_and_a_failed_job_fails(batch_fleet, aws):
    fleet, _ = batch_fleet
    w_lost, w_bad = workload("lost"), workload("bad")
    fleet.submit(w_lost)
    fleet.submit(w_bad)
    deadline = time.monotonic() + 10
    while len([t for t in fleet._tracked.values() if t.cloud_id]) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    lost, bad = _running(aws, _job(fleet, w_lost.key)), _running(aws, _job(fleet, w_bad.key))
    reports = _until(fleet, 4)  # queued and running, each
    assert sorted(str(s) for _, s, _ in reports) == ["queued", "queued", "running", "running"]
    lost.status, lost.job_stopped = "FAILED", True
    lost.attempts[-1]["statusReason"] = "Host EC2 (instance i-0a1b2c3d4e5f) terminated."
    bad.status, bad.job_stopped, bad.exit_code = "FAILED", True, 3
    bad.job_stopped_reason = "Essential container in task exited"
    bad.attempts[-1]["container"]["exitCode"] = 3
    done = {k: (s, i) for k, s, i in _until(fleet, 2)}
    assert done[w_lost.key][0] is FleetStatus.PREEMPTED and "i-0a1b2c3d4e5f" in done[w_lost.key][1]
    assert done[w_bad.key][0] is FleetStatus.FAILED and "exit 3" in done[w_bad.key][1]


def test_batch_job_is_adopted_by_a_new_fleet_after_a_scheduler_restart(batch_fleet, aws):
    fleet, spec = batch_fleet
    w = workload("long")
    fleet.submit(w)
    deadline = time.monotonic() + 10
    while not any(t.cloud_id for t in fleet._tracked.values()) and time.monotonic() < deadline:
        time.sleep(0.02)
    job_id = _job(fleet, w.key)
    job = _running(aws, job_id)
    external_id = next(t.external_id for t in fleet._tracked.values() if t.key == w.key)
    fleet.terminate()

    successor = _fleet(spec)
    recorder = Recorder(successor.client)
    try:
        successor.adopt(w.key, external_id)
        (running,) = _until(successor, 1)
        assert running == (w.key, FleetStatus.RUNNING, external_id)
        assert recorder.of("SubmitJob") == []
        assert recorder.of("ListJobs")[0]["filters"] == [{"name": "JOB_NAME", "values": [f"ai-scheduler-{external_id.rsplit('/', 1)[1]}"]}]
        job.status, job.job_stopped = "SUCCEEDED", True
        assert _until(successor, 1) == [(w.key, FleetStatus.SUCCESS, None)]
    finally:
        successor.terminate()


def test_batch_adopting_an_unknown_job_reports_it_failed(batch_fleet):
    fleet, _ = batch_fleet
    fleet.adopt("ghost", "ai-scheduler/batch-spot/" + str(uuid.uuid4()))
    ((key, status, info),) = _until(fleet, 1)
    assert key == "ghost" and status is FleetStatus.FAILED and "not known" in info
