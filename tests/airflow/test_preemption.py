"""PreemptionHandler's decisions over a run's plan: the deadline it gives the spot policy, the fleet it picks.

The executor around it is a plain stand-in holding the run's plan and fleets (the real path runs in
tests/integration/test_executor.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace

import pytest
from factories import NOW, job, manifest, offer

from airflow_ai_scheduler.airflow.preemption import PreemptionHandler, Relaunch
from airflow_ai_scheduler.recovery import get_policy

OFFERS = [offer("spot-a", "spot", 0.3, lam=0.1), offer("spot-b", "spot", 0.35, lam=0.1),
          offer("od", "on-demand", 1.0)]


@dataclass
class _Fleet:
    tier: str
    free: int = 1

    @property
    def spec(self):
        return SimpleNamespace(tier=self.tier)

    def free_slots(self) -> int:
        return self.free

    def spot_available(self) -> bool:
        return True


def _handler(m, fleets=None):
    rp = SimpleNamespace(manifest=m)
    ex = SimpleNamespace(planning=SimpleNamespace(get=lambda dag_id, run_id: rp),
                         fleets=fleets or {"spot-a": _Fleet("spot"), "spot-b": _Fleet("spot"), "od": _Fleet("on-demand")},
                         offer_map={o.offer_id: o for o in OFFERS})
    return PreemptionHandler(ex, get_policy("safe_uniform_progress"), retries=3)


def _key(task_id):
    return SimpleNamespace(dag_id="d", run_id="r", task_id=task_id, map_index=-1)


def test_an_upstream_without_deadline_gets_its_dependents_deadline():
    m = manifest([job("prep", 2.0, is_checkpointable=True), job("report", 1.0, ["prep"], deadline_h=4)], OFFERS)
    h = _handler(m)
    r = Relaunch(workload=None, first_start=NOW, ran_hours=0.5, preemptions=1)
    state = h.state(_key("prep"), r)
    # report needs its 1 h, its restart overhead and a decision step before its deadline at +4 h
    assert state.deadline_hours == pytest.approx(4 - 1 - 0.05 - 1 / 60) and state.work_total_hours == 2.0
    assert h.state(_key("report"), r).deadline_hours == 4.0


def test_no_deadline_anywhere_is_infinite():
    m = manifest([job("a", 1.0), job("b", 1.0, ["a"])], OFFERS)
    state = _handler(m).state(_key("a"), Relaunch(workload=None, first_start=NOW, ran_hours=0.1, preemptions=1))
    assert math.isinf(state.deadline_hours)


def test_out_of_slack_goes_on_demand_and_spot_prefers_another_pool():
    m = manifest([job("prep", 2.0, is_checkpointable=True), job("report", 1.0, ["prep"], deadline_h=4)], OFFERS)
    h = _handler(m)
    late = Relaunch(workload=None, first_start=NOW - timedelta(hours=2.5), ran_hours=0.5, preemptions=1)
    # 2.5 h elapsed, ~1.75 h of work left, 0.5 h to prep's effective deadline: only on-demand can make it
    assert h.policy.decide(h.state(_key("prep"), late)) == "on_demand"
    assert h._fleet_for("spot", m.job_map["prep"], previous="spot-a") == "spot-b"
    assert h._fleet_for("on_demand", m.job_map["prep"], previous="spot-a") == "od"
    assert h._fleet_for("wait", m.job_map["prep"], previous="spot-a") is None


def test_a_spot_only_task_stays_on_spot_and_a_full_tier_waits():
    m = manifest([job("t", 1.0, allowed_tiers=["spot"])], OFFERS)
    h = _handler(m, {"spot-a": _Fleet("spot", free=0), "od": _Fleet("on-demand")})
    assert h._fleet_for("on_demand", m.job_map["t"], previous="spot-a") is None  # its only spot pool is full
