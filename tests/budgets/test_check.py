"""check_budget: allow, hold or fail against the budgets binding a task, with a reason that names them."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

from airflow_ai_scheduler.budgets import Budget, TaskContext, check_budget, period_window, remaining_for_plan
from airflow_ai_scheduler.budgets.check import applicable

NOW = datetime(2026, 12, 2, 15, 30, tzinfo=timezone.utc)


def ctx(planned=0.3, **kw):
    base = dict(dag_id="etl", task_id="load", run_id="r1", planned_cost=planned, owners=("alice",),
                tags=("finance",), team=None)
    return TaskContext(**{**base, **kw})


def fixed(amounts):
    return lambda b: amounts.get(b.key, 0.0)


def test_allows_within_every_budget():
    budgets = [Budget(scope="owner", subject="alice", period="day", amount_usd=1.0)]
    d = check_budget(ctx(), budgets, spent=fixed({("owner", "alice", "day"): 0.5}), now=NOW)
    assert d.allowed and d.action == "allow" and d.reason == ""
    assert d.checked == ("owner 'alice' daily budget $1",)


def test_holds_over_an_owner_daily_budget_with_a_reason():
    budgets = [Budget(scope="owner", subject="alice", period="day", amount_usd=1.0)]
    d = check_budget(ctx(0.3), budgets, spent=fixed({("owner", "alice", "day"): 0.6}),
                     committed=fixed({("owner", "alice", "day"): 0.2}), now=NOW)
    assert d.action == "hold" and d.budget == budgets[0]
    assert "owner 'alice' daily budget $1" in d.reason
    assert "spent $0.6000 in 2026-12-02 (UTC)" in d.reason and "$0.2000 planned for tasks still running" in d.reason
    assert "= $1.1000 > $1.0000" in d.reason
    assert "after 2026-12-03 00:00 UTC" in d.reason


def test_exactly_at_the_amount_is_allowed():
    budgets = [Budget(scope="dag", subject="etl", period="run", amount_usd=0.9)]
    d = check_budget(ctx(0.3), budgets, spent=fixed({("dag", "etl", "run"): 0.6}), now=NOW)
    assert d.allowed


def test_fail_wins_over_hold():
    budgets = [Budget(scope="owner", subject="alice", period="day", amount_usd=0.1),
               Budget(scope="tag", subject="finance", period="month", amount_usd=0.1, policy="fail")]
    d = check_budget(ctx(0.3), budgets, spent=fixed({}), now=NOW)
    assert d.action == "fail" and d.budget.scope == "tag"
    assert d.reason.startswith("failed by budget: tag 'finance' monthly budget")


@pytest.mark.parametrize("budget, binds", [
    pytest.param(Budget(scope="dag", subject="etl", period="day", amount_usd=0), True, id="dag"),
    pytest.param(Budget(scope="dag", subject="other", period="day", amount_usd=0), False, id="other-dag"),
    pytest.param(Budget(scope="task", subject="etl.load", period="run", amount_usd=0), True, id="task"),
    pytest.param(Budget(scope="task", subject="etl.extract", period="run", amount_usd=0), False, id="other-task"),
    pytest.param(Budget(scope="owner", subject="bob", period="day", amount_usd=0), False, id="other-owner"),
    pytest.param(Budget(scope="tag", subject="finance", period="day", amount_usd=0), True, id="tag"),
    pytest.param(Budget(scope="team", subject="ml", period="day", amount_usd=0), False, id="team-off"),
])
def test_which_budgets_bind(budget, binds):
    assert (budget in applicable([budget], ctx())) is binds


def test_team_budget_binds_in_multi_team_mode():
    b = Budget(scope="team", subject="ml", period="month", amount_usd=0.0)
    assert check_budget(ctx(0.1, team="ml"), [b], spent=fixed({}), now=NOW).action == "hold"


def test_the_task_hint_budget_fails_the_task():
    d = check_budget(ctx(0.3, hint_budget_usd=0.25), [], spent=fixed({}), now=NOW)
    assert d.action == "fail" and "task 'etl.load' per-run budget $0.25" in d.reason
    assert "in this run" in d.reason


def test_remaining_for_plan_is_the_tightest_wide_budget():
    budgets = [Budget(scope="owner", subject="alice", period="day", amount_usd=1.0),
               Budget(scope="dag", subject="etl", period="month", amount_usd=10.0),
               Budget(scope="task", subject="etl.load", period="run", amount_usd=0.01)]
    left, b = remaining_for_plan(ctx(), budgets, spent=fixed({("owner", "alice", "day"): 0.7,
                                                              ("dag", "etl", "month"): 9.9}))
    assert left == pytest.approx(0.1) and b.scope == "dag"
    assert remaining_for_plan(ctx(owners=("bob",), tags=()), budgets[:1], spent=fixed({})) == (None, None)


def test_period_windows():
    assert period_window("day", NOW) == (datetime(2026, 12, 2, tzinfo=timezone.utc),
                                         datetime(2026, 12, 3, tzinfo=timezone.utc))
    assert period_window("month", NOW) == (datetime(2026, 12, 1, tzinfo=timezone.utc),
                                           datetime(2027, 1, 1, tzinfo=timezone.utc))
    assert period_window("run", NOW) is None


@pytest.mark.parametrize("fields, field", [
    pytest.param(dict(scope="planet", subject="x", period="day", amount_usd=1), "scope", id="scope"),
    pytest.param(dict(scope="dag", subject="x", period="week", amount_usd=1), "period", id="period"),
    pytest.param(dict(scope="dag", subject="x", period="day", amount_usd=-1), "amount_usd", id="amount"),
    pytest.param(dict(scope="dag", subject="x", period="day", amount_usd=1, policy="kill"), "policy", id="policy"),
    pytest.param(dict(scope="task", subject="no_dot", period="run", amount_usd=1), "subject", id="task-subject"),
])
def test_bad_budgets_name_the_field(fields, field):
    with pytest.raises(ValidationError) as e:
        Budget(**fields)
    assert field in {str(err["loc"][0]) for err in e.value.errors()}
