"""Budget glue: spend per scope through BudgetService, the dispatch gate's holds and re-checks, the CLI,
and the timetable reader of the forecast."""

from __future__ import annotations

import sys
from argparse import Namespace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "history"))
from dbutil import migrate, scope_for  # noqa: E402

from airflow_ai_scheduler.airflow import cli_forecast  # noqa: E402
from airflow_ai_scheduler.airflow.budgets import BudgetGate, BudgetService  # noqa: E402
from airflow_ai_scheduler.airflow.forecasting import DagFacts, next_run_times  # noqa: E402
from airflow_ai_scheduler.budgets import Budget, TaskContext  # noqa: E402
from airflow_ai_scheduler.history.store import HistoryStore  # noqa: E402

NOW = datetime.now(timezone.utc)
FACTS = {"etl": DagFacts("etl", owners=("alice",), tags=("finance",), hint_budgets={"load": 1.0}),
         "ml": DagFacts("ml", owners=("alice", "bob"), team="research"),
         "web": DagFacts("web", owners=("carol",))}


@pytest.fixture
def service(tmp_path):
    url = f"sqlite:///{tmp_path / 'b.db'}"
    migrate(url)
    scope, engine = scope_for(url)
    svc = BudgetService(scope, facts=lambda ids=None: {k: v for k, v in FACTS.items() if ids is None or k in ids})
    svc.history = HistoryStore(scope)
    yield svc
    engine.dispose()


def _try(svc, dag, task, run, cost, when=NOW):
    svc.history.record(dict(dag_id=dag, task_id=task, run_id=run, map_index=-1, try_number=1, fleet="f",
                            actual_start=when, actual_end=when, runtime_seconds=1.0, actual_cost=cost,
                            outcome="success"))


def test_spend_follows_the_scope(service):
    _try(service, "etl", "load", "r1", 0.10)
    _try(service, "ml", "train", "r2", 0.20)
    _try(service, "web", "serve", "r3", 0.40)
    _try(service, "etl", "load", "r0", 5.00, when=NOW - timedelta(days=40))  # another month
    assert service.spent(Budget(scope="owner", subject="alice", period="day", amount_usd=1)) == pytest.approx(0.30)
    assert service.spent(Budget(scope="team", subject="research", period="month", amount_usd=1)) == pytest.approx(0.2)
    assert service.spent(Budget(scope="tag", subject="finance", period="day", amount_usd=1)) == pytest.approx(0.1)
    ctx = service.context("etl", "load", "r1", planned_cost=0.05)
    assert ctx.owners == ("alice",) and ctx.tags == ("finance",) and ctx.hint_budget_usd == 1.0
    assert service.spent(Budget(scope="task", subject="etl.load", period="run", amount_usd=1), ctx) == pytest.approx(0.1)


def test_the_gate_holds_with_a_reason_and_releases_when_the_budget_is_raised(service):
    service.store.set(Budget(scope="owner", subject="alice", period="day", amount_usd=0.25))
    _try(service, "etl", "extract", "r1", 0.10)
    ran = []
    gate = BudgetGate(service, submit=lambda fn, *a: ran.append(fn(*a)), recheck_seconds=0.0)
    ctx_a = service.context("etl", "transform", "r1", planned_cost=0.10)
    assert gate.decide("a", ctx_a) is None  # first sight: checked in the background
    assert gate.decide("a", ctx_a).action == "allow"
    gate.launched("a", ctx_a)  # running: its planned $0.10 is committed
    ctx_b = service.context("ml", "train", "r2", planned_cost=0.10)
    gate.decide("b", ctx_b)
    d = gate.decide("b", ctx_b)
    assert d.action == "hold" and "owner 'alice' daily budget $0.25" in d.reason
    assert "$0.1000 planned for tasks still running" in d.reason
    service.store.set(Budget(scope="owner", subject="alice", period="day", amount_usd=1.0))
    gate.decide("b", ctx_b)  # a stale hold is re-checked
    assert gate.decide("b", ctx_b).action == "allow"


def test_a_failing_check_lets_the_task_run_and_says_why(service):
    def boom(*_a, **_k):
        raise RuntimeError("db down")

    service.check = boom
    gate = BudgetGate(service, submit=lambda fn, *a: fn(*a))
    ctx = TaskContext("etl", "load", "r1", planned_cost=1.0)
    gate.decide("k", ctx)
    d = gate.decide("k", ctx)
    assert d.action == "allow" and "budget check failed: db down" in d.reason


def test_budget_cli(service, monkeypatch, capsys):
    monkeypatch.setattr(cli_forecast, "_budgets", lambda: service)
    args = dict(scope="owner", subject="alice", period="day", amount_usd=2.0, policy="hold", note=None,
                json=False, output="table")
    cli_forecast.budget_set_command(Namespace(**args))
    assert "set owner 'alice' daily budget $2 (hold)" in capsys.readouterr().out
    _try(service, "etl", "load", "r1", 0.5)
    cli_forecast.budgets_command(Namespace(json=False, output="table"))
    row = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("owner"))
    assert row.split()[:7] == ["owner", "alice", "day", "2.0000", "hold", "0.5000", "1.5000"]
    with pytest.raises(SystemExit, match="amount_usd"):
        cli_forecast.budget_set_command(Namespace(**{**args, "amount_usd": -1}))
    with pytest.raises(SystemExit, match="no day budget for owner 'bob'"):
        cli_forecast.budget_delete_command(Namespace(scope="owner", subject="bob", period="day"))


def test_next_run_times_reads_airflow_timetables():
    from airflow.timetables.simple import NullTimetable
    from airflow.timetables.trigger import CronTriggerTimetable

    start = datetime(2026, 12, 7, 5, 30, tzinfo=timezone.utc)  # a Monday
    runs = next_run_times(CronTriggerTimetable("15 6-8 * * 1-5", timezone="UTC"), start, start + timedelta(days=1))
    assert [r.strftime("%H:%M") for r in runs] == ["06:15", "07:15", "08:15"]
    assert all(r.tzinfo is not None for r in runs)
    assert next_run_times(NullTimetable(), start, start + timedelta(days=1)) == []
