"""The validator: each rule fires on a plan broken in exactly that way, and never raises."""

from __future__ import annotations

from datetime import timedelta

from factories import job, manifest, offer

from airflow_ai_scheduler.planning.base import Choice
from airflow_ai_scheduler.planning.greedy import GreedyPlanner, build_plan
from airflow_ai_scheduler.planning.validate import check, validate


def _rules(violations):
    return {(v.job_id, v.rule) for v in violations}


def test_valid_plan_has_no_violations(basic_offers):
    m = manifest([job("a"), job("b", deps=["a"])], basic_offers)
    assert validate(m, GreedyPlanner().plan(m), basic_offers) == []


def test_missing_duplicate_unknown(basic_offers):
    m = manifest([job("a"), job("b")], basic_offers)
    plan = GreedyPlanner().plan(m)
    a = plan.placement_map["a"]
    broken = plan.model_copy(update={"placements": [a, a, a.model_copy(update={"job_id": "zzz"})]})
    rules = _rules(validate(m, broken, basic_offers))
    assert {("a", "duplicate"), ("b", "missing"), ("zzz", "unknown_job")} <= rules


def test_unknown_offer_mismatch_resources_and_allowed(basic_offers):
    gpu = offer("gpu", gpus=1, gpu_type="T4")
    offers = [*basic_offers, gpu]
    m = manifest([job("a", resources={"gpus": 1, "gpuType": "V100"}), job("b", allowed_tiers=["on-demand"]),
                  job("c")], offers)
    plan = build_plan(m, offers, {"a": Choice("gpu"), "b": Choice("spot"), "c": Choice("od")}, planner="t")
    c = plan.placement_map["c"]
    plan = plan.model_copy(update={"placements": [plan.placement_map["a"], plan.placement_map["b"],
                                                  c.model_copy(update={"offer_id": "nope"})]})
    rules = _rules(validate(m, plan, offers))
    assert ("a", "resources") in rules and ("b", "not_allowed") in rules and ("c", "unknown_offer") in rules
    plan2 = build_plan(m, offers, {"a": Choice("gpu"), "b": Choice("od"), "c": Choice("od")}, planner="t")
    c2 = plan2.placement_map["c"].model_copy(update={"tier": "spot"})
    bad = plan2.model_copy(update={"placements": [c2 if p.job_id == "c" else p for p in plan2.placements]})
    assert ("c", "mismatch") in _rules(validate(m, bad, offers))


def test_dependency_capacity_budget_deadline(basic_offers):
    offers = [*basic_offers, offer("one", price=0.1, capacity=1)]
    m = manifest([job("a", 2.0), job("b", 1.0, deps=["a"], budget_usd=0.05),
                  job("c", 1.0, deadline_h=0.5, hard_deadline=True), job("d", 1.0)], offers, budget_usd=0.01)
    plan = build_plan(m, offers, {"a": Choice("one", 0.0), "b": Choice("od", 1.0), "c": Choice("od", 0.0),
                                  "d": Choice("one", 0.5)}, planner="t")
    rules = _rules(validate(m, plan, offers))
    assert ("b", "dependency") in rules
    assert ("b", "budget") in rules
    assert ("c", "hard_deadline") in rules
    assert any(r == "capacity" for _, r in rules)
    assert (None, "plan_budget") in rules


def test_start_before_now_and_inconsistent_numbers(basic_offers):
    m = manifest([job("a")], basic_offers)
    plan = GreedyPlanner().plan(m)
    p = plan.placement_map["a"]
    early = p.model_copy(update={"start_time": m.now - timedelta(hours=1),
                                 "expected_end_time": p.expected_end_time - timedelta(hours=1)})
    assert ("a", "start_before_now") in _rules(validate(m, plan.model_copy(update={"placements": [early]}), basic_offers))
    cheap = p.model_copy(update={"estimated_cost": p.estimated_cost / 2})
    checked = check(m, plan.model_copy(update={"placements": [cheap]}), basic_offers)
    assert checked.status == "invalid" and ("a", "inconsistent") in _rules(checked.violations)
