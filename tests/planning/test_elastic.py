"""Elastic jobs: work that scales with vCPUs, in the objective, the candidate pruning and the planners."""

from __future__ import annotations

import pytest
from factories import job, manifest, offer

from airflow_ai_scheduler.models import Resources, Weights
from airflow_ai_scheduler.planning.candidates import CandidateIndex
from airflow_ai_scheduler.planning.cpsat import CpSatPlanner
from airflow_ai_scheduler.planning.greedy import GreedyPlanner
from airflow_ai_scheduler.planning.objective import ELASTIC_MAX_SPEEDUP, duration_sigma, expected_runtime
from airflow_ai_scheduler.planning.validate import validate

R4 = Resources(vcpus=4, memory_gib=8)


def test_runtime_scales_with_vcpus_up_to_the_cap_and_only_when_elastic():
    small, double, huge = offer("s", vcpus=4), offer("d", vcpus=8), offer("h", vcpus=64)
    el = job("e", 8.0, resources=R4, elastic=True)
    plain = job("p", 8.0, resources=R4)
    assert expected_runtime(el, small) == pytest.approx(8.0)
    assert expected_runtime(el, double) == pytest.approx(4.0)
    assert expected_runtime(el, huge) == pytest.approx(8.0 / ELASTIC_MAX_SPEEDUP)
    assert expected_runtime(plain, huge) == pytest.approx(8.0)
    # its spread shrinks with the work: 10 % of 4 h on the double-size offer
    assert duration_sigma(el, 4.0, double) == pytest.approx(0.4)


def test_a_parallel_fraction_below_one_follows_amdahls_law():
    el = job("e", 8.0, resources=R4, elastic=True, parallel_fraction=0.9)
    # 4x the vCPUs, 90 % parallel: 1 / (0.1 + 0.9 / 4) = 3.077x, not 4x
    assert expected_runtime(el, offer("q", vcpus=16)) == pytest.approx(8.0 * (0.1 + 0.9 / 4))
    # half parallel never reaches 2x, however many vCPUs
    half = job("h", 8.0, resources=R4, elastic=True, parallel_fraction=0.5)
    assert expected_runtime(half, offer("x", vcpus=4096)) > 4.0
    # and with a big enough share the cap holds
    assert expected_runtime(job("n", 8.0, resources=R4, elastic=True, parallel_fraction=0.999),
                            offer("y", vcpus=4096)) == pytest.approx(8.0 / ELASTIC_MAX_SPEEDUP)


def test_a_bigger_offer_is_not_pruned_for_an_elastic_job():
    # per hour 'big' costs more than 'small' and is no safer, so for a plain job it is never needed; an
    # elastic job finishes on it in a quarter of the time
    offers = [offer("small", price=1.0, vcpus=4), offer("big", price=3.0, vcpus=16)]
    m = manifest([job("p", 4.0, resources=R4), job("e", 4.0, resources=R4, elastic=True)], offers)
    cands = CandidateIndex(m, offers)
    assert [o.offer_id for o in cands.for_job(m.job_map["p"])] == ["small"]
    assert {o.offer_id for o in cands.for_job(m.job_map["e"])} == {"small", "big"}


@pytest.mark.parametrize("planner", [GreedyPlanner(), CpSatPlanner(time_limit_seconds=5)], ids=["greedy", "optimal"])
def test_planners_buy_the_bigger_machine_when_it_is_cheaper_in_total_or_meets_the_deadline(planner):
    # 16 vCPUs at 3x the hourly price run the elastic job 4x faster: $3 instead of $4
    offers = [offer("small", price=1.0, vcpus=4), offer("big", price=3.0, vcpus=16)]
    m = manifest([job("e", 4.0, resources=R4, elastic=True), job("p", 4.0, resources=R4)], offers)
    plan = planner.plan(m)
    assert plan.placement_map["e"].offer_id == "big" and plan.placement_map["e"].estimated_cost == pytest.approx(3.0)
    assert plan.placement_map["p"].offer_id == "small"
    assert validate(m, plan, offers) == []
    # a 2 h hard deadline: only the bigger machine makes it, even when it costs more in total
    offers = [offer("small", price=1.0, vcpus=4), offer("big", price=5.0, vcpus=16)]
    m = manifest([job("e", 4.0, resources=R4, elastic=True, deadline_h=2.0, hard_deadline=True)], offers,
                 weights=Weights(tardiness=100))
    plan = planner.plan(m)
    p = plan.placement_map["e"]
    assert p.offer_id == "big" and (p.expected_end_time - m.now).total_seconds() == pytest.approx(3600)
    assert validate(m, plan, offers) == []
