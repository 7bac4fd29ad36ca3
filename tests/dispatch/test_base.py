from __future__ import annotations

from datetime import datetime, timezone

import pytest

from airflow_ai_scheduler.dispatch import Candidate, FleetView, get_policy, policy_names
from airflow_ai_scheduler.exceptions import ConfigError

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)
FLEET = FleetView(name="f", tier="spot", slots=2, free_slots=1)


def test_priority_weight_orders_by_weight_then_wait():
    cs = [Candidate(key=i, dag_id="d", task_id=f"t{i}", priority_weight=w, waiting_seconds=s)
          for i, (w, s) in enumerate([(1, 50), (5, 1), (1, 90)])]
    order = get_policy("priority_weight").order(cs, FLEET, NOW)
    assert [c.key for c in order] == [1, 2, 0]


def test_unknown_policy_names_the_option_and_choices():
    with pytest.raises(ConfigError, match=r"dispatch_policy: unknown policy 'nope'.*priority_weight"):
        get_policy("nope")
    assert "priority_weight" in policy_names()


def test_bad_options_are_a_config_error():
    with pytest.raises(ConfigError, match="bad options"):
        get_policy("priority_weight", bogus=1)
