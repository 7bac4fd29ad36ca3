"""The local process fleet's workers, as processes: they do not outlive a scheduler that was killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from procutil import alive

SCRIPT = textwrap.dedent("""
    import sys, time
    from airflow_ai_scheduler.fleets.base import parse_fleets
    from airflow_ai_scheduler.fleets.local import LocalProcessFleet

    (spec,) = parse_fleets([{"name": "f", "provider": "aws", "region": "us-east-1",
                             "instance_type": "m6i.xlarge", "tier": "spot", "slots": 2}])
    fleet = LocalProcessFleet(spec)
    fleet.start()
    print(" ".join(str(p.pid) for p in fleet.workers), flush=True)
    time.sleep(600)
""")


def test_idle_workers_exit_when_the_scheduler_is_killed():
    parent = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2 and all(alive(p) for p in pids)
        parent.send_signal(signal.SIGKILL)  # as a crashed or OOM-killed scheduler
        parent.wait(timeout=10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(alive(p) for p in pids):
            time.sleep(0.2)
        assert not any(alive(p) for p in pids), "fleet workers outlived their scheduler"
    finally:
        if parent.poll() is None:
            parent.kill()
        for p in pids if "pids" in locals() else []:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass


class _Outbox:
    """The workers' side of the fleet: messages they send, then the pipe closes."""

    def __init__(self, messages):
        self.messages = list(messages)

    def get(self):
        if not self.messages:
            raise EOFError
        return self.messages.pop(0)


class _Worker:
    def is_alive(self) -> bool:
        return True


def test_a_fleet_holds_prefetched_workloads_and_refills_a_worker_as_soon_as_a_task_ends():
    import queue
    from collections import namedtuple

    from airflow_ai_scheduler.fleets.base import FleetContext, parse_fleets
    from airflow_ai_scheduler.fleets.local import STARTED, LocalProcessFleet

    W = namedtuple("W", "key token")
    (spec,) = parse_fleets([{"name": "f", "provider": "aws", "region": "us-east-1",
                             "instance_type": "m6i.xlarge", "tier": "on-demand", "slots": 2}])
    fleet = LocalProcessFleet(spec, FleetContext(mint=lambda w: w._replace(token="fresh")))
    fleet.inbox, fleet.workers = queue.SimpleQueue(), [_Worker(), _Worker()]
    assert fleet.prefetch == 2 and fleet.free_slots() == 4
    for k in "abcd":
        fleet.submit(W(k, "old"))
    assert fleet.free_slots() == 0
    # (the generation of the key's submission, the workload)
    assert [fleet.inbox.get_nowait() for _ in range(2)] == [(1, W("a", "fresh")), (2, W("b", "fresh"))]
    assert [w.key for w, _since in fleet.waiting()] == ["c", "d"] and fleet.inbox.empty()

    # a's task ends: the reader hands c to the free worker at once, with a fresh token
    fleet.outbox = _Outbox([("a", STARTED, 111, 1), ("a", "success", None, 1)])
    fleet._read()
    assert fleet.inbox.get_nowait() == (3, W("c", "fresh")) and [w.key for w, _ in fleet.waiting()] == ["d"]
    assert fleet.poll() == [("a", "success", None)] and fleet.free_slots() == 1



