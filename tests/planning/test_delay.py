"""A price on waiting: delayCostPerHour counts each job's finish past its earliest possible one."""

from __future__ import annotations

import pytest
from factories import job, manifest, offer

from airflow_ai_scheduler.models import Weights
from airflow_ai_scheduler.planning.cpsat import CpSatPlanner
from airflow_ai_scheduler.planning.greedy import GreedyPlanner
from airflow_ai_scheduler.planning.objective import Scorer
from airflow_ai_scheduler.planning.validate import validate


def _burst_offers():
    # the default local fleets' shape: a cheap spot pool and a dearer on-demand one, few slots each
    return [offer("spot", "spot", 0.08, lam=0.0, capacity=4), offer("od", price=0.19, capacity=2)]


def _burst(n=24, **kw):
    return manifest([job(f"t{i}", 0.1) for i in range(n)], _burst_offers(), **kw)


def test_without_a_price_on_waiting_the_burst_queues_for_the_cheap_pool():
    plan = GreedyPlanner().plan(_burst())
    assert {p.offer_id for p in plan.placements} == {"spot"}
    assert max(p.start_time for p in plan.placements) > plan.placements[0].start_time


@pytest.mark.parametrize("planner", [GreedyPlanner(), CpSatPlanner(time_limit_seconds=5)], ids=["greedy", "cpsat"])
def test_waiting_that_costs_more_than_the_price_difference_uses_idle_capacity(planner):
    free, priced = _burst(), _burst(delay_cost_per_hour=1.0)
    p0, p1 = GreedyPlanner().plan(free), planner.plan(priced)
    assert validate(priced, p1, _burst_offers()) == []
    assert sum(p.offer_id == "od" for p in p1.placements) >= 6
    last = lambda p: max(x.expected_end_time for x in p.placements)  # noqa: E731
    assert last(p1) < last(p0)
    assert p1.objective.delay_cost > 0
    # Ω counts it, and the priced plan is better under its own objective than the queue
    assert Scorer(priced, _burst_offers()).objective(list(Scorer(priced, _burst_offers()).score_plan(p0).values())
                                                     ).total > p1.objective.total


def test_a_job_can_override_the_default_and_a_chain_has_no_delay_when_nothing_waits():
    offers = [offer("od", price=0.2)]
    m = manifest([job("a", 1.0), job("b", 2.0, deps=["a"], delay_cost_per_hour=5.0)], offers, delay_cost_per_hour=1.0)
    plan = GreedyPlanner().plan(m)
    assert plan.objective.delay_cost == pytest.approx(0.0)
    scorer = Scorer(m, offers)
    jt = scorer.job_terms(m.job_map["b"])
    assert (jt.delay_rate, jt.earliest_finish) == (5.0, 3.0)
    s = scorer.score(m.job_map["b"], offers[0], 1.5, {})  # half an hour late
    assert s.delay_cost == pytest.approx(5.0 * 0.5)
    assert scorer.omega(s) == pytest.approx(s.cost + s.risk + s.delay_cost)


def test_default_delay_cost_is_zero_in_a_manifest_so_plans_are_unchanged():
    m = _burst()
    assert m.delay_cost_per_hour == 0.0 and Weights().carbon == 0.0


@pytest.mark.parametrize("planner", [GreedyPlanner(), CpSatPlanner(time_limit_seconds=5)], ids=["greedy", "cpsat"])
def test_a_deadline_says_how_long_waiting_is_free_so_a_price_window_is_still_waited_for(planner):
    # the default delay cost prices waiting for jobs without a deadline; one with a deadline (or upstream of
    # one) waits for a cheaper price window it can afford, unless it sets a delay cost of its own
    offers = [offer("night", "spot", 0.11, capacity=1, schedule=[(80 / 3600, 0.001)])]
    m = manifest([job("extract", 10 / 60), job("load", 10 / 60, deps=["extract"], deadline_h=6)], offers,
                 delay_cost_per_hour=1.0)
    first = min(planner.plan(m).placements, key=lambda p: p.start_time)
    assert first.job_id == "extract" and first.start_time >= m.at(80 / 3600)
    scorer = Scorer(m, offers)
    assert scorer.job_terms(m.job_map["extract"]).delay_rate == 0.0
    eager = manifest([job("extract", 10 / 60, delay_cost_per_hour=1.0), job("load", 10 / 60, deps=["extract"],
                                                                             deadline_h=6)], offers)
    assert min(p.start_time for p in planner.plan(eager).placements) == eager.now
    unbound = manifest([job("extract", 10 / 60)], offers, delay_cost_per_hour=1.0)
    assert planner.plan(unbound).placements[0].start_time == unbound.now
