"""The executor itself, with fake fleets and a real planning service over given run data: the ledger's
transitions, holds and their refresh, plan validation and fallbacks, dispatch order, gates, preemption,
revoke and adoption. (tests/integration/test_executor.py runs the same paths in a real Airflow.)"""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import Future
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_ai_scheduler.airflow.executor import AiSchedulerExecutor
from airflow_ai_scheduler.airflow.gates import Gate, Verdict
from airflow_ai_scheduler.airflow.ledger import Stage
from airflow_ai_scheduler.airflow.manifest import RunInfo, TaskInfo, build_manifest
from airflow_ai_scheduler.airflow.planning_service import PlanningService, RunPlan
from airflow_ai_scheduler.airflow.routing import PLAN_GIVE_UP_SECONDS
from airflow_ai_scheduler.dispatch import Candidate, DispatchPolicy
from airflow_ai_scheduler.fleets.base import FleetBackend, FleetReport, FleetStatus
from airflow_ai_scheduler.settings import settings_from

NOW = datetime.now(timezone.utc)
BASE = {"provider": "aws", "region": "us-east-1", "instance_type": "m6i.xlarge", "backend": "fake"}


class FakeFleet(FleetBackend):
    adoptable = False

    def __init__(self, spec: Any, context: Any = None) -> None:
        super().__init__(spec, context)
        self.submitted: list[Any] = []
        self.in_flight: set[Any] = set()
        self.reports: list[FleetReport] = []
        self.revoked: list[Any] = []
        self.held: list[tuple[Any, float]] = []
        self.spot_up = True

    def start(self) -> None:
        pass

    def submit(self, workload: Any) -> None:
        self.submitted.append(workload)
        self.in_flight.add(workload.key)

    def poll(self) -> list[FleetReport]:
        out, self.reports = self.reports, []
        for r in out:
            if r.status.finished:
                self.in_flight.discard(r.key)
        return out

    def free_slots(self) -> int:
        return self.spec.slots - len(self.in_flight) if self.spot_up else 0

    def revoke(self, key: Any) -> None:
        self.revoked.append(key)
        self.in_flight.discard(key)

    def waiting(self) -> list[tuple[Any, float]]:
        return list(self.held)

    def spot_available(self) -> bool:
        return self.spot_up


class AdoptingFleet(FakeFleet):
    adoptable = True

    def adopt(self, key: Any, external_id: str) -> bool:
        self.in_flight.add(key)
        return True


class FakeBookkeeper:
    """Records the chores instead of doing them in a database."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.scope = None

    def _done(self, value: Any = None) -> Future:
        f: Future = Future()
        f.set_result(value)
        return f

    def touch_queued(self, ids: list[Any]) -> Future:
        self.calls.append(("touch", sorted(map(str, ids))))
        return self._done()

    def event(self, key: Any, event: str, extra: str) -> Future:
        self.calls.append(("event", key.task_id, event, extra))
        return self._done()

    def record_try(self, key: Any, launch: dict[str, Any]) -> Future:
        self.calls.append(("history", key.task_id, launch.get("outcome", "ran"), launch["fleet"]))
        return self._done()

    def requeue(self, workload: Any, key: Any, jwt: Any) -> Future:
        self.calls.append(("requeue", key.task_id))
        return self._done((workload, True))

    def periodic(self) -> Future:
        return self._done()

    def forget(self, runs: list) -> None:
        pass

    def submit(self, fn: Any, *args: Any) -> Future:
        return self._done(fn(*args))

    sweep = submit

    def shutdown(self, wait: bool = False) -> None:
        pass

    def of(self, kind: str) -> list[tuple]:
        return [c for c in self.calls if c[0] == kind]


class GivenRuns(PlanningService):
    """The real planning service; only the scheduler's DB read of a run is replaced by given data."""

    runs: dict[tuple[str, str], RunInfo] = {}

    def _collect(self, dag_id: str, run_id: str):
        run = self.runs[(dag_id, run_id)]
        return build_manifest(run, now=datetime.now(timezone.utc), offers=self.offers, default_duration_hours=0.5,
                              defaults=self.settings.manifest_defaults), run