def test_the_late_exit_of_a_deferred_try_is_not_reported_for_its_running_resumption():
    """A deferred task's try ends (state deferred) with the key its resumption is queued under. When the
    trigger fires fast, the resumption starts before the first supervisor has exited: that exit must not
    reach the scheduler as "success" of the running resumption (it would mark it failed)."""
    import queue
    from collections import namedtuple

    from airflow_ai_scheduler.fleets.base import parse_fleets
    from airflow_ai_scheduler.fleets.local import STARTED, LocalProcessFleet

    W = namedtuple("W", "key token")
    (spec,) = parse_fleets([{"name": "f", "provider": "aws", "region": "us-east-1",
                             "instance_type": "m6i.xlarge", "tier": "on-demand", "slots": 2}])
    fleet = LocalProcessFleet(spec)
    fleet.inbox, fleet.workers = queue.SimpleQueue(), [_Worker(), _Worker()]
    fleet.submit(W("a", "t"))
    fleet.outbox = _Outbox([("a", STARTED, 111, 1), ("a", "running", "local:f", 1)])
    fleet._read()
    fleet.poll()
    fleet.submit(W("a", "t"))  # deferred, triggered, queued again: the same key
    assert [fleet.inbox.get_nowait() for _ in range(2)] == [(1, W("a", "t")), (2, W("a", "t"))]
    fleet.outbox = _Outbox([("a", STARTED, 222, 2), ("a", "success", None, 1)])  # then the first one exits
    fleet._read()
    assert fleet.poll() == [] and "a" in fleet.in_flight and fleet.pids["a"] == 222
    fleet.outbox = _Outbox([("a", "success", None, 2)])  # the resumption ends
    fleet._read()
    assert fleet.poll() == [("a", "success", None)] and "a" not in fleet.in_flight


def test_a_revoked_workload_leaves_the_buffer_and_a_started_one_loses_its_worker():
    import queue
    from collections import namedtuple

    from airflow_ai_scheduler.fleets.base import parse_fleets
    from airflow_ai_scheduler.fleets.local import STARTED, LocalProcessFleet

    W = namedtuple("W", "key token")
    (spec,) = parse_fleets([{"name": "f", "provider": "aws", "region": "us-east-1",
                             "instance_type": "m6i.xlarge", "tier": "on-demand", "slots": 1}])
    fleet = LocalProcessFleet(spec)
    fleet.inbox, fleet.workers = queue.SimpleQueue(), [_Worker()]
    fleet.submit(W("a", "t"))
    fleet.submit(W("b", "t"))
    assert [w.key for w, _ in fleet.waiting()] == ["b"] and fleet.free_slots() == 0
    fleet.revoke("b")  # still in the prefetch buffer: it just leaves
    assert fleet.waiting() == [] and fleet.free_slots() == 1
    # a started in a worker (a real process group here, as a worker's): revoking it kills that group
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        fleet.outbox = _Outbox([("a", STARTED, child.pid, 1)])
        fleet._read()
        assert fleet.poll() == []
        fleet.revoke("a")
        assert child.wait(timeout=10) == -signal.SIGKILL
        assert fleet.free_slots() == 2 and fleet.poll() == []  # nobody reports a revoked task
    finally:
        if child.poll() is None:
            child.kill()


def test_resize_spawns_workers_and_retires_extra_ones_through_the_queue():
    import queue

    from airflow_ai_scheduler.fleets.base import parse_fleets
    from airflow_ai_scheduler.fleets.local import LocalProcessFleet

    class Dead:
        def is_alive(self) -> bool:
            return False

    (spec,) = parse_fleets([{"name": "f", "provider": "aws", "region": "us-east-1",
                             "instance_type": "m6i.xlarge", "tier": "on-demand", "slots": 2,
                             "options": {"prefetch": 0}}])
    fleet = LocalProcessFleet(spec)
    spawned = []
    fleet._spawn = lambda env: spawned.append(env) or _Worker()
    fleet.inbox, fleet.workers = queue.SimpleQueue(), [_Worker(), _Worker()]
    assert fleet.resize(4) and fleet.capacity == 4 and len(spawned) == 2 and len(fleet.workers) == 4 and fleet.free_slots() == 4
    assert fleet.resize(1) and fleet.capacity == 1 and fleet.free_slots() == 1
    assert [fleet.inbox.get_nowait() for _ in range(3)] == [None, None, None] and fleet.inbox.empty()
    fleet.workers = [_Worker(), Dead(), Dead(), Dead()]  # three took their stop message
    fleet._replace_dead_workers()
    assert len(fleet.workers) == 1 and len(spawned) == 2  # retired, not replaced
    fleet.workers = [Dead()]  # the last one crashes: replaced up to the new size
    fleet._replace_dead_workers()
    assert len(fleet.workers) == 1 and len(spawned) == 3
    assert fleet.resize(0) and fleet.capacity == 1  # never below one: routed tasks must not strand
