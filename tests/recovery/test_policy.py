"""Spot policies: the safety property (no feasible deadline missed) on random availability, and choices."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_ai_scheduler.exceptions import ConfigError
from airflow_ai_scheduler.recovery import BUILTIN, DEFAULT_POLICY, ProgressState, get_policy


def run(policy, work: float, deadline: float, overhead: float, availability: list[bool], step: float) -> float:
    """Step the policy over an availability sequence; return the finish time (inf if never)."""
    t, done, current, pending_overhead = 0.0, 0.0, "none", 0.0
    i = 0
    while done < work - 1e-9:
        avail = availability[i % len(availability)]
        i += 1
        if current == "spot" and not avail:
            current = "none"  # preempted: progress since the last step is kept (checkpointed)
        d = policy.decide(ProgressState(t, done, work, deadline, overhead, step, avail, current))
        if d == "spot" and not avail:
            d = "wait"
        if d == "wait":
            current = "none"
        elif d != current:
            current, pending_overhead = d, overhead
        if current != "none":
            useful = max(0.0, step - pending_overhead)
            pending_overhead = max(0.0, pending_overhead - step)
            done = min(work, done + useful)
        t += step
        if t > deadline * 10 + 100:
            return float("inf")
    return t


@settings(max_examples=300, deadline=None)
@given(work=st.floats(0.5, 10), slack=st.floats(0.0, 8), overhead=st.sampled_from([0.02, 0.05, 0.1]),
       availability=st.lists(st.booleans(), min_size=1, max_size=60),
       name=st.sampled_from([DEFAULT_POLICY, "safe_uniform_progress", "uniform_progress", "greedy"]))
def test_safe_policies_never_miss_a_feasible_deadline(work, slack, overhead, availability, name):
    step = 0.05
    deadline = work + overhead + slack
    finish = run(get_policy(name), work, deadline, overhead, availability, step)
    assert finish <= deadline + step + 1e-6   # decisions are per step: at most one step of rounding


def test_on_demand_never_uses_spot_and_spot_only_never_uses_on_demand():
    s = ProgressState(1.0, 0.5, 4.0, 5.0, 0.05, 0.1, True, "none")
    assert get_policy("on_demand").decide(s) == "on_demand"
    assert get_policy("spot_only").decide(s) == "spot"
    assert get_policy("spot_only").decide(ProgressState(4.9, 0.5, 4.0, 5.0, 0.05, 0.1, False, "none")) == "wait"


def test_safe_uniform_progress_prefers_spot_and_waits_when_ahead_of_its_line():
    p = get_policy("safe_uniform_progress")
    assert p.decide(ProgressState(1.0, 1.0, 4.0, 10.0, 0.05, 0.1, True, "none")) == "spot"
    assert p.decide(ProgressState(1.0, 1.0, 4.0, 10.0, 0.05, 0.1, False, "none")) == "wait"      # ahead of 0.4
    assert p.decide(ProgressState(5.0, 1.0, 4.0, 10.0, 0.05, 0.1, False, "none")) == "on_demand"  # behind 2.0
    assert p.decide(ProgressState(5.9, 1.0, 4.0, 10.0, 0.05, 0.1, True, "none")) == "spot"        # 0.95 h slack
    assert p.decide(ProgressState(6.9, 1.0, 4.0, 10.0, 0.05, 0.1, True, "none")) == "on_demand"   # no slack left


def test_user_policy_by_import_path_and_bad_names():
    assert type(get_policy("airflow_ai_scheduler.recovery.policy:GreedySpot")).__name__ == "GreedySpot"
    assert type(get_policy("airflow_ai_scheduler.recovery.policy.AlwaysOnDemand")).__name__ == "AlwaysOnDemand"
    with pytest.raises(ConfigError, match="unknown policy 'fastest'"):
        get_policy("fastest")
    with pytest.raises(ConfigError, match="cannot import"):
        get_policy("nope.module:Policy")
    assert set(BUILTIN) >= {"on_demand", "greedy", "spot_only", "uniform_progress", DEFAULT_POLICY}
