"""The budget gate at dispatch (the executor's Gate contract): two of three tasks fit an owner's daily
budget, the third is held with the reason, and goes when the budget is raised."""

from __future__ import annotations

import sys
from collections import namedtuple
from datetime import datetime, timezone
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "history"))
from dbutil import migrate, scope_for  # noqa: E402

from airflow_ai_scheduler.airflow.budget_gate import BudgetDispatchGate  # noqa: E402
from airflow_ai_scheduler.airflow.budgets import BudgetService  # noqa: E402
from airflow_ai_scheduler.airflow.forecasting import DagFacts  # noqa: E402
from airflow_ai_scheduler.airflow.gates import GateInput  # noqa: E402
from airflow_ai_scheduler.budgets import Budget  # noqa: E402
from airflow_ai_scheduler.history.store import HistoryStore  # noqa: E402

Key = namedtuple("Key", "dag_id task_id run_id try_number map_index")
FACTS = {"etl": DagFacts("etl", owners=("alice",), tags=("finance",), hint_budgets={"load": 0.01})}
RUNS = {("etl", "r1")}


@pytest.fixture
def gate(tmp_path):
    url = f"sqlite:///{tmp_path / 'g.db'}"
    migrate(url)
    scope, engine = scope_for(url)
    svc = BudgetService(scope, facts=lambda ids=None: {k: v for k, v in FACTS.items() if ids is None or k in ids})
    g = BudgetDispatchGate(service=svc)
    g.history = HistoryStore(scope)
    yield g
    engine.dispose()


def due(task, cost=0.02):
    return GateInput(key=Key("etl", task, "r1", 1, -1), dag_id="etl", run_id="r1", task_id=task, fleet="spot",
                     planned_cost=cost, owner=None)


def test_no_budget_no_hold_and_nothing_before_the_first_load(gate):
    assert gate.check(due("a")).action == "hold"  # budgets not loaded yet: a reason, not a silent wait
    gate.refresh(RUNS)
    assert gate.check(due("a")) is None


def test_two_of_three_fit_the_daily_budget_the_third_waits_until_it_is_raised(gate):
    gate.service().store.set(Budget(scope="owner", subject="alice", period="day", amount_usd=0.05))
    gate.refresh(RUNS)
    one, two, three = due("one"), due("two"), due("three")
    assert gate.check(one) is None and gate.check(two) is None  # same loop: each sees the other's cost
    v = gate.check(three)
    assert v.action == "hold" and "owner 'alice' daily budget $0.05" in v.reason
    assert "$0.0400 planned for tasks still running" in v.reason and "it runs when the budget is raised" in v.reason
    gate.launched(one)
    gate.launched(two)
    assert gate.check(three).action == "hold"
    gate.service().store.set(Budget(scope="owner", subject="alice", period="day", amount_usd=0.10))
    gate.refresh(RUNS)
    assert gate.check(three) is None


def test_finished_tries_move_from_committed_to_spend(gate):
    gate.service().store.set(Budget(scope="dag", subject="etl", period="run", amount_usd=0.05))
    gate.refresh(RUNS)
    first = due("one", 0.03)
    assert gate.check(first) is None
    gate.launched(first)
    assert gate.check(due("two", 0.03)).action == "hold"
    now = datetime.now(timezone.utc)
    gate.history.record(dict(dag_id="etl", task_id="one", run_id="r1", map_index=-1, try_number=1, fleet="spot",
                             actual_start=now, actual_end=now, runtime_seconds=1.0, actual_cost=0.01,
                             outcome="success"))
    gate.refresh(RUNS)  # its actual $0.01 replaces its planned $0.03
    assert gate.check(due("two", 0.03)) is None


def test_the_hint_budget_fails_the_task(gate):
    gate.refresh(RUNS)
    v = gate.check(due("load", 0.02))
    assert v.action == "fail" and "task 'etl.load' per-run budget $0.01" in v.reason


def test_a_broken_store_keeps_the_last_view(gate, monkeypatch):
    gate.refresh(RUNS)
    monkeypatch.setattr(gate.service().store, "list", lambda: 1 / 0)
    gate.refresh(RUNS)  # logged, not raised
    assert gate.check(due("a")) is None
