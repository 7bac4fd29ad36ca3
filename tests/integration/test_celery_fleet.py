"""The celery fleet on real parts: Redis as broker and result backend, a real ``airflow celery worker``.

Two layers: the fleet alone against Redis (publish, result-backend states, worker-lost detection), then
a real Airflow 3.3 with our executor, one local on-demand fleet and one celery spot fleet whose queue a
real worker consumes. Skipped without Redis unless AI_SCHEDULER_REQUIRE_POSTGRES is set (scripts/test.sh
starts both servers and sets it).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import time
import urllib.parse
import uuid
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
from harness import wait_history

from airflow_ai_scheduler.demo.deployment import LocalDeployment
from airflow_ai_scheduler.fleets.base import FleetContext, FleetSpec, FleetStatus, fleet_of
from airflow_ai_scheduler.fleets.celery import (
    CeleryFleet,
    worker_command,
    worker_environment,
)

DAGS = Path(__file__).parent / "dags"
BASE = {"provider": "aws", "region": "us-east-1", "instance_type": "m6i.xlarge"}


@pytest.fixture(scope="module")
def redis_url() -> str:
    url = os.environ.get("AI_SCHEDULER_TEST_REDIS_URL")
    problem = None if url else "AI_SCHEDULER_TEST_REDIS_URL is not set"
    if url:
        import redis

        try:
            redis.Redis.from_url(url, socket_connect_timeout=3).ping()
        except redis.RedisError as exc:
            problem = f"Redis at {url} is not reachable: {exc}"
    if problem:
        if os.environ.get("AI_SCHEDULER_REQUIRE_POSTGRES"):
            pytest.fail(f"{problem} but the test servers are required")
        pytest.skip(f"{problem} (scripts/services.sh start starts one)")
    return str(url)


def _forget_queue(url: str, queue: str) -> None:
    """Remove what kombu left in the shared Redis for this test's queue."""
    import redis

    with suppress(redis.RedisError):
        r = redis.Redis.from_url(url)
        r.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")  # results expire in a day


# -- the fleet alone, against Redis -----------------------------------------------------------------