def _fleets(*extra: dict) -> str:
    return json.dumps([{**BASE, "name": "spot", "tier": "spot", "slots": 2},
                       {**BASE, "name": "od", "tier": "on-demand", "slots": 2}, *extra])


def make_executor(runs: dict, fleets: str | None = None, gates: list | None = None,
                  fleet_cls: type = FakeFleet, **options: str) -> tuple[AiSchedulerExecutor, FakeBookkeeper]:
    settings = settings_from({"fleets": fleets or _fleets(), "planner": "greedy", **options})
    ex = AiSchedulerExecutor()
    fleets_ = {s.name: fleet_cls(s) for s in settings.fleets}
    planning = GivenRuns(settings)
    planning.runs = runs
    book = FakeBookkeeper()
    ex.assemble(settings, fleets_, planning=planning, bookkeeper=book, gates=gates or [])
    return ex, book


def workload(task_id: str, dag_id: str = "d", run_id: str = "r", priority_weight: int = 1, map_index: int = -1) -> Any:
    from airflow.executors.workloads import ExecuteTask
    from airflow.executors.workloads.base import BundleInfo
    from airflow.executors.workloads.task import TaskInstanceDTO

    ti = TaskInstanceDTO(id=uuid.uuid4(), task_id=task_id, dag_id=dag_id, run_id=run_id, try_number=1,
                         dag_version_id=uuid.uuid4(), map_index=map_index, pool_slots=1, queue="default",
                         priority_weight=priority_weight)
    return ExecuteTask(token="tok", ti=ti, dag_rel_path="d.py", bundle_info=BundleInfo(name="b", version=None),
                       log_path="x.log")


def run_of(*tasks: TaskInfo, dag_id: str = "d", run_id: str = "r", owners: dict | None = None) -> dict:
    return {(dag_id, run_id): RunInfo(dag_id=dag_id, run_id=run_id, run_start=NOW, tasks=list(tasks),
                                      owners=owners or {})}


def loop(ex: AiSchedulerExecutor, rounds: int = 1) -> None:
    for _ in range(rounds):
        ex.planning.drain(timeout=30)
        ex.heartbeat()


def hint(**kw: Any) -> dict:
    from airflow_ai_scheduler.airflow.hints import placement

    return placement(**kw)


def test_a_task_moves_through_the_ledger_and_leaves_it_with_a_history_row():
    ex, book = make_executor(run_of(TaskInfo("a")))
    w = workload("a")
    ex.queue_workload(w, None)
    assert ex.ledger.get(w.key).stage is Stage.PLANNING
    loop(ex)
    entry = ex.ledger.get(w.key)
    assert entry.stage is Stage.LAUNCHED and entry.fleet == "spot" and entry.reason == ""
    assert ex.fleets["spot"].submitted == [w] and w.key not in ex.queued_tasks
    ex.fleets["spot"].reports.append(FleetReport(w.key, FleetStatus.SUCCESS))
    ex.heartbeat()
    assert w.key not in ex.ledger and ex.event_buffer[w.key][0] == "success"
    assert book.of("history") == [("history", "a", "ran", "spot")]


def test_an_invalid_plan_routes_nothing_and_the_task_runs_on_its_safe_fleet_with_the_reason():
    ex, book = make_executor(run_of(TaskInfo("a")))
    w = workload("a")
    ex.queue_workload(w, None)
    ex.planning.drain(timeout=30)
    rp = ex.planning.get("d", "r")
    from airflow_ai_scheduler.models import Violation

    bad = rp.plan.model_copy(update={"violations": [Violation(job_id="a", rule="capacity", detail="injected")],
                                     "status": "invalid"})
    ex.planning._plans[("d", "r")] = RunPlan(plan=bad, final=True, routable=False, reason="1 violation(s): injected")
    ex.heartbeat()
    entry = ex.ledger.get(w.key)
    assert entry.fleet == "od" and entry.reason.startswith("fallback: its run's plan is not valid")
    assert ex.fleets["spot"].submitted == [] and ex.fleets["od"].submitted == [w]
    (event,) = book.of("event")
    assert event[2] == "ai_scheduler.fallback" and "injected" in event[3]


