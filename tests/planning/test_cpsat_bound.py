"""The location relaxation's lower bound: never above any valid plan's Ω, tight where capacity is loose."""

from __future__ import annotations

import itertools
import math
import random

import pytest
from factories import job, manifest, offer

from airflow_ai_scheduler.models import Weights
from airflow_ai_scheduler.planning.base import Choice
from airflow_ai_scheduler.planning.candidates import CandidateIndex
from airflow_ai_scheduler.planning.cpsat import CpSatPlanner, relax
from airflow_ai_scheduler.planning.cpsat.capacity_bound import capacity_bound
from airflow_ai_scheduler.planning.greedy import GreedyPlanner, build_plan
from airflow_ai_scheduler.planning.validate import validate

_PLACES = [("aws", "us-east-1"), ("aws", "eu-west-1"), ("gcp", "us-central1")]


def _instance(seed: int):
    rng = random.Random(seed)
    offers = []
    for k in range(rng.randint(2, 4)):
        provider, region = rng.choice(_PLACES)
        spot = rng.random() < 0.6
        schedule = [(rng.uniform(0.5, 4.0), rng.uniform(0.05, 1.5))] if rng.random() < 0.4 else None
        offers.append(offer(f"o{k}", "spot" if spot else "on-demand", rng.uniform(0.1, 1.5), provider=provider,
                            region=region, lam=rng.uniform(0.01, 0.6) if spot else 0.0,
                            capacity=rng.choice([None, 1, 2]) if spot else None, schedule=schedule))
    jobs = []
    for i in range(rng.randint(2, 5)):
        deps = sorted(rng.sample([f"j{d}" for d in range(i)], k=min(i, rng.randint(0, 2))))
        jobs.append(job(f"j{i}", round(rng.uniform(0.2, 2.0), 2), deps=deps, priority=rng.randint(1, 4),
                        deadline_h=rng.uniform(0.5, 6.0) if rng.random() < 0.7 else None,
                        is_checkpointable=rng.random() < 0.5,
                        input_data_size_gb=rng.choice([0, 0, 20, 200]) if deps else 0,
                        data_region=rng.choice([None, "aws:us-east-1"]) if not deps else None,
                        duration_std_hours=rng.choice([None, 0.05, 0.3])))
    return manifest(jobs, offers, weights=Weights(cost=1, tardiness=rng.choice([1, 10]), risk=rng.choice([0, 1, 5]))), offers


def _valid_plans(m, offers):
    """Every combination of offers at its earliest starts, plus greedy: valid plans to check the bound against."""
    ids = [j.job_id for j in m.jobs]
    for combo in itertools.product([o.offer_id for o in offers], repeat=len(ids)):
        plan = build_plan(m, offers, {j: Choice(o) for j, o in zip(ids, combo, strict=True)}, planner="bf")
        if not validate(m, plan, offers):
            yield plan
    yield GreedyPlanner().plan(m, offers)


@pytest.mark.parametrize("seed", range(40))
def test_bound_is_below_every_valid_plan(seed):
    m, offers = _instance(seed)
    bound = relax(m, offers, CandidateIndex(m, offers), {}, 5.0).bound
    best = min(p.objective.total for p in _valid_plans(m, offers))
    assert bound <= best + 1e-6


@pytest.mark.parametrize("seed", range(60))
def test_capacity_lp_bound_is_below_every_valid_plan(seed):
    m, offers = _instance(seed)
    cands = CandidateIndex(m, offers)
    bound = capacity_bound(m, offers, cands, {}, 10.0)
    fine = capacity_bound(m, offers, cands, {}, 10.0, per_pool=True)
    best = min(p.objective.total for p in _valid_plans(m, offers))
    assert bound <= best + 1e-6 and fine <= best + 1e-6
    assert fine >= bound - 1e-6  # every pool its own capacity and price: never looser than the classes


@pytest.mark.parametrize("seed", range(0, 60, 3))
def test_capacity_lp_on_a_finer_grid_is_still_below_every_valid_plan(seed):
    # the benchmark's offline bound (bench/planning.py --offline-grid): more even steps and critical points
    m, offers = _instance(seed)
    cands = CandidateIndex(m, offers)
    best = min(p.objective.total for p in _valid_plans(m, offers))
    applies = math.isfinite(capacity_bound(m, offers, cands, {}, 10.0))  # a deadline and a limited pool
    for grid in ((24, 32), (3, 0)):
        bound = capacity_bound(m, offers, cands, {}, 10.0, grid=grid)
        assert bound <= best + 1e-6 and math.isfinite(bound) == applies


