"""The Pareto front: non-dominated plans over cost × tardiness × risk × carbon from a weight sweep."""

from __future__ import annotations

import pytest
from factories import job, manifest, offer

from airflow_ai_scheduler.models import Objective, Plan, Weights
from airflow_ai_scheduler.planning.pareto import ParetoPoint, dominates, non_dominated, pareto_front


def _point(cost, tard, risk, co2):
    o = Objective(cost=cost, tardiness=tard, risk=risk, total=0.0, co2e_kg=co2)
    return ParetoPoint(Weights(), o, Plan(planner="x", placements=[], objective=o))


def test_dominance_and_filter():
    assert dominates((1, 0, 0, 1), (1, 0, 0, 2)) and not dominates((1, 0, 0, 2), (1, 0, 0, 1))
    assert not dominates((1, 0, 0, 1), (1, 0, 0, 1))  # equal is not better
    assert not dominates((1, 0, 0, 3), (2, 0, 0, 1))  # a trade-off
    pts = [_point(2, 0, 0, 1), _point(1, 0, 0, 3), _point(2, 0, 0, 3), _point(1, 0, 0, 3)]
    front = non_dominated(pts)
    assert [p.criteria() for p in front] == [(1, 0, 0, 3), (2, 0, 0, 1)]
    assert [p.criteria(carbon=False) for p in non_dominated(pts, carbon=False)] == [(1, 0, 0)]


def test_front_over_regions_spans_cheapest_to_cleanest():
    offers = [offer("dirty", price=0.30, region="us-east-1"), offer("clean", price=0.33, region="eu-north-1"),
              offer("spot", "spot", 0.12, lam=0.2, region="us-east-1")]
    m = manifest([job(f"j{i}", 2.0, deadline_h=2.5) for i in range(3)], offers)
    front = pareto_front(m, offers)
    assert len(front) >= 2
    crit = [p.criteria() for p in front]
    for a in crit:  # nobody on the front is dominated by anyone on it
        assert not any(dominates(b, a) for b in crit)
    assert min(c[0] for c in crit) == pytest.approx(front[0].objective.cost)  # sorted by cost
    cleanest = min(front, key=lambda p: p.objective.co2e_kg)
    assert {p.offer_id for p in cleanest.plan.placements} == {"clean"}
    cheapest = front[0]
    assert cheapest.objective.cost < cleanest.objective.cost and cheapest.objective.co2e_kg > cleanest.objective.co2e_kg
    rows = [p.as_row() for p in front]
    assert set(rows[0]) >= {"w_tardiness", "w_risk", "w_carbon", "cost_usd", "tardiness_h", "risk", "co2e_kg"}
