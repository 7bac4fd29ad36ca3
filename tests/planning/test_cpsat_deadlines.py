"""Soft deadlines far from ``now`` (days in the past, years ahead) never make the CP-SAT model infeasible."""

from __future__ import annotations

import pytest
from factories import job, manifest, offer

from airflow_ai_scheduler.exceptions import InfeasiblePlanError
from airflow_ai_scheduler.planning.cpsat import CpSatPlanner
from airflow_ai_scheduler.planning.greedy import GreedyPlanner
from airflow_ai_scheduler.planning.validate import validate


@pytest.mark.parametrize("deadline_h", [pytest.param(-72.0, id="3-days-ago"), pytest.param(-24 * 365.0, id="a-year-ago"),
                                        pytest.param(24 * 365.0, id="a-year-ahead")])
@pytest.mark.parametrize("jobs", [pytest.param(3, id="small"), pytest.param(210, id="large-model")])
def test_soft_deadline_far_from_now_still_plans(deadline_h, jobs):
    offers = [offer("od", price=1.0), offer("spot", "spot", 0.3, lam=0.05, capacity=2)]
    m = manifest([job(f"j{i}", 0.5, deps=[f"j{i - 1}"] if i % 3 else [], deadline_h=deadline_h) for i in range(jobs)],
                 offers)
    plan = CpSatPlanner(time_limit_seconds=5).plan(m, offers)
    assert validate(m, plan, offers) == []
    greedy = GreedyPlanner().plan(m, offers)
    # lateness is priced, not capped: the exact planner is never worse than greedy's plan, its warm start
    assert plan.objective.total <= greedy.objective.total + 1e-6
    if deadline_h < 0:  # every job is late by at least -deadline_h
        assert plan.objective.tardiness >= jobs * -deadline_h


def test_infeasible_without_hard_deadlines_does_not_blame_one():
    # a manifest budget below any plan: the reason names the budget, and no hard deadline is invented
    offers = [offer("od", price=1.0)]
    m = manifest([job("a", 1.0, deadline_h=-48)], offers, budget_usd=0.5)
    with pytest.raises(InfeasiblePlanError) as err:
        CpSatPlanner(time_limit_seconds=5).plan(m, offers)
    text = str(err.value)
    assert "budgetUsd" in text and "hard deadline" not in text