class Workload:
    """The part of an ExecuteTask the fleet uses (key, JSON, states); what runs it is not under test here."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.success_state, self.failure_state, self.running_state = "success", "failed", None

    def model_dump_json(self) -> str:
        return json.dumps({"key": self.key})


def _until(fleet: CeleryFleet, want: int, timeout: float = 20) -> list[tuple[Any, Any, Any]]:
    got: list[tuple[Any, Any, Any]] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        got += fleet.poll()
        time.sleep(0.1)
    return got


@pytest.fixture
def fleet(redis_url, monkeypatch):
    monkeypatch.setenv("AIRFLOW__CELERY__BROKER_URL", redis_url)
    monkeypatch.setenv("AIRFLOW__CELERY__RESULT_BACKEND", redis_url)
    queue = f"it-nobody-{uuid.uuid4().hex[:8]}"  # no worker consumes it: the test plays the worker's part
    spec = FleetSpec.model_validate({**BASE, "name": "lonely-spot", "tier": "spot", "slots": 2, "backend": "celery",
                                     "options": {"queue": queue, "poll_interval_seconds": 0.2,
                                                 "worker_lost_after_seconds": 1}})
    f = CeleryFleet(spec)
    f.start()
    yield f
    f.terminate()
    _forget_queue(redis_url, queue)


def test_fleet_publishes_to_its_queue_and_reads_states_from_the_result_backend(fleet, redis_url):
    import redis
    from billiard.exceptions import WorkerLostError

    for key in ("ok", "lost", "ghost"):
        fleet.submit(Workload(key))
    assert fleet.free_slots() == -1  # the executor never over-fills; the fleet just counts
    r = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + 10
    while r.llen(fleet.queue) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    messages = [json.loads(m) for m in r.lrange(fleet.queue, 0, -1)]
    assert {m["headers"]["task"] for m in messages} == {"execute_workload"}
    ids = {m["headers"]["id"]: m for m in messages}
    assert len(ids) == 3

    # play the worker's part with the real result backend: one success, one pool process killed,
    # one task whose worker vanished after STARTED
    backend = fleet._app.backend
    by_key = {t.key: t.task_id for t in list(fleet._tracked.values())}
    backend.store_result(by_key["ok"], None, "SUCCESS")
    backend.mark_as_failure(by_key["lost"], WorkerLostError("Worker exited prematurely: signal 9 (SIGKILL)."))
    backend.store_result(by_key["ghost"], {"pid": 4242, "hostname": "ghost@nowhere"}, "STARTED")

    got = _until(fleet, 7)  # 3 queued; ok, lost; ghost running, then preempted
    queued = {key: info for key, state, info in got if str(state) == "queued"}
    # each publish is reported QUEUED with the Celery task id, which Airflow keeps as external_executor_id
    assert queued == by_key and all(fleet_of(tid) == "lonely-spot" for tid in queued.values())
    reports = {key: (state, info) for key, state, info in got if str(state) != "queued"}
    assert reports["ok"] == ("success", None)
    assert reports["lost"][0] == FleetStatus.PREEMPTED and "WorkerLostError" in reports["lost"][1]
    assert reports["ghost"][0] == FleetStatus.PREEMPTED and "ghost@nowhere silent" in reports["ghost"][1]
    assert fleet.free_slots() == 2


def test_fleet_adopts_a_task_a_previous_scheduler_published(fleet):
    # what the executor does after a restart: the TI's external_executor_id names the fleet and the task
    tid = fleet.new_external_id()
    assert fleet_of(tid) == "lonely-spot" and fleet_of("3f2b-uuid-of-another-executor") is None
    fleet.adopt("adopted", tid)
    assert fleet.free_slots() == 1
    time.sleep(0.5)
    assert fleet.poll() == []  # PENDING in the backend: still waiting, nothing reported
    fleet._app.backend.store_result(tid, None, "SUCCESS")
    (report,) = _until(fleet, 1)
    assert report[0] == "adopted" and str(report[1]) == "success"
    assert fleet.free_slots() == 2


def test_the_task_id_is_stored_before_the_message_is_published_and_a_failure_does_not_stop_it(fleet, redis_url):
    import redis

    r = redis.Redis.from_url(redis_url)
    seen = []

    def record_id(workload, task_id):  # the executor stores it on the TI here
        seen.append((workload.key, task_id, r.llen(fleet.queue)))
        if workload.key == "db-down":
            raise RuntimeError("database is down")

    fleet.context = FleetContext(record_external_id=record_id)
    fleet.submit(Workload("first"))
    fleet.submit(Workload("db-down"))
    got = {key: info for key, state, info in _until(fleet, 2)}
    # each id was handed over while its message was not yet in the queue, and it is the id published
    assert [(k, tid) for k, tid, _ in seen] == [("first", got["first"]), ("db-down", got["db-down"])]
    assert seen[0][2] == 0 and seen[1][2] <= 1
    assert r.llen(fleet.queue) == 2  # the failed store did not keep db-down from being published


def test_a_revoked_task_is_untracked_its_slot_freed_and_the_revoke_broadcast(fleet, redis_url):
    import redis

    # what the executor does when Airflow finds a task stuck in QUEUED (no worker consumes the queue)
    fleet.submit(Workload("stuck"))
    (queued,) = _until(fleet, 1)
    tid = queued[2]
    assert queued[0] == "stuck" and str(queued[1]) == "queued" and fleet.free_slots() == 1
    pubsub = redis.Redis.from_url(redis_url).pubsub()
    pubsub.psubscribe("*pidbox*")  # Celery's remote-control broadcasts (kombu fanout over Redis pub/sub)
    fleet.revoke("stuck")
    assert fleet.free_slots() == 2
    broadcast, deadline = [], time.monotonic() + 10
    while not broadcast and time.monotonic() < deadline:
        m = pubsub.get_message(timeout=0.5)
        if m and m["type"] == "pmessage":
            body = json.loads(base64.b64decode(json.loads(m["data"])["body"]))
            if body["method"] == "revoke" and body["arguments"]["task_id"] == tid:
                broadcast.append(body)
    pubsub.close()
    assert broadcast, "no revoke broadcast for the stuck task"
    # a worker that ran it anyway (it took the message before the revoke): nobody reports it any more
    fleet._app.backend.store_result(tid, None, "SUCCESS")
    time.sleep(1.0)
    assert fleet.poll() == []


# -- a real deployment with a real worker -----------------------------------------------------------

@pytest.fixture(scope="module")
def celery_airflow(redis_url):
    queue = f"spot-q-{uuid.uuid4().hex[:8]}"  # the Redis server is shared: a queue of our own
    spot = {**BASE, "name": "celery-spot", "tier": "spot", "slots": 2, "backend": "celery",
            "options": {"queue": queue, "poll_interval_seconds": 0.5}}
    # no worker consumes this one's queue: it_stuck's task waits there until task_queued_timeout
    nowhere = {**BASE, "region": "us-west-2", "name": "celery-nowhere", "tier": "on-demand", "slots": 1,
               "backend": "celery", "options": {"queue": f"nowhere-q-{uuid.uuid4().hex[:8]}"}}
    fleets = [{**BASE, "name": "local-on-demand", "tier": "on-demand", "slots": 2}, spot, nowhere]
    config = {"ai_scheduler.fleets": json.dumps(fleets), "ai_scheduler.planner": "greedy",
              "ai_scheduler.plan_wait_seconds": "1",
              "celery.broker_url": redis_url, "celery.result_backend": redis_url,
              # a killed scheduler's tasks are orphans after 15 s, checked for every 5 s (defaults 30 s, 300 s)
              "scheduler.scheduler_health_check_threshold": "15", "scheduler.orphaned_tasks_check_interval": "5",
              # a task queued 40 s (checked every 3 s) is stuck: revoked from the executor and failed at once
              # (a loaded machine's api-server can take 20 s to let a worker mark its task running)
              "scheduler.task_queued_timeout": "40", "scheduler.task_queued_timeout_check_interval": "3",
              "scheduler.num_stuck_in_queued_retries": "0"}
    try:
        with LocalDeployment(dags=[DAGS / "it_celery.py", DAGS / "it_stuck.py"], config=config) as af:
            # it_stuck's wait (task_queued_timeout, 40 s) overlaps the worker's start and the first test; its own
            # test checks the run
            af.stuck_run = af.trigger("it_stuck")
            # exactly what docs/executor.md tells a platform team to run on the spot machines
            spec = FleetSpec.model_validate(spot)
            cmd = worker_command(spec, concurrency=2)
            af.start_component("celery-worker", [*cmd[1:], "--skip-serve-logs", "--celery-hostname", f"{queue}@%h"],
                               env=worker_environment(spec))
            # a task published before the worker consumes its queue waits there; past the fixture's short
            # task_queued_timeout (40 s) it is failed as stuck — on a loaded machine the worker takes ~30 s
            deadline = time.monotonic() + 180
            while " ready." not in af.logs("celery-worker") and time.monotonic() < deadline:
                time.sleep(1)
            try:
                yield af
            finally:
                af.kill("celery-worker")  # SIGKILL to its process group: a warm shutdown would wait for tasks
    finally:
        _forget_queue(redis_url, queue)
        _forget_queue(redis_url, nowhere["options"]["queue"])


def _why(af: LocalDeployment, run_id: str) -> str:
    """Each task's state and the scheduler's and worker's lines about the run (for a failed assertion)."""
    states = {t["task_id"]: (t["state"], t["try_number"]) for t in af.task_instances("it_celery", run_id)}
    lines = [ln[:300] for name in ("scheduler", "celery-worker") for ln in af.logs(name).splitlines()
             if any(w in ln.lower() for w in ("error", "fail", "warning", "exception", "it_celery"))]
    return f"{states}\n" + "\n".join(lines[-80:])