def test_a_task_no_fleet_can_run_runs_on_demand_and_the_plan_says_why():
    ex, book = make_executor(run_of(TaskInfo("big", executor_config=hint(resources={"gpus": 64})),
                                    TaskInfo("small", upstream_task_ids=["big"])))
    big, small = workload("big"), workload("small")
    ex.queue_workload(big, None)
    loop(ex)
    rp = ex.planning.get("d", "r")
    assert rp.unmet["big"] == "hint resources.gpus=64: the largest fleet has 0 GPUs" and rp.routable
    assert any(n.startswith("big: hint resources.gpus=64") for n in rp.plan.notes)
    assert ex.ledger.get(big.key).fleet == "od" and "fallback: hint resources.gpus=64" in ex.ledger.get(big.key).reason
    ex.queue_workload(small, None)
    loop(ex)
    assert ex.ledger.get(small.key).reason == ""  # the rest of the run is planned as usual


def test_a_budget_no_fleet_meets_goes_to_the_cheapest_fitting_fleet():
    ex, _ = make_executor(run_of(TaskInfo("a", executor_config=hint(budget_usd=1e-6, duration=2.0))))
    w = workload("a")
    ex.queue_workload(w, None)
    loop(ex)
    entry = ex.ledger.get(w.key)
    assert entry.fleet == "spot" and "budget_usd" in entry.reason


def test_without_a_plan_a_task_waits_then_falls_back(monkeypatch):
    ex, _ = make_executor(run_of(TaskInfo("a")))
    monkeypatch.setattr(ex.planning, "request", lambda *a, **k: None)  # the planner never answers
    w = workload("a")
    ex.queue_workload(w, None)
    ex.heartbeat()
    assert ex.ledger.get(w.key).stage is Stage.PLANNING and not ex.fleets["od"].submitted
    ex.ledger.get(w.key).seen -= PLAN_GIVE_UP_SECONDS + 1
    ex.heartbeat()
    assert ex.ledger.get(w.key).stage is Stage.LAUNCHED and ex.fleets["od"].submitted == [w]
    assert "no plan for its run" in ex.ledger.get(w.key).reason


def test_held_tasks_and_fleet_buffers_are_kept_fresh_in_queued():
    later = (NOW + timedelta(hours=2)).isoformat()
    fleets = _fleets({**BASE, "name": "night", "tier": "spot", "slots": 1, "region": "eu-west-1",
                      "price_schedule": [{"from": later, "price_per_hour": 0.0001}]})
    ex, book = make_executor(run_of(TaskInfo("batch", executor_config=hint(deadline=timedelta(hours=6)))),
                             fleets=fleets, max_hold_seconds="36000")
    w = workload("batch")
    ex.queue_workload(w, None)
    loop(ex)
    entry = ex.ledger.get(w.key)
    assert entry.stage is Stage.HELD and entry.reason.startswith("price window") and "night" in entry.reason
    assert [c[2] for c in book.of("event")] == ["ai_scheduler.held"]
    buffered = workload("other")
    ex.fleets["od"].held = [(buffered, time.monotonic() - ex.queued_timeout)]
    entry.stage_since -= ex.queued_timeout  # held a long time
    ex._last_refresh = 0.0
    ex.sync()
    (touch,) = book.of("touch")
    assert touch[1] == sorted([str(w.ti.id), str(buffered.ti.id)])
    loop(ex)
    assert len(book.of("event")) == 1  # the same reason is said once


class ShortestFirst(DispatchPolicy):
    name = "test_sjf"

    def order(self, candidates, fleet, now):
        return sorted(candidates, key=lambda c: c.expected_runtime_hours)


