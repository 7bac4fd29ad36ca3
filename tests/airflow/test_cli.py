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


def test_plan_prints_the_stored_plan_table(store, capsys):
    m = manifest([job("extract"), job("train", deps=["extract"])], [offer("od"), offer("s", "spot", 0.3)])
    p = GreedyPlanner().plan(m)
    store.save_plan("d", "r1", p, m)
    cli.plan_command(Namespace(dag_id="d", run_id="r1", json=False))
    out = capsys.readouterr().out
    lines = {ln.split()[0]: ln for ln in out.splitlines() if ln.strip()}
    for x in p.placements:
        assert f"{x.estimated_cost:.4f}" in lines[x.job_id]
        assert x.tier in lines[x.job_id]
    cli.plan_command(Namespace(dag_id="d", run_id="r1", json=True))
    assert json.loads(capsys.readouterr().out)["objective"]["cost"] == pytest.approx(p.objective.cost)


def test_plan_of_unknown_run_exits_with_its_name(store):
    with pytest.raises(SystemExit, match="d / nope"):
        cli.plan_command(Namespace(dag_id="d", run_id="nope", json=False))


def test_history_rows_and_task_filter(store, capsys):
    store.record(_try("a", 0.25))
    store.record(_try("a", 0.5, try_number=2, outcome="preempted"))
    store.record(_try("b", 1.0))
    cli.history_command(Namespace(dag_id="d", task_id="a", limit=50, json=False))
    rows = [ln.split() for ln in capsys.readouterr().out.splitlines()[1:]]
    assert len(rows) == 2
    assert {(r[1], r[3], r[8], r[9]) for r in rows} == {("a", "1", "0.250000", "success"),
                                                         ("a", "2", "0.500000", "preempted")}
    cli.history_command(Namespace(dag_id="d", task_id=None, limit=1, json=True))
    assert [r["task_id"] for r in json.loads(capsys.readouterr().out)] == ["b"]


def test_report_totals(store, capsys):
    m = manifest([job("a")], [offer("od", price=1.0), offer("s", "spot", 0.25)])
    p = GreedyPlanner().plan(m)
    store.save_plan("d", "r1", p, m, on_demand_cost=1.0)
    store.record(_try("a", 0.2))
    cli.report_command(Namespace(dag_id="d", run_id="r1", json=True))
    rep = json.loads(capsys.readouterr().out)
    assert rep["actual_cost"] == pytest.approx(0.2)
    assert rep["planned_saving_pct"] == pytest.approx(100 * (1.0 - p.objective.cost))


def test_fleets_lists_prices_and_slots(monkeypatch, capsys):
    fleets = [{"name": "big-spot", "provider": "aws", "region": "us-east-1", "instance_type": "m6i.xlarge",
               "tier": "spot", "slots": 7}]
    monkeypatch.setenv("AIRFLOW__AI_SCHEDULER__FLEETS", json.dumps(fleets))
    cli.fleets_command(Namespace(json=True))
    (f,) = json.loads(capsys.readouterr().out)
    assert f["name"] == "big-spot" and f["slots"] == 7 and f["price_per_hour"] > 0
    cli.fleets_command(Namespace(json=False))
    row = capsys.readouterr().out.splitlines()[1].split()
    assert row[0] == "big-spot" and "7" in row and f"{f['price_per_hour']:.4f}" in row


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
