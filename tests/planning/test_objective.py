"""The Ω formulas: checked against closed forms and hand computations."""

from __future__ import annotations

import math

import pytest
from factories import job, manifest, offer

from airflow_ai_scheduler.models import Egress
from airflow_ai_scheduler.planning.objective import (
    PriceCurve,
    Scorer,
    egress_rate,
    expected_runtime,
    miss_probability,
)


def test_on_demand_runtime_is_the_duration():
    assert expected_runtime(job("a", 3.0), offer("od")) == 3.0


def test_non_checkpointable_spot_matches_the_renewal_formula():
    j = job("a", 2.0, restart_overhead_hours=0.1)
    lam = 0.2
    expected = (math.exp(lam * 2.0) - 1) * (1 / lam + 0.1)
    assert expected_runtime(j, offer("s", "spot", lam=lam)) == pytest.approx(expected)


def test_checkpointing_reduces_rework():
    plain = job("a", 4.0, restart_overhead_hours=0.05)
    ckpt = job("b", 4.0, restart_overhead_hours=0.05, is_checkpointable=True, checkpoint_interval_hours=0.25)
    spot = offer("s", "spot", lam=0.3)
    assert 4.0 < expected_runtime(ckpt, spot) < expected_runtime(plain, spot)
    # segments of c: (D/c)(e^{λc}-1)(1/λ+R)
    assert expected_runtime(ckpt, spot) == pytest.approx(16 * math.expm1(0.075) * (1 / 0.3 + 0.05))


def test_price_curve_integrates_steps_exactly():
    o = offer("s", "spot", 2.0, schedule=[(1.0, 1.0), (3.0, 4.0)])
    m = manifest([job("a")], [o])
    c = PriceCurve.of(o, m)
    assert c.integral(0.0, 1.0) == pytest.approx(2.0)      # before the schedule: base price
    assert c.integral(0.5, 2.0) == pytest.approx(1.0 + 1.0)
    assert c.integral(2.0, 5.0) == pytest.approx(1.0 + 8.0)
    assert c.price_at(3.5) == 4.0 and c.breakpoints_after(0.0) == [1.0, 3.0]


def test_egress_defaults_and_overrides():
    e = Egress(overrides=[{"from": "aws:us-east-1", "to": "gcp:us-central1", "pricePerGb": 0.05}])
    assert egress_rate(e, "aws:us-east-1", "aws:us-east-1") == 0.0
    assert egress_rate(e, "aws:us-east-1", "aws:eu-west-1") == 0.02
    assert egress_rate(e, "aws:us-east-1", "azure:eastus") == 0.09
    assert egress_rate(e, "aws:us-east-1", "gcp:us-central1") == 0.05


def test_score_combines_cost_tardiness_and_risk():
    j = job("a", 2.0, deadline_h=1.5, priority=3, duration_std_hours=0.0001, input_data_size_gb=100,
            data_region="aws:eu-west-1")
    o = offer("od", price=0.5)
    m = manifest([j], [o])
    s = Scorer(m, [o]).score(j, o, 0.0, {})
    assert s.compute_cost == pytest.approx(1.0)
    assert s.egress_cost == pytest.approx(100 * 0.02)
    assert s.tardiness == pytest.approx(3 * 0.5)        # priority 3 × 0.5 h late
    assert s.risk == pytest.approx(3 * 1.0, rel=1e-3)   # certain miss


def test_miss_probability_is_a_normal_tail():
    assert miss_probability(0.0, 1.0) == pytest.approx(0.5)
    assert miss_probability(1.96, 1.0) == pytest.approx(0.025, abs=1e-3)
    assert miss_probability(-1.0, 0.0) == 1.0 and miss_probability(1.0, 0.0) == 0.0