def test_capacity_lp_bound_pays_for_the_pools_a_deadline_forces():
    # four 1-hour jobs due in 1.1 h, one cheap spot machine: three must run on dearer pools; the location
    # relaxation prices all four at the cheap one, the capacity LP does not — and stays below the optimum
    offers = [offer("cheap", "spot", 0.1, lam=0.001, capacity=1), offer("mid", "spot", 0.5, lam=0.001, capacity=1),
              offer("od", price=1.0)]
    m = manifest([job(f"j{i}", 1.0, deadline_h=1.1, duration_std_hours=0.01) for i in range(4)], offers,
                 weights=Weights(tardiness=100))
    cands = CandidateIndex(m, offers)
    loose, tight = relax(m, offers, cands, {}, 5.0).bound, capacity_bound(m, offers, cands, {}, 5.0)
    best = min(p.objective.total for p in _valid_plans(m, offers))
    assert loose < 0.5 < tight <= best + 1e-6
    plan = CpSatPlanner(time_limit_seconds=5).plan(m, offers)
    assert plan.lower_bound == pytest.approx(tight, abs=1e-6) and plan.gap is not None and plan.gap < 0.2


@pytest.mark.parametrize("seed", range(0, 40, 4))
def test_reported_bound_is_below_the_cpsat_plan_and_the_optimum(seed):
    # where CP-SAT proves its model optimal its plan is (near) Ω-optimal: the bound must stay under it
    m, offers = _instance(seed)
    plan = CpSatPlanner(time_limit_seconds=5).plan(m, offers)
    assert validate(m, plan, offers) == []
    assert plan.lower_bound is not None and plan.lower_bound <= plan.objective.total + 1e-6
    assert not any("clamped" in n for n in plan.notes)
    best = min(p.objective.total for p in _valid_plans(m, offers))
    assert plan.lower_bound <= best + 1e-6


def test_bound_is_tight_without_capacity_and_pays_for_moving_data():
    # b and c read a's 100 GB: the cheapest offers sit in two providers, so a plan either co-locates
    # (pays a bit more compute) or pays egress; the relaxation sees the same trade-off and matches the optimum
    offers = [offer("aws", price=1.0, provider="aws"), offer("gcp", price=0.9, provider="gcp", region="us-central1")]
    m = manifest([job("a", 1.0), job("b", 1.0, deps=["a"], input_data_size_gb=100),
                  job("c", 1.0, deps=["a"], input_data_size_gb=100)], offers)
    r = relax(m, offers, CandidateIndex(m, offers), {}, 5.0)
    plan = CpSatPlanner(time_limit_seconds=5).plan(m, offers)
    assert r.status == "optimal" and len(set(r.labels.values())) == 1
    assert plan.objective.total == pytest.approx(2.7, abs=1e-6)  # all on gcp: no egress
    assert r.bound == pytest.approx(plan.objective.total, abs=1e-4) and plan.gap == pytest.approx(0, abs=1e-4)


def test_dual_bound_of_any_row_prices_stays_below_the_lp_optimum():
    # weak duality: the solver's own duals give the LP optimum, any other prices a lower value — never more
    import numpy as np

    from airflow_ai_scheduler.planning.cpsat import capacity_bound as cb
    from airflow_ai_scheduler.planning.objective import Scorer

    offers = [offer("cheap", "spot", 0.1, lam=0.001, capacity=1), offer("mid", "spot", 0.5, lam=0.001, capacity=1),
              offer("od", price=1.0)]
    m = manifest([job(f"j{i}", 1.0, deadline_h=1.1, duration_std_hours=0.01) for i in range(4)], offers,
                 weights=Weights(tardiness=100))
    lp = cb._Lp(Scorer(m, offers), CandidateIndex(m, offers), {}, 1.25 * 1.1)
    optimum = lp.solve(10.0)
    assert optimum > 0.5  # the capacity counted (the test above)
    rng = np.random.default_rng(0)
    for scale in (0.01, 1.0, 100.0):
        assert lp.dual_bound(rng.normal(0, scale, len(lp.model.constraint))) <= optimum + 1e-6
    assert lp.dual_bound(np.zeros(len(lp.model.constraint))) <= optimum + 1e-6


def test_pdlp_bound_is_below_every_valid_plan():
    # what a large LP falls back to: PDLP's iterate, priced by dual_bound — valid, and near GLOP's optimum
    from airflow_ai_scheduler.planning.cpsat import capacity_bound as cb
    from airflow_ai_scheduler.planning.objective import Scorer

    checked = 0
    for seed in range(0, 60, 2):
        m, offers = _instance(seed)
        scorer = Scorer(m, offers)
        deadlines = [d for d in scorer.deadline_h.values() if d is not None]
        if not deadlines or not any(o.capacity is not None for o in offers):
            continue  # the LP does not apply
        lp = cb._Lp(scorer, CandidateIndex(m, offers), {}, 1.25 * max(deadlines))
        exact = lp.solve(10.0)
        response = lp._solve(lp.pb.MPModelRequest.PDLP_LINEAR_PROGRAMMING, 2.0)
        assert response is not None
        approx = lp.dual_bound(response.dual_value)
        best = min(p.objective.total for p in _valid_plans(m, offers))
        assert approx <= exact + 1e-6 <= best + 2e-6, seed
        assert approx >= exact - 0.05 * abs(exact) - 1e-3, seed  # a useful bound, not just a valid one
        checked += 1
    assert checked >= 10
