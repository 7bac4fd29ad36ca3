"""adaptive_slack: never misses a feasible deadline (random and adversarial traces), waits when ahead, learns the
pool online; the benchmark's split, switch count and score."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_ai_scheduler.recovery import AdaptiveSlack, ProgressState, get_policy
from airflow_ai_scheduler.recovery.pool import PoolPrior, PoolStats
from airflow_ai_scheduler.simulate.simulator import Job, simulate
from airflow_ai_scheduler.simulate.traces import Trace

BENCH = Path(__file__).parents[2] / "bench" / "simulate_spot.py"


def bench():
    spec = importlib.util.spec_from_file_location("simulate_spot_bench", BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, mod)
    spec.loader.exec_module(mod)
    return mod


def state(t=0.0, done=0.0, work=10.0, deadline=20.0, d=0.05, step=0.05, avail=False, current="none"):
    return ProgressState(t, done, work, deadline, d, step, avail, current)


@settings(max_examples=200, deadline=None)
@given(work=st.floats(0.5, 8.0), slack=st.floats(0.0, 6.0), overhead=st.sampled_from([0.0, 0.02, 0.05, 0.1, 0.5]),
       bits=st.lists(st.booleans(), min_size=1, max_size=80), gap=st.sampled_from([30, 195, 300, 900]),
       kappa=st.sampled_from([0.0, 0.2, 1.0, 3.0]), select=st.sampled_from([0.0, 1.0, 10.0]))
def test_never_misses_a_feasible_deadline(work, slack, overhead, bits, gap, kappa, select):
    job = Job(work, work + overhead + slack, overhead)  # feasible at the start by construction
    r = simulate(AdaptiveSlack(kappa=kappa, select=select), job, Trace("h", gap, tuple(bits)))
    assert r.finished and not r.missed, (r.makespan, job.deadline_hours)


def _adversarial(kind: str, n: int = 4000) -> tuple[bool, ...]:
    if kind == "flicker":      # up one tick, down one tick: every spot stint is one tick
        return tuple(i % 2 == 0 for i in range(n))
    if kind == "lure":         # up long enough to be trusted, then gone for good
        return tuple(i < 300 for i in range(n))
    if kind == "late-outage":  # plenty early, nothing near the end of a 52 h run
        return tuple(i < 700 for i in range(n))
    if kind == "rare":         # one tick up in fifty
        return tuple(i % 50 == 0 for i in range(n))
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["flicker", "lure", "late-outage", "rare"])
@pytest.mark.parametrize("deadline,delay", [(48.11, 0.1), (52.0, 0.1), (70.0, 0.02)])
def test_safety_net_on_adversarial_traces(kind, deadline, delay):
    job = Job(48.0, deadline, delay)
    for start in (0, 137, 1999):
        r = simulate(AdaptiveSlack(), job, Trace(kind, 195, _adversarial(kind)), start)
        assert r.finished and not r.missed, (kind, start, r.makespan)


def test_waits_when_ahead_and_runs_on_demand_when_behind():
    p = AdaptiveSlack()
    assert p.decide(state(t=0.0, done=0.0, work=10.0, deadline=40.0)) == "wait"         # 30 h of slack
    p = AdaptiveSlack()
    assert p.decide(state(t=0.0, done=0.0, work=10.0, deadline=10.5)) == "on_demand"    # 0.45 h: behind
    p = AdaptiveSlack()
    assert p.decide(state(t=0.0, done=0.0, work=10.0, deadline=10.5, avail=True)) == "spot"
    # on on-demand through an outage: keeps it (idling would cost a changeover when it resumes), even far ahead
    p = AdaptiveSlack()
    assert p.decide(state(t=1.0, done=1.0, work=6.0, deadline=40.0, current="on_demand")) == "on_demand"


def test_safety_net_overrides_waiting():
    p = AdaptiveSlack(kappa=0.0)  # would always wait
    assert p.decide(state(t=9.96, done=0.0, work=10.0, deadline=20.0)) == "on_demand"  # 0.04 h left
    assert AdaptiveSlack(kappa=0.0).decide(state(t=9.0, done=0.0, work=10.0, deadline=20.0)) == "wait"


def test_leaves_on_demand_for_spot_only_when_the_stint_pays_for_the_changeovers():
    short = AdaptiveSlack(prior=PoolPrior(up_hours=0.05, weight_hours=1e6))
    long_ = AdaptiveSlack(prior=PoolPrior(up_hours=3.0, weight_hours=1e6))
    s = state(t=1.0, done=1.0, work=10.0, deadline=20.0, d=0.1, avail=True, current="on_demand")
    assert short.decide(s) == "on_demand" and long_.decide(s) == "spot"


def test_learns_the_pool_online_and_resets_for_a_new_job():
    prior = PoolPrior(availability=0.9, up_hours=5.0, down_hours=0.5, weight_hours=4.0)
    stats = PoolStats(prior)
    for i in range(200):  # 10 h observed, up 1 tick in 10
        stats.observe(i * 0.05, i % 10 == 0, 0.05)
    # 1.0 h up in 9.95 h observed, plus the prior's 4 h at 0.9: (1.0 + 3.6) / 13.95
    assert stats.availability == pytest.approx(4.6 / 13.95) and stats.mean_up_hours < 1.0
    stats.observe(0.0, True, 0.05)  # elapsed went back: a new job
    assert stats.availability == pytest.approx(0.9) and stats.mean_up_hours == pytest.approx(5.0)
    gap = PoolStats(prior)
    gap.observe(0.0, False, 0.05)
    gap.observe(3.0, False, 0.05)  # not contiguous (60 steps later): not counted as 3 h down
    assert gap.availability == pytest.approx(0.9)


def test_a_learned_bad_pool_goes_on_demand_where_the_prior_would_wait():
    fresh, learned = AdaptiveSlack(kappa=1.0), AdaptiveSlack(kappa=1.0)
    for i in range(400):  # 20 h of a pool that is up 1 tick in 20
        learned.stats.observe(i * 0.05, i % 20 == 0, 0.05)
    s = state(t=20.05, done=12.0, work=24.0, deadline=20.05 + 12.0 + 8.0)
    assert fresh.decide(s) == "wait"
    assert learned.decide(s) == "on_demand"


def test_registered_and_configurable_by_name():
    assert type(get_policy("adaptive_slack")).__name__ == "AdaptiveSlack"


def test_bench_split_is_disjoint_and_covers_every_family():
    b = bench()
    halves = b.split()
    train, test = ({t.name for t in halves[h]} for h in ("train", "test"))
    assert train and test and not train & test
    for fam in b.FAMILIES:
        assert any(n.startswith(fam) for n in test), fam
    assert b.split() == halves  # deterministic


def test_bench_switches_and_score():
    b = bench()
    assert b.switches(["spot", "wait", "spot", "on_demand", "on_demand", "wait", "spot"]) == 2
    assert b.switches(["wait", "wait"]) == 0
    job = Job(48.0, 52.0, 0.05)
    assert b.score(job, job.od_cost) == pytest.approx(0.0)
    assert b.score(job, job.spot_cost) == pytest.approx(100.0)
    assert b.score(job, (job.od_cost + job.spot_cost) / 2) == pytest.approx(50.0)


def test_bench_cell_counts_misses_and_switches():
    b = bench()
    tr = Trace("alt", 1800, tuple((i // 4) % 2 == 0 for i in range(48)))
    cell = b.run_cell(get_policy("spot_only"), Job(4.0, 4.2, 0.05), [tr], 2)
    assert cell["runs"] == 2 and cell["misses"] == 2 and cell["switches"] == 0
    cell = b.run_cell(get_policy("on_demand"), Job(4.0, 4.2, 0.05), [tr], 2)
    assert cell["misses"] == 0 and cell["score"] == pytest.approx(0.0)


def test_selective_when_the_slack_affords_few_changeovers():
    """From on-demand, a freshly returned spot is taken only while the slack pays a changeover pair for every
    uptime still to come; with less, only an uptime that has lasted (most short ones end first)."""
    prior = PoolPrior(availability=0.5, up_hours=1.0, weight_hours=1e6)
    s = state(t=2.0, done=2.0, work=40.0, d=0.1, avail=True, current="on_demand")
    tight = ProgressState(**{**s.__dict__, "deadline_hours": 2.0 + 38.0 + 2.0})   # 2 h: 10 pairs for ~19 uptimes
    ample = ProgressState(**{**s.__dict__, "deadline_hours": 2.0 + 38.0 + 8.0})   # 8 h: 40 pairs
    p = AdaptiveSlack(prior=prior)
    assert p.selectivity(2.0, 38.0, 0.1) > 0.5 and p.selectivity(8.0, 38.0, 0.1) == 0.0
    assert AdaptiveSlack(prior=prior).decide(tight) == "on_demand"
    assert AdaptiveSlack(prior=prior).decide(ample) == "spot"
    assert AdaptiveSlack(prior=prior, select=0.0).decide(tight) == "spot"
    aged = AdaptiveSlack(prior=prior)
    for i in range(30):  # spot up for the last 1.5 h
        aged.stats.observe(0.5 + i * 0.05, True, 0.05)
    assert aged.decide(tight) == "spot"


def test_bench_multi_zone_moves_to_spot_elsewhere_and_pays_egress():
    b = bench()
    east = Trace("east", 1800, tuple(i < 4 for i in range(40)))   # up 2 h, then gone
    west = Trace("west", 1800, tuple(i >= 2 for i in range(40)))  # up from 1 h on
    job = Job(6.0, 12.0, 0.1)
    one, _ = b.simulate_zones(get_policy("greedy"), job, [east], 0)
    both, moves = b.simulate_zones(get_policy("greedy"), job, [east, west], 0, egress_per_move=2.0)
    assert moves == 1 and both.interruptions == 1 and not both.missed
    assert both.od_hours == 0 and both.spot_hours == pytest.approx(6.0 + 2 * 0.1)  # two starts
    assert both.cost == pytest.approx(both.spot_hours * job.spot_price + 2.0)
    assert one.od_hours > 0  # alone, the lost zone leaves on-demand
    # one zone through simulate_zones is the plain simulator
    plain = simulate(get_policy("greedy"), job, east, 0)
    assert (one.cost, one.makespan) == pytest.approx((plain.cost, plain.makespan))