def test_more_due_than_free_slots_are_ordered_by_the_fleet_dispatch_policy(monkeypatch):
    from airflow_ai_scheduler.dispatch import base

    monkeypatch.setitem(base._BUILTIN, "test_sjf", ShortestFirst)
    fleets = json.dumps([{**BASE, "name": "od", "tier": "on-demand", "slots": 1, "dispatch_policy": "test_sjf"}])
    tasks = [TaskInfo(t, priority_weight=w, executor_config=hint(duration=d))
             for t, w, d in (("long", 9, 3.0), ("short", 1, 0.1), ("mid", 5, 1.0))]
    ex, _ = make_executor(run_of(*tasks), fleets=fleets)
    ws = {t.task_id: workload(t.task_id, priority_weight=t.priority_weight) for t in tasks}
    for w in ws.values():
        ex.queue_workload(w, None)
    loop(ex)
    assert [w.ti.task_id for w in ex.fleets["od"].submitted] == ["short"]  # not 'long', Airflow's first
    assert {ex.ledger.get(ws[t].key).stage for t in ("long", "mid")} == {Stage.DUE}


class Budget(Gate):
    name = "budget"

    def check(self, task):
        if task.task_id == "pricey":
            return Verdict("hold", "owner ml over its daily budget")
        if task.task_id == "forbidden":
            return Verdict("fail", "not allowed")
        return None


def test_gates_hold_with_a_reason_or_fail_the_task():
    ex, book = make_executor(run_of(TaskInfo("pricey"), TaskInfo("forbidden"), TaskInfo("ok")), gates=[Budget()])
    ws = {t: workload(t) for t in ("pricey", "forbidden", "ok")}
    for w in ws.values():
        ex.queue_workload(w, None)
    loop(ex)
    assert ex.ledger.get(ws["pricey"].key).stage is Stage.HELD
    assert ex.ledger.get(ws["pricey"].key).reason == "budget: owner ml over its daily budget"
    assert ws["forbidden"].key not in ex.ledger and ex.event_buffer[ws["forbidden"].key][0] == "failed"
    assert ws["forbidden"].key not in ex.queued_tasks
    assert ex.ledger.get(ws["ok"].key).stage is Stage.LAUNCHED


def test_a_preempted_task_is_relaunched_on_another_pool_and_recorded():
    fleets = _fleets({**BASE, "name": "spot2", "tier": "spot", "slots": 2, "region": "us-east-2",
                      "price_per_hour": 0.08, "vcpus": 4, "memory_gib": 16})
    ex, book = make_executor(run_of(TaskInfo("train", executor_config=hint(checkpointable=True))), fleets=fleets)
    w = workload("train")
    ex.queue_workload(w, None)
    loop(ex)
    first = ex.ledger.get(w.key).fleet
    assert ex.fleets[first].spec.tier == "spot"
    ex.fleets[first].reports.append(FleetReport(w.key, FleetStatus.PREEMPTED, "capacity lost"))
    ex.heartbeat()  # poll: preempted; sync: the (done) requeue is read and the policy decides
    entry = ex.ledger.get(w.key)
    assert entry.preemptions == 1 and ("history", "train", "preempted", first) in book.calls
    assert entry.stage is Stage.LAUNCHED and entry.fleet != first and entry.first_start is not None
    assert [c[2] for c in book.of("event")] == ["ai_scheduler.preempted"]


def test_revoke_forgets_the_task_and_takes_it_back_from_its_fleet():
    ex, _ = make_executor(run_of(TaskInfo("a")))
    w = workload("a")
    ex.queue_workload(w, None)
    loop(ex)
    ti = type("TI", (), {"key": w.key})()
    ex.revoke_task(ti=ti)
    assert w.key not in ex.ledger and ex.fleets["spot"].revoked == [w.key]


