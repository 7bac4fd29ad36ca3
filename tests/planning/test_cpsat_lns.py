"""Our LNS around the CP-SAT model (planning/cpsat/lns.py): a step never returns a worse assignment than
its incumbent, every assignment it returns is a solution of the whole model, the search keeps its time."""

from __future__ import annotations

import random
import time

import pytest
from factories import job, manifest, offer

from airflow_ai_scheduler.models import Weights
from airflow_ai_scheduler.planning.base import Choice
from airflow_ai_scheduler.planning.candidates import CandidateIndex
from airflow_ai_scheduler.planning.cpsat import CpSatPlanner, _Model
from airflow_ai_scheduler.planning.cpsat import model as model_module
from airflow_ai_scheduler.planning.cpsat.lns import KINDS, Lns, model_objective
from airflow_ai_scheduler.planning.greedy import GreedyPlanner
from airflow_ai_scheduler.planning.validate import validate


def _instance(seed: int, n: int = 30):
    """A layered DAG moving data, two limited cheap pools in two regions, on-demand, one tight deadline."""
    rng = random.Random(seed)
    offers = [offer("cheap-east", "spot", 0.1, lam=0.05, capacity=2),
              offer("cheap-west", "spot", 0.12, lam=0.02, capacity=2, region="us-west-2"),
              offer("od-east", price=0.5), offer("od-west", price=0.55, region="us-west-2")]
    jobs = []
    for i in range(n):
        deps = sorted(rng.sample([f"j{d}" for d in range(max(0, i - 6), i)], k=min(i, rng.randint(0, 2))))
        jobs.append(job(f"j{i}", round(rng.uniform(0.1, 0.6), 3), deps=deps, duration_std_hours=0.02,
                        input_data_size_gb=rng.choice([0, 5, 50]) if deps else 0,
                        deadline_h=6.0 if i == n - 1 else None))
    return manifest(jobs, offers, weights=Weights(cost=1, tardiness=5, risk=1)), offers


def _large_model(m, offers):
    """The model as the planner builds it above TOP_K_ABOVE_JOBS jobs, hinted with greedy and completed."""
    greedy = GreedyPlanner().plan(m, offers)
    hints = {p.job_id: Choice(p.offer_id, m.hours(p.start_time)) for p in greedy.placements}
    model = _Model(m, offers, CandidateIndex(m, offers), {}, 8.0, None)
    model.top_k = 4
    model.build(hints)
    model._complete_hint(5.0, 1, 0)
    proto = model.m.Proto()
    assert len(proto.solution_hint.vars) == len(proto.variables)
    values = [0] * len(proto.variables)
    for i, v in zip(proto.solution_hint.vars, proto.solution_hint.values, strict=True):
        values[i] = v
    return model, values


def _is_solution(model, values) -> bool:
    """Every variable fixed to ``values`` and the whole model still feasible."""
    from ortools.sat.python import cp_model

    fixed = model.m.clone()
    for i, v in enumerate(values):
        domain = fixed.Proto().variables[i].domain
        domain.clear()
        domain.extend([v, v])
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = 10
    return solver.Solve(fixed) in (cp_model.OPTIMAL, cp_model.FEASIBLE)


@pytest.mark.parametrize("seed", range(3))
def test_a_step_never_returns_worse_than_its_incumbent_and_stays_a_solution(seed):
    m, offers = _instance(seed)
    model, values = _large_model(m, offers)
    lns = Lns(model, workers=1, seed=seed)
    objective = model_objective(model.m.Proto(), values)
    for kind in KINDS:
        free = lns.choose(kind, values, 10)
        assert 0 < len(free) <= 10
        new, value, _ = lns.step(values, objective, free, 2.0)
        assert value <= objective
        assert value == model_objective(model.m.Proto(), new)
        assert _is_solution(model, new)
        # only the freed jobs may have moved
        for j in set(model.alts) - free:
            assert all(new[i] == values[i] for i in lns.owned[j])
        values, objective = new, value


def test_a_step_with_no_time_returns_the_incumbent():
    m, offers = _instance(7)
    model, values = _large_model(m, offers)
    lns = Lns(model, workers=1)
    objective = model_objective(model.m.Proto(), values)
    new, value, _ = lns.step(values, objective, set(model.alts), 0.0)
    assert value <= objective and _is_solution(model, new)


def test_the_data_neighbourhood_is_connected():
    m, offers = _instance(3)
    model, values = _large_model(m, offers)
    lns = Lns(model, workers=1, seed=5)
    free = lns.choose("data", values, 8)
    jobs = m.job_map
    reached, frontier = set(), [next(iter(free))]
    while frontier:  # connected over dependency edges inside the neighbourhood
        j = frontier.pop()
        if j in reached:
            continue
        reached.add(j)
        frontier += [n for n in free if n in jobs[j].dependencies or j in jobs[n].dependencies]
    assert reached == free


def test_the_search_keeps_its_time_and_never_gets_worse():
    m, offers = _instance(11, n=40)
    model, values = _large_model(m, offers)
    start = model_objective(model.m.Proto(), values)
    began = time.perf_counter()
    result = Lns(model, workers=1).search(values, began + 2.0)
    assert time.perf_counter() - began < 3.0
    assert result.steps >= 1 and result.objective <= start
    assert result.objective == model_objective(model.m.Proto(), result.values)
    assert _is_solution(model, result.values)


def test_planner_on_a_large_model_uses_the_lns_and_returns_a_valid_plan_no_worse_than_greedy(monkeypatch):
    monkeypatch.setattr(model_module, "TOP_K_ABOVE_JOBS", 10)
    m, offers = _instance(2, n=40)
    plan = CpSatPlanner(time_limit_seconds=8, num_workers=1).plan(m, offers)
    assert validate(m, plan, offers) == []
    assert any("our LNS" in n for n in plan.notes), plan.notes
    assert plan.objective.total <= GreedyPlanner().plan(m, offers).objective.total + 1e-9
    assert plan.lower_bound is not None and plan.lower_bound <= plan.objective.total


def test_the_search_returns_the_accepted_assignment_of_least_exact_omega():
    # an "exact" pricing that prefers the starting assignment: the search may improve the model objective,
    # but returns what the exact pricing ranks best
    m, offers = _instance(5, n=40)
    model, values = _large_model(m, offers)
    start = list(values)
    priced = []

    def exact(v):
        priced.append(v)
        return 0.0 if v == start else 1.0

    result = Lns(model, workers=1).search(values, time.perf_counter() + 2.0, exact)
    assert result.best == start and result.best_omega == 0.0
    assert len(priced) == 1 + sum(result.improved.values())
