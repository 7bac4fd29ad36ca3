"""Reserved capacity and savings plans: free up to the commitment, filled first, shared, reported."""

from __future__ import annotations

import pytest
from factories import job, manifest, offer

from airflow_ai_scheduler.exceptions import ManifestError
from airflow_ai_scheduler.models import Commitment, load_manifest
from airflow_ai_scheduler.planning.commitments import Resources, expand
from airflow_ai_scheduler.planning.cpsat import CpSatPlanner
from airflow_ai_scheduler.planning.greedy import GreedyPlanner
from airflow_ai_scheduler.planning.validate import check, validate


def _offers():
    return [offer("spot", "spot", 0.10, lam=0.05, capacity=1), offer("od", price=0.40, capacity=4),
            offer("od-gcp", price=0.38, provider="gcp", region="us-east1")]


def _reserved(n=2, **kw):
    return Commitment(commitment_id="ri", kind="reserved", instances=n, offer_ids=["od"],
                      amortized_usd_per_hour=0.25, **kw)


def test_variants_are_free_limited_and_share_the_base_pool():
    m = manifest([job("a")], _offers(), commitments=[_reserved()])
    offers = expand(m, _offers())
    v = next(o for o in offers if o.offer_id == "od@ri")
    assert v.price_per_hour == 0.0 and v.tier == "on-demand" and v.capacity == 2
    assert expand(m, offers) == offers  # idempotent
    res = {r.resource_id: (r.capacity, r.demand) for r in Resources(m, offers).of(v)}
    assert res == {"@ri": (2.0, 1.0), "od": (4.0, 1.0)}


@pytest.mark.parametrize("planner", [GreedyPlanner(), CpSatPlanner(time_limit_seconds=5)], ids=["greedy", "cpsat"])
def test_committed_capacity_is_filled_first_then_the_market(planner):
    offers = _offers()
    jobs = [job(f"j{i}", 1.0, deadline_h=1.2, hard_deadline=True) for i in range(4)]
    m = manifest(jobs, offers, commitments=[_reserved(2)])
    plan = check(m, planner.plan(m), offers)
    assert plan.violations == []
    on_ri = [p for p in plan.placements if p.commitment == "ri"]
    assert len(on_ri) == 2 and all(p.offer_id == "od" and p.estimated_cost == 0.0 for p in on_ri)
    # the other two pay: spot takes one (capacity 1), an on-demand offer the other
    assert sorted(p.offer_id for p in plan.placements if p.commitment is None) in (["od-gcp", "spot"], ["od", "spot"])
    [use] = plan.commitments
    assert use.placements == 2 and use.used_hours == pytest.approx(2.0)
    assert use.utilization == pytest.approx(2.0 / (2 * use.span_hours), abs=1e-5)  # span: the last end (spot)
    assert use.on_demand_cost == pytest.approx(2 * 0.40)
    assert use.amortized_cost == pytest.approx(0.25 * use.span_hours)


def test_savings_plan_covers_usd_per_hour_at_the_discounted_rate():
    offers = _offers()
    sp = Commitment(commitment_id="sp", kind="savings_plan", usd_per_hour=0.6, discount=0.25, provider="aws")
    m = manifest([job(f"j{i}", 1.0) for i in range(3)], offers, commitments=[sp])
    # od at 0.40 × 0.75 = 0.30 per hour of coverage: two at once fit 0.6
    v = next(o for o in expand(m, offers) if o.offer_id == "od@sp")
    assert [r.demand for r in Resources(m, expand(m, offers)).of(v) if r.resource_id == "@sp"] == [pytest.approx(0.3)]
    for planner in (GreedyPlanner(), CpSatPlanner(time_limit_seconds=5)):
        plan = check(m, planner.plan(m), offers)
        assert plan.violations == []
        assert plan.objective.cost == pytest.approx(0.0, abs=1e-9)  # everything waits for the free capacity
        [use] = plan.commitments
        assert use.placements == 3 and use.used_hours == pytest.approx(0.9)


def test_validator_counts_commitment_capacity_and_unknown_commitments():
    offers = _offers()
    m = manifest([job(f"j{i}", 1.0) for i in range(3)], offers, commitments=[_reserved(2)])
    plan = GreedyPlanner().plan(m)
    placed = [p.model_copy(update={"offer_id": "od", "commitment": "ri", "start_time": m.now, "estimated_cost": 0.0,
                                   "expected_end_time": m.at(1.0)}) for p in plan.placements]
    bad = plan.model_copy(update={"placements": placed})
    rules = [(v.rule, v.detail) for v in validate(m, bad, offers)]
    assert [r for r, _ in rules] == ["capacity"]
    assert "commitment 'ri'" in rules[0][1]
    stray = plan.model_copy(update={"placements": [placed[0].model_copy(update={"commitment": "nope"}), *placed[1:2],
                                                   plan.placements[2]]})
    assert ("unknown_offer", "commitment 'nope' does not cover offer 'od'") in [
        (v.rule, v.detail) for v in validate(m, stray, offers)]


def test_commitment_fields_are_validated_with_their_path():
    base = {"now": "2026-11-23T06:00:00Z", "jobs": [{"jobId": "a", "estimatedDurationHours": 1}]}
    with pytest.raises(ManifestError, match=r"\$\.commitments\[0\].*'instances'"):
        load_manifest({**base, "commitments": [{"commitmentId": "x", "kind": "reserved"}]})
    with pytest.raises(ManifestError, match=r"\$\.commitments\[0\]\.discount"):
        load_manifest({**base, "commitments": [{"commitmentId": "x", "kind": "savings_plan", "usdPerHour": 1,
                                                "discount": 1.5}]})
    with pytest.raises(ManifestError, match=r"duplicate commitmentId"):
        load_manifest({**base, "commitments": [{"commitmentId": "x", "kind": "reserved", "instances": 1}] * 2})
    with pytest.raises(ManifestError, match=r"\$\.offers\[0\]\.offerId: '@' is reserved"):
        load_manifest({**base, "offers": [offer("a@b").model_dump(mode="json")]})