def test_only_adoptable_fleets_adopt_and_the_task_is_tracked_from_its_start():
    from airflow_ai_scheduler.fleets.base import EXTERNAL_ID_PREFIX

    ex, _ = make_executor({}, fleet_cls=AdoptingFleet)
    ex.fleets["od"].adoptable = False
    key = workload("a").key
    start = NOW - timedelta(minutes=5)
    tis = [type("TI", (), {"key": key, "external_executor_id": f"{EXTERNAL_ID_PREFIX}spot/x", "start_date": start,
                           "executor_config": {}})(),
           type("TI", (), {"key": workload("b").key, "external_executor_id": f"{EXTERNAL_ID_PREFIX}od/y",
                           "start_date": start, "executor_config": {}})(),
           type("TI", (), {"key": workload("c").key, "external_executor_id": "someone-else", "start_date": start,
                           "executor_config": {}})()]
    left = ex.try_adopt_task_instances(tis)
    assert [t.key.task_id for t in left] == ["b", "c"]
    entry = ex.ledger.get(key)
    assert entry.adopted and entry.stage is Stage.LAUNCHED and entry.launched_at == start


def test_debug_dump_says_where_every_task_is():
    ex, _ = make_executor(run_of(TaskInfo("a")))
    w = workload("a")
    ex.queue_workload(w, None)
    text = ex.debug_text()
    assert "ai-scheduler ledger (1)" in text and "planning (1)" in text and "task_id='a'" in text
    assert "fleet spot: {'free_slots': 2" in text
    ex.debug_dump()  # what SIGUSR2 calls: never raises


def test_a_run_that_is_over_is_forgotten():
    ex, _ = make_executor(run_of(TaskInfo("a")))
    w = workload("a")
    ex.queue_workload(w, None)
    loop(ex)
    ex.fleets["spot"].reports.append(FleetReport(w.key, FleetStatus.SUCCESS))
    ex.heartbeat()
    assert ex.planning.known_runs() == [("d", "r")]
    ex.bookkeeper.sweep = lambda fn, *args: FakeBookkeeper()._done([("d", "r")])  # the run is over
    ex._last_prune = 0.0
    ex.sync()
    ex.sync()
    assert ex.planning.known_runs() == []


@pytest.mark.parametrize(("options", "message"), [
    pytest.param({"planner": "bogus"}, r"\[ai_scheduler\] planner: unknown planner 'bogus'", id="planner"),
    pytest.param({"spot_policy": "nope"}, r"\[ai_scheduler\] spot_policy: unknown policy 'nope'", id="spot-policy"),
    pytest.param({"dispatch_policy": "nope"}, r"\[ai_scheduler\] dispatch_policy: unknown policy", id="dispatch"),
    pytest.param({"fleets": json.dumps([{**BASE, "name": "x", "tier": "spot", "backend": "k8z"}])},
                 r"fleet 'x': unknown backend 'k8z'", id="backend"),
    pytest.param({"fleets": "[{]"}, r"\[ai_scheduler\] fleets is not valid JSON", id="fleets-json"),
    pytest.param({"plan_wait_seconds": "soon"}, r"\[ai_scheduler\] plan_wait_seconds must be a float", id="float"),
    pytest.param({"preemption_retries": "2.5"}, r"\[ai_scheduler\] preemption_retries must be an integer",
                 id="integer"),
    pytest.param({"planner_time_limit_seconds": "0"}, r"planner_time_limit_seconds must be > 0", id="limit"),
])
def test_a_misconfigured_option_fails_start_naming_it(options, message):
    from airflow_ai_scheduler.exceptions import ConfigError

    with pytest.raises(ConfigError, match=message):
        settings_from(options).check()


def test_start_fails_on_a_bogus_planner(monkeypatch):
    from airflow_ai_scheduler.exceptions import ConfigError

    monkeypatch.setenv("AIRFLOW__AI_SCHEDULER__PLANNER", "bogus")
    with pytest.raises(ConfigError, match="planner: unknown planner 'bogus'"):
        AiSchedulerExecutor().start()