def _preempted_events(af: LocalDeployment, run_id: str) -> list[dict]:
    """The run's ``ai_scheduler.preempted`` rows in Airflow's audit log (the UI's Event Log), by REST."""
    q = urllib.parse.urlencode({"dag_id": "it_celery", "run_id": run_id, "event": "ai_scheduler.preempted"})
    return af.api("GET", f"/api/v2/eventLogs?{q}")["event_logs"]


def test_spot_task_runs_on_the_celery_worker_and_is_costed(celery_airflow):
    af = celery_airflow
    run_id = af.trigger("it_celery")
    state = af.wait_run("it_celery", run_id, timeout=150)
    assert state == "success", _why(af, run_id)
    worker_pid, scheduler_pid = af.procs["celery-worker"].pid, af.procs["scheduler"].pid

    spot = af.xcom("it_celery", run_id, "on_spot")
    assert spot["env"]["AI_SCHEDULER_FLEET"] == "celery-spot" and spot["env"]["AI_SCHEDULER_TIER"] == "spot"
    assert worker_pid in spot["ancestors"], "the spot task did not run under the celery worker"
    assert scheduler_pid not in spot["ancestors"], "the spot task ran in a local pool"
    local = af.xcom("it_celery", run_id, "on_demand")
    assert local["env"]["AI_SCHEDULER_FLEET"] == "local-on-demand"
    assert scheduler_pid in local["ancestors"] and worker_pid not in local["ancestors"]

    rows = wait_history(af, "it_celery", run_id, lambda rs: len([r for r in rs if r["outcome"] == "success"]) == 2)
    # the operator's check: one worker (concurrency 2) serves the spot queue, and slots say 2
    table = af.airflow("ai-scheduler", "fleets", "--check").stdout
    (spot_line,) = [line for line in table.splitlines() if line.startswith("celery-spot")]
    assert "1 on 'spot-q-" in spot_line and "concurrency 2 (ok)" in spot_line
    assert "scheduler's process pool" in table
    by_task = {r["task_id"]: r for r in rows}
    assert by_task["on_spot"]["fleet"] == "celery-spot" and by_task["on_spot"]["tier"] == "spot"
    assert by_task["on_demand"]["fleet"] == "local-on-demand"
    assert all(r["actual_cost"] > 0 and r["price_per_hour_at_launch"] > 0 for r in rows)
    assert by_task["on_spot"]["price_per_hour_at_launch"] < by_task["on_demand"]["price_per_hour_at_launch"]
    (ti,) = [t for t in af.task_instances("it_celery", run_id) if t["task_id"] == "on_spot"]
    assert ti["try_number"] == 1


