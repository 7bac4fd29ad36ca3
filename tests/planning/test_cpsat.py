"""The CP-SAT planner: optimal on small instances, respects every hard rule, explains infeasibility."""

from __future__ import annotations

import itertools

import pytest
from factories import job, manifest, offer

from airflow_ai_scheduler.exceptions import InfeasiblePlanError
from airflow_ai_scheduler.models import Weights
from airflow_ai_scheduler.planning.base import Choice, get_planner
from airflow_ai_scheduler.planning.cpsat import CpSatPlanner
from airflow_ai_scheduler.planning.greedy import GreedyPlanner, build_plan
from airflow_ai_scheduler.planning.validate import validate


def _solve(m, offers, **kw):
    plan = CpSatPlanner(time_limit_seconds=10, **kw).plan(m, offers)
    assert validate(m, plan, offers) == []
    return plan


def test_small_instance_is_proven_optimal_and_matches_brute_force():
    offers = [offer("od", price=1.0), offer("s1", "spot", 0.4, lam=0.2), offer("s2", "spot", 0.5, lam=0.05,
                                                                              region="eu-west-1")]
    m = manifest([job("a", 1.0, is_checkpointable=True), job("b", 2.0, deps=["a"], deadline_h=3.5),
                  job("c", 0.5, deps=["a"], input_data_size_gb=50)], offers)
    plan = _solve(m, offers)
    # the gap is exact Ω against the location relaxation's bound (capacity ignored, planning/cpsat/relaxation.py)
    assert plan.status == "optimal" and plan.gap is not None and plan.gap < 0.05
    best = min(build_plan(m, offers, {j: Choice(o) for j, o in zip("abc", combo, strict=True)}, planner="bf")
               .objective.total for combo in itertools.product(["od", "s1", "s2"], repeat=3))
    assert plan.objective.total == pytest.approx(best, rel=0.01)


def test_capacity_one_pool_is_never_oversubscribed():
    offers = [offer("cheap", "spot", 0.1, lam=0.01, capacity=1), offer("od", price=1.0)]
    m = manifest([job(f"j{i}", 1.0, deadline_h=1.2, hard_deadline=True) for i in range(3)], offers,
                 weights=Weights(tardiness=100))
    plan = _solve(m, offers)
    assert [p.offer_id for p in plan.placements].count("cheap") == 1


def test_moves_start_into_a_cheaper_window():
    offers = [offer("s", "spot", 1.0, schedule=[(3.0, 0.1)])]
    m = manifest([job("a", 1.0, deadline_h=8)], offers)
    p = _solve(m, offers).placements[0]
    assert (p.start_time - m.now).total_seconds() >= 3 * 3600 - 1 and p.estimated_cost == pytest.approx(0.1)


def test_hard_deadline_forces_the_safe_offer_and_budget_is_respected(basic_offers):
    m = manifest([job("a", 2.0, deadline_h=2.06, hard_deadline=True, duration_std_hours=0.01),
                  job("b", 1.0, budget_usd=0.35)], basic_offers)
    pm = _solve(m, basic_offers).placement_map
    assert pm["a"].offer_id == "od" and pm["b"].estimated_cost <= 0.35


def test_fixed_choices_are_kept(basic_offers):
    m = manifest([job("a"), job("b", deps=["a"])], basic_offers)
    plan = CpSatPlanner(time_limit_seconds=5).plan(m, basic_offers, fixed={"a": Choice("od", 1.0)})
    p = plan.placement_map["a"]
    assert p.offer_id == "od" and (p.start_time - m.now).total_seconds() == pytest.approx(3600, abs=60)
    assert validate(m, plan, basic_offers) == []


@pytest.mark.parametrize(("jobs", "fixed", "needle"), [
    pytest.param([job("a", 3.0, deadline_h=2.0, hard_deadline=True)], None, "'a': hard deadline", id="deadline"),
    pytest.param([job("a", 1.0, budget_usd=0.01)], None, "budgetUsd", id="budget"),
    pytest.param([job("a", resources={"gpus": 2})], None, "no offer fits", id="resources"),
    pytest.param([job("a")], {"a": Choice("nope")}, "'nope' does not exist", id="fixed-unknown"),
])
def test_infeasible_names_the_job_and_constraint(basic_offers, jobs, fixed, needle):
    m = manifest(jobs, basic_offers)
    with pytest.raises(InfeasiblePlanError) as err:
        CpSatPlanner(time_limit_seconds=5).plan(m, basic_offers, fixed=fixed)
    assert needle in str(err.value)


def test_registered_as_optimal_and_never_worse_than_greedy(basic_offers):
    m = manifest([job(f"j{i}", 0.5 + i / 4, deps=[f"j{i - 1}"] if i else [], deadline_h=6) for i in range(8)],
                 basic_offers)
    opt = get_planner("optimal", time_limit_seconds=5).plan(m, basic_offers)
    assert opt.planner == "optimal" and opt.lower_bound is not None
    assert opt.objective.total <= GreedyPlanner().plan(m, basic_offers).objective.total + 1e-6


def test_greedy_warm_start_becomes_a_complete_feasible_hint():
    # durations off the step grid, a capacity-1 pool and a chain: the continuous greedy times, rounded,
    # would overlap or break precedence; the re-timed hint must still be feasible (hence completable)
    from airflow_ai_scheduler.planning.candidates import CandidateIndex
    from airflow_ai_scheduler.planning.cpsat import _Model

    offers = [offer("cheap", "spot", 0.1, lam=0.01, capacity=1), offer("od", price=1.0)]
    m = manifest([job("a", 0.37), job("b", 0.41, deps=["a"]), job("c", 0.29), job("d", 0.33, deps=["c"])], offers)
    greedy = GreedyPlanner().plan(m, offers)
    model = _Model(m, offers, CandidateIndex(m, offers), {}, 3.0, 7.0)
    model.build({p.job_id: Choice(p.offer_id, m.hours(p.start_time)) for p in greedy.placements})
    model._complete_hint(5.0, 1, 0)
    assert len(model.m.Proto().solution_hint.vars) == len(model.m.Proto().variables)
