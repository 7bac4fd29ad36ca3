"""The greedy planner: cheapest marginal Ω, capacity, deadlines, price windows — and always valid."""

from __future__ import annotations

import random

import pytest
from factories import job, manifest, offer

from airflow_ai_scheduler.exceptions import InfeasiblePlanError
from airflow_ai_scheduler.models import Weights
from airflow_ai_scheduler.planning.base import Choice
from airflow_ai_scheduler.planning.greedy import GreedyPlanner, build_plan
from airflow_ai_scheduler.planning.validate import validate


def test_picks_spot_for_a_short_job_without_deadline(basic_offers):
    m = manifest([job("a", 1.0)], basic_offers)
    plan = GreedyPlanner().plan(m)
    assert plan.placements[0].offer_id in {"spot", "spot-eu"}
    assert plan.placements[0].tier == "spot"
    assert validate(m, plan, basic_offers) == []


def test_tight_hard_deadline_forces_on_demand(basic_offers):
    # 2 h of work, deadline at 2 h: any rework on spot misses it
    m = manifest([job("a", 2.0, deadline_h=2.0, hard_deadline=True, duration_std_hours=0.01)], basic_offers,
                 weights=Weights(tardiness=100))
    plan = GreedyPlanner().plan(m)
    assert plan.placements[0].offer_id == "od"
    assert validate(m, plan, basic_offers) == []


def test_dependencies_start_after_their_dependencies_end(basic_offers):
    m = manifest([job("a", 1.0), job("b", 0.5, deps=["a"]), job("c", 0.5, deps=["a"]),
                  job("d", 1.0, deps=["b", "c"])], basic_offers)
    plan = GreedyPlanner().plan(m)
    pm = plan.placement_map
    assert pm["b"].start_time >= pm["a"].expected_end_time
    assert pm["d"].start_time >= max(pm["b"].expected_end_time, pm["c"].expected_end_time)
    assert validate(m, plan, basic_offers) == []


def test_capacity_limited_pool_spills_or_serialises():
    offers = [offer("cheap", "spot", 0.1, lam=0.01, capacity=1), offer("od", price=1.0)]
    m = manifest([job(f"j{i}", 1.0, deadline_h=1.2, hard_deadline=True) for i in range(3)], offers,
                 weights=Weights(tardiness=100))
    plan = GreedyPlanner().plan(m)
    used = [p.offer_id for p in plan.placements]
    assert used.count("cheap") == 1 and used.count("od") == 2
    assert validate(m, plan, offers) == []


def test_waits_for_a_cheaper_price_window_when_slack_allows():
    offers = [offer("s", "spot", 1.0, lam=0.0, schedule=[(2.0, 0.2)])]
    m = manifest([job("a", 1.0, deadline_h=10)], offers)
    p = GreedyPlanner().plan(m).placements[0]
    assert (p.start_time - m.now).total_seconds() == pytest.approx(2 * 3600)
    assert p.estimated_cost == pytest.approx(0.2)


def test_no_fitting_offer_is_infeasible_and_names_the_job(basic_offers):
    m = manifest([job("gpu-train", 1.0, resources={"vcpus": 4, "memoryGib": 8, "gpus": 1})], basic_offers)
    with pytest.raises(InfeasiblePlanError, match="gpu-train"):
        GreedyPlanner().plan(m)


def test_random_dags_always_validate():
    rng = random.Random(7)
    offers = [offer("od", price=1.0), offer("od-eu", price=0.9, region="eu-west-1"),
              offer("s1", "spot", 0.3, lam=0.05, capacity=3), offer("s2", "spot", 0.2, lam=0.3, capacity=2),
              offer("w", "spot", 0.6, lam=0.02, schedule=[(1.0, 0.1), (3.0, 0.7)])]
    for trial in range(20):
        jobs = []
        for i in range(30):
            deps = rng.sample([f"j{k}" for k in range(i)], k=min(i, rng.randint(0, 2)))
            jobs.append(job(f"j{i}", rng.uniform(0.1, 3), deps=deps, priority=rng.randint(1, 5),
                            is_checkpointable=rng.random() < 0.5, input_data_size_gb=rng.choice([0, 0, 50]),
                            deadline_h=rng.choice([None, rng.uniform(3, 20)])))
        m = manifest(jobs, offers)
        plan = GreedyPlanner().plan(m)
        assert validate(m, plan, offers) == [], f"trial {trial}"


def test_build_plan_prices_given_choices_and_keeps_starts(basic_offers):
    m = manifest([job("a", 1.0), job("b", 1.0, deps=["a"])], basic_offers)
    plan = build_plan(m, basic_offers, {"a": Choice("od"), "b": Choice("spot", 3.0)}, planner="test")
    pm = plan.placement_map
    assert pm["a"].offer_id == "od" and pm["a"].estimated_cost == pytest.approx(1.0)
    assert (pm["b"].start_time - m.now).total_seconds() == pytest.approx(3 * 3600)
    assert validate(m, plan, basic_offers) == []