def test_candidates_carry_owner_deadline_and_plan():
    ex, _ = make_executor(run_of(TaskInfo("a", executor_config=hint(deadline=timedelta(hours=1), priority=3)),
                                 owners={"a": "ml-team"}))
    w = workload("a")
    ex.queue_workload(w, None)
    ex.planning.drain(timeout=30)
    c = ex.router.candidate(ex.ledger.get(w.key), ex.planning)
    assert isinstance(c, Candidate) and c.owner == "ml-team" and c.priority == 3 and c.deadline is not None
    assert c.expected_cost > 0 and c.expected_runtime_hours == pytest.approx(0.5, rel=0.2)


def test_an_earlier_workloads_end_reported_after_its_key_was_queued_again_is_not_passed_on():
    """A deferred try's supervisor may exit after the trigger fired and the scheduler queued the resumption
    (same key): its "success" must not reach the scheduler, which would fail the queued resumption."""
    ex, book = make_executor(run_of(TaskInfo("a")))
    w = workload("a")
    ex.queue_workload(w, None)
    loop(ex)
    assert ex.ledger.get(w.key).stage is Stage.LAUNCHED
    ex.queued_tasks[w.key] = w  # deferred, triggered, queued again by the scheduler: same key
    ex.ledger.add(w.key, w)
    ex.fleets["spot"].reports.append(FleetReport(w.key, FleetStatus.SUCCESS))  # then the first one exits
    ex._poll_fleets()
    assert w.key not in ex.event_buffer and ex.ledger.get(w.key).stage is Stage.PLANNING
    assert not book.of("history")
    ex.heartbeat()  # the resumption is launched and runs; its own end is passed on
    assert ex.ledger.get(w.key).stage is Stage.LAUNCHED
    ex.fleets["spot"].reports.append(FleetReport(w.key, FleetStatus.SUCCESS))
    ex.heartbeat()
    assert ex.event_buffer[w.key][0] == "success" and book.of("history") == [("history", "a", "ran", "spot")]


def test_a_task_whose_planned_fleet_stays_full_past_its_start_moves_to_a_free_fleet():
    fleets = json.dumps([{**BASE, "name": "spot", "tier": "spot", "slots": 1},
                         {**BASE, "name": "od", "tier": "on-demand", "slots": 2}])
    tasks = [TaskInfo(f"t{i}", executor_config=hint(duration=timedelta(minutes=1))) for i in range(3)]
    ex, _ = make_executor(run_of(*tasks), fleets=fleets, delay_cost_per_hour="0")  # waiting is free: only slips move
    ws = [workload(t.task_id) for t in tasks]
    for w in ws:
        ex.queue_workload(w, None)
    loop(ex)
    rp = ex.planning.get("d", "r")
    # greedy planned the three on the one spot slot, one after another; one runs, two wait
    assert {p.offer_id for p in rp.plan.placements} == {"spot"} and len(ex.fleets["spot"].submitted) == 1
    assert not ex.fleets["od"].submitted
    later = [e for e in ex.ledger.entries(Stage.DUE)]
    from airflow_ai_scheduler.airflow import routing

    for p in rp.plan.placements:  # the planned starts slip well past (as when a burst overran the plan)
        rp.placements[p.job_id] = p.model_copy(update={"start_time": p.start_time - timedelta(minutes=5)})
    ex.heartbeat()
    moved = [e for e in later if ex.ledger.get(e.key).stage is Stage.LAUNCHED]
    assert len(moved) == 2 and {e.fleet for e in moved} == {"od"} and len(ex.fleets["od"].submitted) == 2
    assert all(e.reason.startswith("moved: planned on spot") for e in moved)
    assert routing.SLIP_SECONDS == 30.0


