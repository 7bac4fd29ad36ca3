"""Simulator accounting on hand-checkable traces, and the safety property through the simulator."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_ai_scheduler.recovery import DEFAULT_POLICY, AlwaysOnDemand, SpotOnlyNaive, get_policy
from airflow_ai_scheduler.simulate.simulator import Job, compare, simulate, start_ticks
from airflow_ai_scheduler.simulate.traces import Trace


def trace(bits: str, gap: float = 3600) -> Trace:
    return Trace("t", gap, tuple(b == "1" for b in bits))


def test_on_demand_accounting():
    job = Job(3.0, 10.0, 0.5, od_price=2.0, spot_price=1.0)
    r = simulate(AlwaysOnDemand(), job, trace("1111"))
    # one start: 0.5 h overhead + 3 h work, all on-demand
    assert (r.od_hours, r.spot_hours, r.interruptions) == (pytest.approx(3.5), 0.0, 0)
    assert r.cost == pytest.approx(7.0) and r.makespan == pytest.approx(3.5) and not r.missed
    assert job.score(r.cost) == pytest.approx(0.0)


def test_spot_only_preemption_and_restart_overheads():
    job = Job(2.0, 4.0, 0.5, od_price=2.0, spot_price=1.0)
    r = simulate(SpotOnlyNaive(), job, trace("110011"), record=True)
    # ticks: 0.5 over + 0.5 work, 1 work, preempted, wait, wait, 0.5 over + 0.5 work
    assert r.decisions == ["spot", "spot", "wait", "wait", "spot"]
    assert r.interruptions == 1
    assert r.spot_hours == pytest.approx(3.0) and r.cost == pytest.approx(3.0)
    assert r.makespan == pytest.approx(5.0) and r.missed  # deadline 4 h
    assert r.cost == pytest.approx(r.spot_hours * 1.0 + r.od_hours * 2.0)


def test_unfinished_run_counts_as_miss():
    r = simulate(SpotOnlyNaive(), Job(1.0, 2.0, 0.0), trace("0"), max_hours=5)
    assert not r.finished and r.missed and r.cost == 0.0


def test_start_ticks_spread():
    assert start_ticks(trace("0" * 10), 5) == [0, 2, 4, 6, 8]


@settings(max_examples=60, deadline=None)
@given(work=st.floats(1.0, 6.0), slack=st.floats(0.0, 4.0), overhead=st.sampled_from([0.0, 0.1, 0.25, 0.5]),
       bits=st.lists(st.booleans(), min_size=1, max_size=60), gap=st.sampled_from([300, 720, 1800]),
       name=st.sampled_from([DEFAULT_POLICY, "greedy", "uniform_progress"]))
def test_safe_policies_never_miss_a_feasible_deadline_in_the_simulator(work, slack, overhead, bits, gap, name):
    job = Job(work, work + overhead + slack, overhead)  # feasible at the start by construction
    r = simulate(get_policy(name), job, Trace("h", gap, tuple(bits)))
    assert r.finished and not r.missed, (r.makespan, job.deadline_hours)
    assert r.cost == pytest.approx(r.spot_hours * job.spot_price + r.od_hours * job.od_price)
    assert r.spot_hours + r.od_hours <= r.makespan + 1e-9  # one instance at a time, never billed while waiting


def test_compare_scores_and_default_beats_on_demand():
    tr = Trace("mix", 600, tuple((i // 12) % 3 != 0 for i in range(600)))
    res = compare({"on_demand": AlwaysOnDemand(), "default": get_policy()}, Job(8.0, 12.0, 0.05), [tr], 4)
    assert res["on_demand"]["score"] == pytest.approx(0.0) and res["on_demand"]["spot_hours"] == 0
    assert res["default"]["misses"] == 0 and res["default"]["cost"] < res["on_demand"]["cost"]
    assert res["default"]["runs"] == 4
