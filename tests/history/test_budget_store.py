"""Budgets and spend through the real migrations (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from dbutil import migrate, scope_for

from airflow_ai_scheduler.budgets import Budget
from airflow_ai_scheduler.history.budget_store import BudgetStore
from airflow_ai_scheduler.history.store import HistoryStore

DAY = datetime(2026, 12, 2, tzinfo=timezone.utc)


@pytest.fixture
def stores(db_url):
    migrate(db_url)
    scope, engine = scope_for(db_url)
    yield BudgetStore(scope), HistoryStore(scope)
    engine.dispose()


def _try(dag, task, run, start, cost):
    return dict(dag_id=dag, task_id=task, run_id=run, map_index=-1, try_number=1, fleet="f", tier="spot",
                actual_start=start, actual_end=start + timedelta(minutes=5), runtime_seconds=300.0,
                price_per_hour_at_launch=cost * 12, actual_cost=cost, outcome="success")


def test_set_replaces_and_lists(stores):
    budgets, _ = stores
    a = budgets.set(Budget(scope="owner", subject="alice", period="day", amount_usd=1.0), updated_by="admin")
    b = budgets.set(Budget(scope="owner", subject="alice", period="day", amount_usd=2.5, policy="fail"))
    assert a.id == b.id
    (only,) = budgets.list()
    assert only.amount_usd == 2.5 and only.policy == "fail" and only.id == a.id
    budgets.set(Budget(scope="dag", subject="etl", period="run", amount_usd=0.2))
    assert [x.scope for x in budgets.list()] == ["dag", "owner"]
    assert [x.subject for x in budgets.list(scope="dag")] == ["etl"]
    assert budgets.delete("dag", "etl", "run") and not budgets.delete("dag", "etl", "run")


def test_spend_filters_by_dag_task_run_and_window(stores):
    budgets, history = stores
    history.record(_try("etl", "extract", "r1", DAY + timedelta(hours=1), 0.10))
    history.record(_try("etl", "load", "r1", DAY + timedelta(hours=2), 0.20))
    history.record(_try("etl", "load", "r0", DAY - timedelta(hours=1), 0.40))  # yesterday
    history.record(_try("ml", "train", "r9", DAY + timedelta(hours=3), 1.00))
    today = dict(since=DAY, until=DAY + timedelta(days=1))
    assert budgets.spend(dag_ids=["etl"], **today) == pytest.approx(0.30)
    assert budgets.spend(dag_ids=["etl", "ml"], **today) == pytest.approx(1.30)
    assert budgets.spend(dag_ids=[], **today) == 0.0
    assert budgets.spend(**today) == pytest.approx(1.30)
    assert budgets.spend(dag_ids=["etl"], task_id="load") == pytest.approx(0.60)
    assert budgets.spend(dag_ids=["etl"], run_id="r1") == pytest.approx(0.30)
    assert budgets.spend_by_dag(**today) == pytest.approx({"etl": 0.30, "ml": 1.00})