def _burst(delay: str, *, deadline: timedelta | None = None) -> tuple[AiSchedulerExecutor, list[Any]]:
    """Five one-task runs at once on a 1-slot spot fleet (+ a 2-slot on-demand one): each run is planned
    alone, so each plan puts its task on spot now; the first four fill spot's slot and its buffer
    (``waiting``), the fifth finds it full."""
    fleets = json.dumps([{**BASE, "name": "spot", "tier": "spot", "slots": 1},
                         {**BASE, "name": "od", "tier": "on-demand", "slots": 2}])
    cfg = hint(duration=timedelta(minutes=1), **({"deadline": deadline} if deadline else {}))
    runs = {k: v for i in range(5) for k, v in run_of(TaskInfo("t", executor_config=cfg), run_id=f"r{i}").items()}
    ex, _ = make_executor(runs, fleets=fleets, delay_cost_per_hour=delay)
    ws = [workload("t", run_id=f"r{i}") for i in range(5)]
    for w in ws[:1]:
        ex.queue_workload(w, None)
    loop(ex)
    ex.fleets["spot"].held = [(object(), 0.0)] * 3  # three more already wait in spot's buffer
    for w in ws[1:]:
        ex.queue_workload(w, None)
    loop(ex)
    return ex, ws


def test_a_task_whose_wait_has_a_price_leaves_a_full_fleet_at_once_for_a_free_one():
    ex, ws = _burst("1.0")
    assert all(ex.planning.get("d", f"r{i}").placements["t"].offer_id == "spot" for i in range(5))
    moved = [ex.ledger.get(w.key) for w in ws[1:]]
    assert ex.fleets["spot"].submitted == [ws[0]] and len(ex.fleets["od"].submitted) == 2
    assert sorted(e.stage.value for e in moved).count(Stage.LAUNCHED.value) == 2
    reasons = [e.reason for e in moved if e.stage is Stage.LAUNCHED]
    # 3 in spot's buffer: the first moved task would wait ~(3/1 + 0.5) min = 210 s at $1/h ($0.058) > ~$0.002
    assert reasons[0].startswith("moved: spot is full (3 ahead, ~210 s wait at $1/h of delay") and "od had a free" in reasons[0]


def test_mapped_tasks_expanded_after_planning_run_at_once_and_their_run_is_replanned():
    runs = run_of(TaskInfo("m"))  # planned before expansion: one unexpanded task instance
    ex, _ = make_executor(runs)
    ex.planning.request("d", "r")
    ex.planning.drain(timeout=30)
    assert set(ex.planning.get("d", "r").placements) == {"m"}
    runs[("d", "r")].tasks = [TaskInfo("m", map_index=i) for i in range(3)]  # expanded
    ws = [workload("m", map_index=i) for i in range(3)]
    for w in ws:
        ex.queue_workload(w, None)
    ex.heartbeat()
    entries = [ex.ledger.get(w.key) for w in ws]
    assert all(e.stage is Stage.LAUNCHED for e in entries)  # routed by the unexpanded task's placement (spot)
    # spot has 2 slots: the third's wait there is priced by its task's delay rate, so it runs on demand now
    assert [e.fleet for e in entries] == ["spot", "spot", "od"] and entries[2].reason.startswith("moved: spot is full")
    ex.planning.drain(timeout=30)
    rp = ex.planning.get("d", "r")
    assert {"m[0]", "m[1]", "m[2]"} <= set(rp.placements) and {"m[0]", "m[1]", "m[2]"} <= set(rp.delay_rates)


@pytest.mark.parametrize(("delay", "deadline"), [
    pytest.param("0", None, id="no-delay-cost"),
    pytest.param("1.0", timedelta(hours=6), id="deadline-bounds-the-wait"),
])
def test_a_task_whose_wait_is_free_stays_on_its_planned_fleet(delay, deadline):
    ex, ws = _burst(delay, deadline=deadline)
    assert not ex.fleets["od"].submitted
    assert all(ex.ledger.get(w.key).stage is Stage.DUE for w in ws[1:])


