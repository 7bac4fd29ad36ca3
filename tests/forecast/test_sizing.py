"""Fleet sizes from a forecast: upper bound / utilisation, min/max slots, trimmed to a budget."""

from __future__ import annotations

import pandas as pd
import pytest

from airflow_ai_scheduler.forecast.sizing import FleetFacts, size_fleets


def forecast(rows):
    return pd.DataFrame([dict(unique_id=u, ds=pd.Timestamp("2026-12-02") + pd.Timedelta(hours=h), mean=m,
                              **{"lo-80": 0.0, "hi-80": hi}) for u, h, m, hi in rows])


FC = forecast([("spot", 0, 1.0, 2.0), ("spot", 1, 3.0, 4.4), ("od", 0, 0.2, 0.5), ("od", 1, 0.0, 0.0)])


def test_slots_cover_the_upper_bound_at_the_target_utilisation():
    plan = size_fleets(FC, [FleetFacts("spot", 0.1, slots=4), FleetFacts("od", 0.5, slots=2, backend="celery")],
                       level=80, utilisation=0.8)
    spot, od = plan.fleets
    assert [h.slots for h in spot.hours] == [3, 6]  # ceil(2/0.8), ceil(4.4/0.8)
    assert [h.slots for h in od.hours] == [1, 0]
    assert spot.cost == pytest.approx(0.9) and plan.cost == pytest.approx(0.9 + 0.5)
    assert spot.slots_for(2) == 6 and "resize the local process pool to 3" in spot.action()
    assert od.action() == "celery autoscale max=1 min=0 (workers started with --autoscale)"


def test_min_and_max_slots_and_unknown_fleets():
    plan = size_fleets(FC, [FleetFacts("spot", 0.1, slots=4, min_slots=4, max_slots=5),
                            FleetFacts("gpu", 3.0, slots=1, backend="kubernetes", min_slots=1)])
    spot, gpu = plan.fleets
    assert [h.slots for h in spot.hours] == [4, 5]
    assert [h.slots for h in gpu.hours] == [1, 1] and "annotate" in gpu.action()


def test_budget_trims_headroom_but_not_below_the_mean():
    facts = [FleetFacts("spot", 0.1, slots=4), FleetFacts("od", 0.5, slots=2)]
    full = size_fleets(FC, facts, utilisation=0.8)
    plan = size_fleets(FC, facts, utilisation=0.8, max_cost_usd=1.0)
    assert plan.cost <= 1.0 < full.cost and "trimmed to the budget" in plan.notes[0]
    # on-demand has no headroom above its mean (0.2 → 1 slot): only spot slots above the mean go
    assert [h.slots for h in plan.fleets[1].hours] == [1, 0]
    assert [h.slots for h in plan.fleets[0].hours] == [1, 4]
    tight = size_fleets(FC, facts, utilisation=0.8, max_cost_usd=0.01)
    assert [h.slots for h in tight.fleets[0].hours] == [1, 3]  # the mean, rounded up
    assert "over the budget" in tight.notes[0]


def test_bad_level_and_utilisation():
    with pytest.raises(ValueError, match="no 95 % interval"):
        size_fleets(FC, [], level=95)
    with pytest.raises(ValueError, match="utilisation"):
        size_fleets(FC, [], utilisation=0)