def test_a_task_no_worker_takes_is_revoked_when_stuck_in_queued_and_fails(celery_airflow):
    af = celery_airflow
    run_id = af.stuck_run  # triggered when the deployment came up
    assert af.wait_run("it_stuck", run_id, timeout=120) == "failed"
    (ti,) = af.task_instances("it_stuck", run_id)
    assert ti["state"] == "failed" and ti["try_number"] == 1
    # Airflow's stuck-in-queued handling reached the executor (a NotImplementedError would leave it QUEUED),
    # and the fleet's thread revoked the Celery task (logged a moment later)
    assert "queued longer than task_queued_timeout on fleet celery-nowhere: revoked" in af.logs("scheduler")
    deadline = time.monotonic() + 20
    while "revoked (Celery task ai-scheduler/celery-nowhere/" not in af.logs("scheduler"):
        assert time.monotonic() < deadline, "the celery-nowhere fleet never revoked the Celery task"
        time.sleep(0.5)
    q = urllib.parse.urlencode({"dag_id": "it_stuck", "run_id": run_id, "event": "stuck in queued tries exceeded"})
    assert af.api("GET", f"/api/v2/eventLogs?{q}")["total_entries"] == 1


def test_a_killed_worker_process_is_a_preemption_and_the_task_is_relaunched(celery_airflow, tmp_path):
    af = celery_airflow
    hold = tmp_path / "hold.json"
    run_id = af.trigger("it_celery", conf={"hold_file": str(hold)})
    deadline = time.monotonic() + 90
    while not hold.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert hold.exists(), "the spot task never started on the celery worker"
    time.sleep(0.5)
    pids = json.loads(hold.read_text())
    # the spot machine goes: the Celery pool process supervising the task dies, then the task itself
    for pid in (pids["ppid"], pids["pid"]):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert af.wait_run("it_celery", run_id, timeout=150) == "success"

    rows = wait_history(af, "it_celery", run_id,
                        lambda rs: any(r["task_id"] == "on_spot" and r["outcome"] == "success" for r in rs))
    spot = sorted((r for r in rows if r["task_id"] == "on_spot"), key=lambda r: r["id"])
    assert [(r["outcome"], r["fleet"]) for r in spot][0] == ("preempted", "celery-spot")
    assert spot[-1]["outcome"] == "success" and {r["try_number"] for r in spot} == {1}
    assert af.xcom("it_celery", run_id, "on_spot")["env"]["AI_SCHEDULER_FLEET"] in ("celery-spot", "local-on-demand")
    # detected from the result backend (Celery's WorkerLostError), not from a silent worker: it is still up
    assert "WorkerLostError" in af.logs("scheduler")
    (event,) = _preempted_events(af, run_id)
    assert event["task_id"] == "on_spot" and "WorkerLostError" in event["extra"]
    assert "preemption 1 of at most" in event["extra"]
    assert "Something went wrong when trying to save task event logs" not in af.logs("scheduler")
    assert af.procs["celery-worker"].poll() is None


