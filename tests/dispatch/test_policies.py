from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_ai_scheduler.dispatch import Candidate, FleetView, get_policy, policy_names
from airflow_ai_scheduler.dispatch.policies import BUILTIN_POLICIES, DeadlineAwarePolicy
from airflow_ai_scheduler.exceptions import ConfigError

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)
FLEET = FleetView(name="f", tier="spot", slots=4, free_slots=2)


def cand(key, dag="d", **kw) -> Candidate:
    if "deadline_h" in kw:
        kw["deadline"] = NOW + timedelta(hours=kw.pop("deadline_h"))
    return Candidate(key=key, dag_id=dag, task_id=f"t{key}", **kw)


def keys(name, cs, fleet=FLEET, **opts):
    return [c.key for c in get_policy(name, **opts).order(cs, fleet, NOW)]


def test_every_builtin_is_registered_and_returns_a_permutation():
    cs = [cand(i, dag=f"d{i % 3}", owner=f"o{i % 2}", priority=i % 10 + 1, priority_weight=i, deadline_h=i / 3,
               expected_runtime_hours=0.1 * (7 - i % 7), expected_cost=i % 4, waiting_seconds=60 * (i % 5))
          for i in range(20)]
    for name in BUILTIN_POLICIES:
        assert name in policy_names()
        assert sorted(keys(name, cs)) == list(range(20)), name


def test_priority_uses_the_hint_clamped_then_priority_weight():
    cs = [cand(0, priority=3, priority_weight=100), cand(1, priority=7), cand(2, priority=42),
          cand(3, priority=3, priority_weight=200)]
    # 42 clamps to 10 (above 7); equal hints fall back to priority_weight
    assert keys("priority", cs) == [2, 1, 3, 0]


def test_priority_without_hints_is_priority_weight_order():
    cs = [cand(0, priority_weight=1), cand(1, priority_weight=9), cand(2, priority_weight=5)]
    assert keys("priority", cs) == [1, 2, 0]


def test_fifo_is_longest_waiting_first_and_stable():
    cs = [cand(0, waiting_seconds=5), cand(1, waiting_seconds=50), cand(2, waiting_seconds=5)]
    assert keys("fifo", cs) == [1, 0, 2]


def test_sjf_and_aging():
    cs = [cand(0, expected_runtime_hours=3.0, waiting_seconds=3 * 3600), cand(1, expected_runtime_hours=0.5)]
    assert keys("sjf", cs) == [1, 0]
    # one hour of runtime credited per hour waited: the long task's 3 h wait brings it to 0
    assert keys("sjf", cs, aging=1.0) == [0, 1]
    with pytest.raises(ConfigError, match="aging"):
        get_policy("sjf", aging=-1)


def test_cost_cheapest_first():
    cs = [cand(0, expected_cost=2.0), cand(1, expected_cost=0.5), cand(2, expected_cost=1.0)]
    assert keys("cost", cs) == [1, 2, 0]


def test_edf_and_least_slack_differ_when_runtimes_do():
    # 0: deadline in 2 h, needs 1.9 h (slack 0.1); 1: deadline in 1 h, needs 0.1 h (slack 0.9); 2: none
    cs = [cand(0, deadline_h=2, expected_runtime_hours=1.9), cand(1, deadline_h=1, expected_runtime_hours=0.1),
          cand(2, waiting_seconds=999)]
    assert keys("edf", cs) == [1, 0, 2]
    assert keys("least_slack", cs) == [0, 1, 2]


def test_deadline_boost_grows_as_the_deadline_nears():
    p = DeadlineAwarePolicy(boost_window_hours=2.0, max_boost=10)
    far = cand(0, priority=5, deadline_h=10, expected_runtime_hours=1)
    near = cand(1, priority=1, deadline_h=2.0, expected_runtime_hours=1)  # slack 1 h: half the boost
    late = cand(2, priority=1, deadline_h=0.5, expected_runtime_hours=1)  # negative slack: full boost
    assert p.effective_priority(far, NOW) == 5
    assert p.effective_priority(near, NOW) == pytest.approx(6.0)
    assert p.effective_priority(late, NOW) == pytest.approx(11.0)
    assert [c.key for c in p.order([far, near, late], FLEET, NOW)] == [2, 1, 0]
    # a high static priority still wins over a small boost
    assert [c.key for c in p.order([cand(3, priority=9), near], FLEET, NOW)] == [3, 1]


def test_fair_share_interleaves_groups_and_counts_what_runs():
    cs = [cand(i, dag="big", owner="alice") for i in range(6)] + [cand(10, dag="small", owner="bob"),
                                                                   cand(11, dag="small", owner="bob")]
    # alice already holds 2 slots: bob's two tasks come first, then they alternate
    fleet = FleetView(name="f", tier="spot", slots=4, free_slots=2, running_by_owner={"alice": 2})
    assert keys("fair_share", cs, fleet)[:4] == [10, 11, 0, 1]
    fleet = FleetView(name="f", tier="spot", slots=4, free_slots=2)
    assert keys("fair_share", cs, fleet)[:4] == [0, 10, 1, 11]
    assert keys("fair_share", cs, fleet, by="dag")[:2] == [0, 10]
    with pytest.raises(ConfigError, match="'by'"):
        get_policy("fair_share", by="team")


def test_round_robin_continues_after_the_group_served_last():
    p = get_policy("round_robin")
    cs = [cand(0, dag="a"), cand(1, dag="a"), cand(2, dag="b"), cand(3, dag="c")]
    first = p.order(cs, FLEET, NOW)
    assert [c.key for c in first] == [0, 2, 3, 1]
    p.on_dispatch(first[0], FLEET, NOW)  # served a
    assert [c.key for c in p.order(cs[1:], FLEET, NOW)] == [2, 3, 1]
    p.on_dispatch(cs[2], FLEET, NOW)  # served b
    assert [c.key for c in p.order(cs[1:], FLEET, NOW)] == [3, 1, 2]
    other = FleetView(name="g", tier="spot", slots=1, free_slots=1)  # state is per fleet
    assert [c.key for c in p.order(cs, other, NOW)][0] == 0
