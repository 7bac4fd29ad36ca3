"""Manifest mode: greedy plan, spot jobs replayed on a trace with the OD fallback priced from the manifest."""

from __future__ import annotations

import pytest

from airflow_ai_scheduler.recovery import get_policy
from airflow_ai_scheduler.simulate.simulator import Trace
from airflow_ai_scheduler.simulate.workload import simulate_manifest
from tests.factories import job, manifest, offer


def _manifest():
    spot = offer("s", "spot", 1.0).model_copy(update={"instance_type": "g"})
    od = offer("o", "on-demand", 3.0).model_copy(update={"instance_type": "g"})
    return manifest([job("train", 4.0, deadline_h=10, restart_overhead_hours=0.25)], [spot, od])


def test_spot_all_available_costs_spot_price():
    tot = simulate_manifest(_manifest(), get_policy(), Trace("up", 900, (True,)))
    assert tot["jobs"] == 1 and tot["misses"] == 0 and tot["interruptions"] == 0
    assert tot["spot_hours"] == pytest.approx(4.25) and tot["cost"] == pytest.approx(4.25 * 1.0)


def test_no_spot_falls_back_to_same_type_on_demand_in_time():
    tot = simulate_manifest(_manifest(), get_policy(), Trace("down", 900, (False,)))
    assert tot["misses"] == 0 and tot["spot_hours"] == 0 and tot["od_hours"] == pytest.approx(4.25)
    assert tot["cost"] == pytest.approx(4.25 * 3.0) and tot["makespan"] <= 10
    naive = simulate_manifest(_manifest(), get_policy("spot_only"), Trace("down", 900, (False,)))
    assert naive["misses"] == 1 and naive["cost"] == 0


def _chain():
    spot = offer("s", "spot", 1.0).model_copy(update={"instance_type": "g"})
    od = offer("o", "on-demand", 3.0).model_copy(update={"instance_type": "g"})
    return manifest([job("a", 2.0, is_checkpointable=True, restart_overhead_hours=0.1),
                     job("b", 1.0, ["a"], deadline_h=6, is_checkpointable=True, restart_overhead_hours=0.1)],
                    [spot, od])


def test_a_late_upstream_delays_and_replans_its_dependent_and_both_meet_the_deadline():
    """No spot at all: 'a' has no deadline of its own, but b's 6 h deadline binds it (effective deadline),
    so it waits for spot only while b can still make it, then runs on on-demand; b starts after a really
    finished (re-planned from then) and still meets its deadline."""
    tot = simulate_manifest(_chain(), get_policy(), Trace("down", 900, (False,)))
    assert tot["misses"] == 0 and tot["spot_hours"] == 0
    assert tot["od_hours"] == pytest.approx(2.1 + 1.1)
    assert tot["replans"] >= 1
    # a waited for spot before switching: the run took longer than its on-demand work, within 6 h
    assert 2.1 + 1.1 < tot["makespan"] <= 6


def test_spot_only_upstream_makes_the_dependent_miss():
    naive = simulate_manifest(_chain(), get_policy("spot_only"), Trace("down", 900, (False,)))
    assert naive["misses"] >= 1


def test_pool_capacity_holds_when_a_late_job_pushes_into_the_next_one():
    """Pool s has one machine; the plan puts a on it right after its upstream x, and b right after a. x ends
    later than planned (the restart overhead the simulator charges every start), so a is ready only after
    b's planned start: one of them must wait for the other instead of sharing the one machine."""
    spot = offer("s", "spot", 1.0, capacity=1).model_copy(update={"instance_type": "g"})
    spot2 = offer("s2", "spot", 1.0, region="us-west-2").model_copy(update={"instance_type": "h"})
    od = offer("o", "on-demand", 3.0).model_copy(update={"instance_type": "g"})
    m = manifest([job("x", 1.0, allowed_regions=["us-west-2"], allowed_tiers=["spot"]),
                  job("a", 1.0, ["x"], allowed_regions=["us-east-1"], allowed_tiers=["spot"]),
                  job("b", 1.0, allowed_regions=["us-east-1"], allowed_tiers=["spot"])], [spot, spot2, od])
    tot = simulate_manifest(m, get_policy(), Trace("up", 900, (True,)), replan=False, timeline=True)
    on_s = sorted((start, end) for oid, start, end in tot["timeline"].values() if oid == "s")
    assert len(on_s) == 2
    assert on_s[0][1] <= on_s[1][0] + 1e-9, f"two jobs on the one machine of pool s at once: {on_s}"
    assert tot["capacity_wait_hours"] > 0 and tot["misses"] == 0