def test_a_restarted_scheduler_adopts_the_task_on_the_celery_worker_and_relaunches_it_when_preempted(
        celery_airflow, tmp_path):
    af = celery_airflow
    gate, hold = tmp_path / "gate", tmp_path / "hold.json"
    started = Path(f"{gate}.started")
    run_id = af.trigger("it_celery", conf={"gate_file": str(gate), "hold_file": str(hold)})
    deadline = time.monotonic() + 150
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert started.exists(), "the spot task never started on the celery worker"
    af.kill("scheduler")  # SIGKILL: no clean shutdown; the task keeps running on the worker
    time.sleep(2)
    af.start_component("scheduler")
    deadline = time.monotonic() + 120
    adopted = "on fleet celery-spot (ai-scheduler/celery-spot/"
    while adopted not in af.logs("scheduler") and time.monotonic() < deadline:
        time.sleep(1)
    assert adopted in af.logs("scheduler"), "the restarted scheduler did not adopt the task:\n" + "\n".join(
        line[:300] for line in af.logs("scheduler").splitlines()
        if any(w in line.lower() for w in ("adopt", "orphan", "celery", "reset", "ai_scheduler", "error")))[-6000:]
    gate.write_text("go")
    # the adopted task goes on (no second start) and then loses its spot machine: its pool process dies
    deadline = time.monotonic() + 60
    while not hold.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert hold.exists(), "the adopted task did not go on past the gate"
    assert len(started.read_text().split()) == 1, "the spot task ran twice before its preemption"
    time.sleep(0.5)
    pids = json.loads(hold.read_text())
    for pid in (pids["ppid"], pids["pid"]):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    # the new scheduler's fleet checked its queue: the one worker's concurrency matches slots (a check that
    # found no worker, e.g. its inspect reply was late, is repeated within 30 s)
    matched = "fleet celery-spot: 1 worker(s) on queue 'spot-q-"
    deadline = time.monotonic() + 45
    while matched not in af.logs("scheduler") and time.monotonic() < deadline:
        time.sleep(1)
    assert matched in af.logs("scheduler"), [ln for ln in af.logs("scheduler").splitlines() if "celery-spot:" in ln]
    assert af.wait_run("it_celery", run_id, timeout=150) == "success"

    # relaunched by the preemption handler from the rebuilt workload, not by Airflow's retries
    assert "could not be rebuilt" not in af.logs("scheduler")
    assert len(started.read_text().split()) == 2
    (ti,) = [t for t in af.task_instances("it_celery", run_id) if t["task_id"] == "on_spot"]
    assert ti["try_number"] == 1
    rows = wait_history(af, "it_celery", run_id, lambda rs: len([r for r in rs if r["outcome"] == "success"]) == 2)
    spot = sorted((r for r in rows if r["task_id"] == "on_spot"), key=lambda r: r["id"])
    assert [r["outcome"] for r in spot] == ["preempted", "success"]
    assert spot[0]["fleet"] == "celery-spot" and spot[0]["actual_cost"] > 0
    assert {r["try_number"] for r in spot} == {1}
    assert len(_preempted_events(af, run_id)) == 1
