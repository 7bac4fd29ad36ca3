"""PreemptionHandler's decisions over a run's plan: the deadline it gives the spot policy, the fleet it picks,
the budget — through its narrow callbacks (the real path runs in tests/integration/test_executor.py)."""

from __future__ import annotations

import math
from concurrent.futures import Future
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from factories import NOW, job, manifest, offer

from airflow_ai_scheduler.airflow.ledger import Entry, Stage
from airflow_ai_scheduler.airflow.preemption import (
    FleetOption,
    PreemptionCallbacks,
    PreemptionHandler,
    choose_fleet,
    effective_deadline,
)
from airflow_ai_scheduler.recovery import get_policy

OFFERS = [offer("spot-a", "spot", 0.3, lam=0.1), offer("spot-b", "spot", 0.35, lam=0.1),
          offer("od", "on-demand", 1.0)]
FLEETS = [FleetOption("spot-a", "spot", 1), FleetOption("spot-b", "spot", 1), FleetOption("od", "on-demand", 1)]


def _handler(m, fleets=FLEETS, retries=3, calls=None):
    calls = calls if calls is not None else []

    def requeue(entry):
        f: Future = Future()
        f.set_result((entry.workload, True))
        calls.append(("requeue", entry.key.task_id))
        return f

    cb = PreemptionCallbacks(
        fail=lambda key, info: calls.append(("fail", key.task_id, info)), requeue=requeue,
        replan=lambda d, r: calls.append(("replan", d, r)), event=lambda key, e, x: calls.append(("event", e)),
        job=lambda key: m.job_map.get(key.task_id), deadline=lambda key, j: effective_deadline(m, j),
        fleets=lambda j: fleets)
    return PreemptionHandler(get_policy("safe_uniform_progress"), retries, cb)


A_WORKLOAD = object()


def _entry(task_id, *, first_start=NOW, ran_hours=0.0, preemptions=0, workload=A_WORKLOAD):
    key = SimpleNamespace(dag_id="d", run_id="r", task_id=task_id, map_index=-1)
    return Entry(key=key, workload=workload, stage=Stage.LAUNCHED, fleet="spot-a", launched_at=first_start,
                 first_start=first_start, ran_hours=ran_hours, preemptions=preemptions)


def test_an_upstream_without_deadline_gets_its_dependents_deadline():
    m = manifest([job("prep", 2.0, is_checkpointable=True), job("report", 1.0, ["prep"], deadline_h=4)], OFFERS)
    h = _handler(m)
    state = h.state(_entry("prep", ran_hours=0.5), m.job_map["prep"])
    # report needs its 1 h, its restart overhead and a decision step before its deadline at +4 h
    assert state.deadline_hours == pytest.approx(4 - 1 - 0.05 - 1 / 60, abs=1e-3) and state.work_total_hours == 2.0
    assert h.state(_entry("report"), m.job_map["report"]).deadline_hours == pytest.approx(4.0, abs=1e-3)


def test_no_deadline_anywhere_is_infinite():
    m = manifest([job("a", 1.0), job("b", 1.0, ["a"])], OFFERS)
    assert math.isinf(_handler(m).state(_entry("a", ran_hours=0.1), m.job_map["a"]).deadline_hours)


def test_out_of_slack_goes_on_demand_and_spot_prefers_another_pool():
    m = manifest([job("prep", 2.0, is_checkpointable=True), job("report", 1.0, ["prep"], deadline_h=4)], OFFERS)
    h = _handler(m)
    late = _entry("prep", first_start=NOW - timedelta(hours=2.5), ran_hours=0.5, preemptions=1)
    # 2.5 h elapsed, ~1.75 h of work left, 0.5 h to prep's effective deadline: only on-demand can make it
    assert h.policy.decide(h.state(late, m.job_map["prep"])) == "on_demand"
    assert choose_fleet("spot", m.job_map["prep"], "spot-a", FLEETS) == "spot-b"
    assert choose_fleet("on_demand", m.job_map["prep"], "spot-a", FLEETS) == "od"
    assert choose_fleet("wait", m.job_map["prep"], "spot-a", FLEETS) is None


def test_a_spot_only_task_stays_on_spot_and_a_full_tier_waits():
    m = manifest([job("t", 1.0, allowed_tiers=["spot"])], OFFERS)
    fleets = [FleetOption("spot-a", "spot", 0), FleetOption("od", "on-demand", 1)]
    assert choose_fleet("on_demand", m.job_map["t"], "spot-a", fleets) is None  # its only spot pool is full
    assert choose_fleet("spot", m.job_map["t"], None, [FleetOption("spot-a", "spot", 1, spot_available=False)]) is None


def test_a_preemption_requeues_and_replans_until_the_budget_is_spent():
    m = manifest([job("t", 1.0, is_checkpointable=True)], OFFERS)
    calls: list = []
    h = _handler(m, retries=1, calls=calls)
    e = _entry("t", first_start=NOW - timedelta(minutes=30))
    assert h.on_preempted(e, "lost") is True
    assert e.preemptions == 1 and e.ran_hours > 0.49 and e.pending is not None and e.previous_fleet == "spot-a"
    assert ("requeue", "t") in calls and ("replan", "d", "r") in calls and ("event", "ai_scheduler.preempted") in calls
    e.launched_at = NOW
    assert h.on_preempted(e, "lost again") is False
    assert calls[-1][0] == "fail" and "preempted 2 times" in calls[-1][2]


def test_a_task_without_a_workload_that_was_not_adopted_is_failed_not_relaunched():
    m = manifest([job("t", 1.0)], OFFERS)
    calls: list = []
    assert _handler(m, calls=calls).on_preempted(_entry("t", workload=None), "lost") is False
    assert calls[-1][0] == "fail"


def test_each_preempted_task_decides_with_its_own_copy_of_a_learning_policy():
    """adaptive_slack learns a pool's availability along one job's timeline and resets when the elapsed time
    goes back; tasks taking turns on one shared instance would reset it at every call."""
    m = manifest([job("a", 2.0, is_checkpointable=True, deadline_h=8), job("b", 2.0, deadline_h=8)], OFFERS)
    cb_handler = _handler(m)
    handler = PreemptionHandler(get_policy("adaptive_slack"), 3, cb_handler.cb)
    now = datetime.now(timezone.utc)  # the handler's clock is the wall clock
    old = _entry("a", first_start=now - timedelta(hours=1), ran_hours=0.5, preemptions=1)
    new = _entry("b", first_start=now - timedelta(minutes=1), ran_hours=0.01, preemptions=1)
    for _ in range(3):  # the two take turns, as relaunching tasks do in the executor's loop
        for e in (old, new):
            handler.decide(e)
    assert old.spot_policy is not new.spot_policy and old.spot_policy is not handler.policy
    # each follows its own job's clock (a shared one would have been reset by b's earlier clock each turn)
    assert old.spot_policy.stats.last_t == pytest.approx(1.0, abs=0.01)
    assert new.spot_policy.stats.last_t == pytest.approx(1 / 60, abs=0.01)
    assert handler.policy.stats.last_t is None  # the configured instance stays a template