@pytest.mark.parametrize(("hint_kwargs", "said"), [
    pytest.param({"providers": ["oracle"]}, "hint providers=['oracle']: the fleets are on ['aws']", id="provider"),
    pytest.param({"regions": ["eu-west-9"]}, "hint regions=['eu-west-9']: the fleets are on ['us-east-1']",
                 id="region"),
    pytest.param({"resources": {"memory_gib": 512}}, "hint resources.memory_gib=512: the largest fleet has 16 GiB",
                 id="memory"),
    pytest.param({"tiers": ["spot"], "resources": {"vcpus": 8}},
                 "hint resources.vcpus=8: the largest fleet has 4 vCPUs", id="vcpus"),
])
def test_an_unmeetable_hint_names_the_field_and_what_the_fleets_offer(hint_kwargs, said):
    ex, _ = make_executor(run_of(TaskInfo("t", executor_config=hint(**hint_kwargs))))
    w = workload("t")
    ex.queue_workload(w, None)
    loop(ex)
    assert ex.planning.get("d", "r").unmet["t"] == said
    assert ex.ledger.get(w.key).stage is Stage.LAUNCHED  # it still runs

def test_candidates_say_what_they_unblock_and_fleet_views_count_owners():
    tasks = [TaskInfo("a", executor_config=hint(duration=timedelta(minutes=5))),
             TaskInfo("b", executor_config=hint(duration=timedelta(minutes=5)), upstream_task_ids=["a"]),
             TaskInfo("c", executor_config=hint(duration=timedelta(minutes=5)), upstream_task_ids=["b"])]
    ex, _ = make_executor(run_of(*tasks, owners={"a": "ml-team"}))
    w = workload("a")
    ex.queue_workload(w, None)
    ex.planning.drain(timeout=30)
    entry = ex.ledger.get(w.key)
    assert ex.router.candidate(entry, ex.planning).descendants == 2
    fleet = next(iter(ex.router.fleets))
    view = ex.router.fleet_view(fleet, {fleet: [entry]}, 1, ex.planning)
    assert view.running_by_owner == {"ml-team": 1} and view.running_by_dag == {"d": 1}


def test_dispatch_options_reach_the_policy_and_a_bad_one_fails_start(tmp_path):
    from airflow_ai_scheduler.exceptions import ConfigError

    fleets = json.dumps([{**BASE, "name": "od", "tier": "on-demand", "slots": 1, "dispatch_policy": "fair_share",
                          "dispatch_options": {"by": "dag"}},
                         {**BASE, "name": "spot", "tier": "spot", "slots": 1}])
    ex, _ = make_executor({}, fleets=fleets, dispatch_policy="sjf", dispatch_options='{"aging": 0.5}')
    assert ex.router.policies["od"].by == "dag" and ex.router.policies["spot"].aging == 0.5
    bad = json.dumps([{**BASE, "backend": "local", "name": "od", "tier": "on-demand", "slots": 1,
                       "dispatch_policy": "rl", "dispatch_options": {"path": str(tmp_path / "missing.npz")}}])
    with pytest.raises(ConfigError, match=r"fleet 'od' dispatch_policy: .*missing.npz is not a dispatch policy file"):
        settings_from({"fleets": bad}).check()
    with pytest.raises(ConfigError, match="dispatch_options is not valid JSON"):
        settings_from({"dispatch_options": "{aging"}).check()


def test_fleet_views_count_the_last_hours_preemptions_and_failures():
    ex, _ = make_executor(run_of(TaskInfo("a"), TaskInfo("b")))
    a, b = workload("a"), workload("b")
    for w in (a, b):
        ex.queue_workload(w, None)
    loop(ex)
    ex.fleets["spot"].reports += [FleetReport(a.key, FleetStatus.PREEMPTED, "lost"),
                                  FleetReport(b.key, FleetStatus.FAILED, "boom")]
    ex.heartbeat()
    view = ex.router.fleet_view("spot", {}, 1)
    assert (view.recent_preemptions, view.recent_failures) == (1, 1)
    ex.router.recent["spot"][0] = (time.monotonic() - 4000, "preempted")  # over an hour ago
    assert ex.router.fleet_view("spot", {}, 1).recent_preemptions == 0
    c = ex.router.candidate(ex.ledger.get(a.key), ex.planning)
    assert c.run_remaining_hours == pytest.approx(1.0)  # two jobs of 0.5 h
