"""The ``airflow ai-scheduler`` commands over a migrated SQLite database."""

from __future__ import annotations

import json
import sys
from argparse import Namespace
from datetime import timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "history"))
from dbutil import migrate, scope_for  # noqa: E402
from factories import NOW, job, manifest, offer  # noqa: E402

from airflow_ai_scheduler.airflow import cli  # noqa: E402
from airflow_ai_scheduler.history.store import HistoryStore  # noqa: E402
from airflow_ai_scheduler.planning.greedy import GreedyPlanner  # noqa: E402


@pytest.fixture
def store(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    migrate(url)
    scope, engine = scope_for(url)
    s = HistoryStore(scope)
    monkeypatch.setattr(cli, "_store", lambda: s)
    yield s
    engine.dispose()


def _try(task, cost, try_number=1, outcome="success"):
    return dict(dag_id="d", task_id=task, run_id="r1", map_index=-1, try_number=try_number, fleet="spot-a",
                provider="aws", region="us-east-1", instance_type="m6i.xlarge", tier="spot", actual_start=NOW,
                actual_end=NOW + timedelta(hours=1), runtime_seconds=1800.0, price_per_hour_at_launch=2 * cost,
                actual_cost=cost, outcome=outcome)


def _plain(out):
    """Rows of AirflowConsole's plain table (header first), split on runs of 2+ spaces."""
    import re

    return [re.split(r"\s{2,}", ln.strip()) for ln in out.splitlines() if ln.strip()]


def test_plan_prints_the_stored_plan_table(store, capsys):
    m = manifest([job("extract"), job("train", deps=["extract"])], [offer("od"), offer("s", "spot", 0.3)])
    p = GreedyPlanner().plan(m)
    store.save_plan("d", "r1", p, m, on_demand_cost=3.0)
    cli.plan_command(Namespace(dag_id="d", run_id="r1", output="plain"))
    rows = _plain(capsys.readouterr().out)
    header = rows[0]
    assert header[:3] == ["task", "fleet", "tier"]
    by_task = {r[0].rstrip(" *"): dict(zip(header, r, strict=False)) for r in rows[1:len(p.placements) + 1]}
    for x in p.placements:
        row = by_task[x.job_id]  # (tabulate prints numbers in their shortest form)
        assert float(row["expected $"]) == pytest.approx(x.estimated_cost, abs=1e-6) and row["tier"] == x.tier
    assert rows[1][0] == "extract *" and rows[2][0] == "train *"  # chronological; the chain is the critical path
    cli.plan_command(Namespace(dag_id="d", run_id="r1", json=True))
    assert json.loads(capsys.readouterr().out)["objective"]["cost"] == pytest.approx(p.objective.cost)
    cli.plan_command(Namespace(dag_id="d", run_id="r1", output="yaml"))
    import yaml

    assert yaml.safe_load(capsys.readouterr().out)["planner"] == p.planner


def test_plan_and_report_agree_on_the_planned_numbers(store, capsys):
    """The same planned cost, all-on-demand reference and saving in both commands (they disagreed after a
    re-plan: plan recomputed the reference from the re-plan's manifest)."""
    m = manifest([job("a"), job("b", deps=["a"])], [offer("od", price=1.0), offer("s", "spot", 0.25)])
    store.save_plan("d", "r1", GreedyPlanner().plan(m), m, on_demand_cost=9.0)
    m2 = manifest([job("b")], [offer("od", price=1.0), offer("s", "spot", 0.25)])  # a re-plan of the rest
    store.save_plan("d", "r1", GreedyPlanner().plan(m2), m2, on_demand_cost=9.0)
    store.record(_try("a", 0.2))
    cli.plan_command(Namespace(dag_id="d", run_id="r1", output="plain"))
    plan_out = capsys.readouterr().out
    cli.report_command(Namespace(dag_id="d", run_id="r1", output="plain"))
    report_out = capsys.readouterr().out
    line = next(ln for ln in plan_out.splitlines() if ln.startswith("planned cost"))
    assert "$9.000000" in line and line in report_out.splitlines()


def test_plan_of_unknown_run_exits_with_its_name(store):
    with pytest.raises(SystemExit, match="d / nope"):
        cli.plan_command(Namespace(dag_id="d", run_id="nope", json=False))


def test_history_rows_and_task_filter(store, capsys):
    store.record(_try("a", 0.25))
    store.record(_try("a", 0.5, try_number=2, outcome="preempted"))
    store.record(_try("b", 1.0))
    cli.history_command(Namespace(dag_id="d", task_id="a", limit=50, output="plain"))
    header, *rows = _plain(capsys.readouterr().out)
    rows = [dict(zip(header, r, strict=True)) for r in rows]
    assert {(r["task"], r["try"], float(r["cost $"]), r["outcome"]) for r in rows} == {
        ("a", "1", 0.25, "success"), ("a", "2", 0.5, "preempted")}
    cli.history_command(Namespace(dag_id="d", task_id=None, limit=1, json=True))
    assert [r["task_id"] for r in json.loads(capsys.readouterr().out)] == ["b"]


def test_limit_is_validated():
    import argparse

    assert cli._positive_int("5") == 5
    for bad in ("0", "-1", "x", "100001"):
        with pytest.raises(argparse.ArgumentTypeError, match="--limit"):
            cli._positive_int(bad)


def test_report_totals_and_the_same_tries_on_demand(store, capsys):
    m = manifest([job("a")], [offer("od", price=1.0), offer("s", "spot", 0.25)])
    p = GreedyPlanner().plan(m)
    store.save_plan("d", "r1", p, m, on_demand_cost=1.0)
    store.record({**_try("a", 0.2), "instance_type": "type-od"})  # 1800 s on the machine the od offer prices
    cli.report_command(Namespace(dag_id="d", run_id="r1", json=True))
    rep = json.loads(capsys.readouterr().out)
    assert rep["actual_cost"] == pytest.approx(0.2)
    assert rep["planned_saving_pct"] == pytest.approx(100 * (1.0 - p.objective.cost))
    od_price = next(o.price_per_hour for o in m.offers if o.offer_id == "od")
    assert rep["actual_on_demand_cost"] == pytest.approx(0.5 * od_price)
    assert rep["rows"][0]["try"] == "try 1"


def test_fleets_lists_prices_and_slots(monkeypatch, capsys):
    fleets = [{"name": "big-spot", "provider": "aws", "region": "us-east-1", "instance_type": "m6i.xlarge",
               "tier": "spot", "slots": 7}]
    monkeypatch.setenv("AIRFLOW__AI_SCHEDULER__FLEETS", json.dumps(fleets))
    cli.fleets_command(Namespace(json=True))
    (f,) = json.loads(capsys.readouterr().out)
    assert f["name"] == "big-spot" and f["slots"] == 7 and f["price_per_hour"] > 0
    cli.fleets_command(Namespace(output="plain"))
    header, row = _plain(capsys.readouterr().out)
    assert row[0] == "big-spot" and "7" in row and float(row[5]) == pytest.approx(f["price_per_hour"], abs=1e-4)


def test_fleets_worker_command_prints_shell_lines_that_set_the_fleet_environment(monkeypatch, capsys):
    import shlex
    import subprocess

    fleets = [{"name": "spot-celery", "provider": "aws", "region": "us-east-1", "instance_type": "m6i.xlarge",
               "tier": "spot", "slots": 6, "backend": "celery", "options": {"queue": "spot-q"}},
              {"name": "od", "provider": "aws", "region": "us-east-1", "instance_type": "m6i.xlarge",
               "tier": "on-demand", "slots": 2}]
    monkeypatch.setenv("AIRFLOW__AI_SCHEDULER__FLEETS", json.dumps(fleets))
    cli.fleets_command(Namespace(json=False, worker_command="spot-celery"))
    export, command = capsys.readouterr().out.strip().splitlines()
    assert shlex.split(command) == ["airflow", "celery", "worker", "--queues", "spot-q", "--concurrency", "6"]
    # the export line works as it is in a real shell
    env = subprocess.run(["bash", "-c", f"{export}; env"], capture_output=True, text=True, check=True).stdout
    assert "AI_SCHEDULER_FLEET=spot-celery" in env.splitlines() and "AI_SCHEDULER_TIER=spot" in env.splitlines()
    with pytest.raises(SystemExit, match="'od' has backend 'local'"):
        cli.fleets_command(Namespace(json=False, worker_command="od"))
    with pytest.raises(SystemExit, match="no fleet named 'nope'; configured: od, spot-celery"):
        cli.fleets_command(Namespace(json=False, worker_command="nope"))


def test_group_is_registered_with_the_commands():
    (group,) = cli.get_ai_scheduler_cli_commands()
    assert group.name == "ai-scheduler"
    assert {c.name for c in group.subcommands} >= {"plan", "history", "fleets", "report"}
