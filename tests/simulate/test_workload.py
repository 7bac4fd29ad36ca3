"""Manifest mode: greedy plan, spot jobs replayed on a trace with the OD fallback priced from the manifest."""

from __future__ import annotations

import pytest

from airflow_ai_scheduler.recovery import get_policy
from airflow_ai_scheduler.simulate.simulator import Trace
from airflow_ai_scheduler.simulate.workload import simulate_manifest
from tests.factories import job, manifest, offer


def _manifest():
    spot = offer("s", "spot", 1.0).model_copy(update={"instance_type": "g"})
    od = offer("o", "on-demand", 3.0).model_copy(update={"instance_type": "g"})
    return manifest([job("train", 4.0, deadline_h=10, restart_overhead_hours=0.25)], [spot, od])


def test_spot_all_available_costs_spot_price():
    tot = simulate_manifest(_manifest(), get_policy(), Trace("up", 900, (True,)))
    assert tot["jobs"] == 1 and tot["misses"] == 0 and tot["interruptions"] == 0
    assert tot["spot_hours"] == pytest.approx(4.25) and tot["cost"] == pytest.approx(4.25 * 1.0)


def test_no_spot_falls_back_to_same_type_on_demand_in_time():
    tot = simulate_manifest(_manifest(), get_policy(), Trace("down", 900, (False,)))
    assert tot["misses"] == 0 and tot["spot_hours"] == 0 and tot["od_hours"] == pytest.approx(4.25)
    assert tot["cost"] == pytest.approx(4.25 * 3.0) and tot["makespan"] <= 10
    naive = simulate_manifest(_manifest(), get_policy("spot_only"), Trace("down", 900, (False,)))
    assert naive["misses"] == 1 and naive["cost"] == 0