def test_lookahead_keeps_data_where_its_dependents_will_read_it():
    # a is cheapest on aws, but b (100 GB of a's output) may only run on gcp: greedy alone puts a on aws and
    # pays the egress; told where b will be, it puts a on gcp and moves nothing
    offers = [offer("aws", price=0.9, provider="aws"), offer("gcp", price=1.0, provider="gcp", region="us-central1")]
    m = manifest([job("a", 1.0), job("b", 1.0, deps=["a"], input_data_size_gb=100, allowed_providers=["gcp"])],
                 offers)
    alone = GreedyPlanner().plan(m)
    ahead = GreedyPlanner(lookahead={"a": "gcp:us-central1", "b": "gcp:us-central1"}).plan(m)
    assert alone.placement_map["a"].offer_id == "aws" and alone.objective.cost > 2.0 + 1.0  # egress paid
    assert ahead.placement_map["a"].offer_id == "gcp" and ahead.objective.cost == pytest.approx(2.0)
    assert validate(m, ahead, offers) == [] and ahead.objective.total < alone.objective.total


def _full_scan_plan(m, offers, lookahead=None):
    """Greedy as it was before the floor: every candidate evaluated, the first best in candidate order."""
    from airflow_ai_scheduler.planning.candidates import CandidateIndex
    from airflow_ai_scheduler.planning.greedy import _Scheduler, latest_finish
    from airflow_ai_scheduler.planning.objective import egress_rate

    planner = GreedyPlanner(lookahead=lookahead)
    sched = _Scheduler(m, offers)
    cands = CandidateIndex(m, offers)
    lf = latest_finish(m, sched.scorer)
    outputs = planner._outputs(m) if lookahead else {}
    for j in planner._order(m, lf):
        best = None
        for o in cands.for_job(j):
            omega, sc = sched.evaluate(j, o, lf[j.job_id])
            omega += m.weights.cost * sum(gb * egress_rate(m.egress, o.location, loc)
                                          for loc, gb in outputs.get(j.job_id, ()))
            if best is None or omega < best[0] - 1e-9:
                best = (omega, o, sc)
        sched.commit(j, best[1], best[2])
    return sched.to_plan("greedy", __import__("airflow_ai_scheduler.planning.base").planning.base.Stopwatch())


@pytest.mark.parametrize("seed", range(12))
def test_floor_pruning_picks_what_a_full_scan_picks(seed):
    """The planner skips offers whose floor (lowest price, P_int, lateness at the ready time) is above the
    best Ω found: on random DAGs with price windows, capacities, deadlines, data and elastic jobs it must
    choose the same offer and start for every job as evaluating every candidate does."""
    rng = random.Random(seed)
    regions = [("aws", "us-east-1"), ("aws", "eu-west-1"), ("gcp", "us-central1")]
    offers = []
    for i in range(14):
        provider, region = rng.choice(regions)
        tier = rng.choice(["spot", "on-demand"])
        schedule = [(rng.uniform(0.5, 6), rng.uniform(0.05, 2))] if rng.random() < 0.3 else None
        offers.append(offer(f"o{i}", tier, rng.uniform(0.05, 2), provider=provider, region=region,
                            vcpus=rng.choice([2, 4, 8, 16]), lam=rng.uniform(0, 0.5) if tier == "spot" else 0,
                            capacity=rng.choice([None, 1, 2]), schedule=schedule))
    jobs = []
    for i in range(40):
        deps = rng.sample([f"j{k}" for k in range(i)], k=min(i, rng.randint(0, 2)))
        jobs.append(job(f"j{i}", rng.uniform(0.1, 3), deps=deps, priority=rng.randint(1, 4),
                        deadline_h=rng.uniform(1, 12) if rng.random() < 0.6 else None,
                        is_checkpointable=rng.random() < 0.5, input_data_size_gb=rng.choice([0, 0, 20]),
                        elastic=rng.random() < 0.2, resources={"vcpus": 2, "memory_gib": 2}))
    m = manifest(jobs, offers)
    lookahead = {j.job_id: rng.choice(["aws:us-east-1", "gcp:us-central1"]) for j in jobs} if seed % 2 else None
    fast = GreedyPlanner(lookahead=lookahead).plan(m)
    slow = _full_scan_plan(m, offers, lookahead)
    key = lambda p: [(x.job_id, x.offer_id, x.start_time) for x in p.placements]  # noqa: E731
    assert key(fast) == key(slow)
    assert fast.objective == slow.objective
    assert validate(m, fast, offers) == []
