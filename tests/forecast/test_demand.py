"""History rows → hourly demand frames; scheduled runs × learned profiles."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from airflow_ai_scheduler.exceptions import ForecastError
from airflow_ai_scheduler.forecast.demand import hourly_demand, split_hours
from airflow_ai_scheduler.forecast.schedule import (
    TaskSpec,
    learn_profiles,
    profile_from_tasks,
    scheduled_demand,
)

T0 = datetime(2026, 12, 1, tzinfo=timezone.utc)


def row(dag="etl", task="t", run="r1", start=0.0, hours=1.0, fleet="spot", outcome="success"):
    s = T0 + timedelta(hours=start)
    return dict(dag_id=dag, task_id=task, run_id=run, fleet=fleet, outcome=outcome, actual_start=s,
                actual_end=s + timedelta(hours=hours))


def test_split_hours_across_boundaries():
    parts = split_hours(T0 + timedelta(minutes=40), T0 + timedelta(hours=2, minutes=10))
    assert [(h.hour, round(x, 4)) for h, x in parts] == [(0, 0.3333), (1, 1.0), (2, 0.1667)]


def test_hourly_demand_spreads_tries_and_fills_quiet_hours():
    rows = [row(start=0.5, hours=1.0), row(task="u", start=0.0, hours=0.25, fleet="od"),
            row(task="p", start=3.0, hours=0.5, outcome="preempted"),
            row(task="x", start=1.0, hours=1.0, outcome="upstream_failed")]
    f = hourly_demand(rows, by="fleet", resources=lambda d, t: (4.0, 1) if t == "t" else (1.0, 0),
                      start=T0, end=T0 + timedelta(hours=5))
    spot = f[f.unique_id == "spot"].set_index("ds")
    assert list(spot["task_hours"].round(3)) == [0.5, 0.5, 0.0, 0.5, 0.0]  # the preempted try counts
    assert list(spot["vcpu_hours"].round(3)) == [2.0, 2.0, 0.0, 0.5, 0.0]
    assert spot["gpu_hours"].sum() == pytest.approx(1.0)
    assert len(f[f.unique_id == "od"]) == 5 and f["task_hours"].sum() == pytest.approx(1.75)


@pytest.mark.parametrize("by, ids", [
    pytest.param("dag", ["etl", "ml"], id="dag"), pytest.param("owner", ["alice", "unknown"], id="owner"),
    pytest.param("total", ["total"], id="total"),
])
def test_groupings(by, ids):
    f = hourly_demand([row(), row(dag="ml")], by=by, owners={"etl": "alice"})
    assert sorted(f.unique_id.unique()) == ids


def test_unknown_grouping_names_the_field():
    with pytest.raises(ForecastError, match="^by: unknown grouping 'fleets'"):
        hourly_demand([row()], by="fleets")


def test_learned_profile_and_scheduled_demand():
    rows = []
    for i, (d1, d2) in enumerate([(1.0, 0.5), (1.2, 0.5), (0.8, 0.5)]):
        base = 24.0 * i
        rows += [row(run=f"r{i}", task="a", start=base, hours=d1),
                 row(run=f"r{i}", task="b", start=base + d1, hours=d2, fleet="od")]
    prof = learn_profiles(rows)["etl"]
    a, b = prof.tasks
    assert a.task_hours == pytest.approx(1.0) and a.task_hours_sd == pytest.approx(0.2)
    assert b.offset_hours == pytest.approx(1.0) and b.fleet == "od"
    runs = [T0 + timedelta(days=5), T0 + timedelta(days=5, hours=2)]
    f = scheduled_demand({"etl": runs, "unknown": runs}, {"etl": prof}, by="fleet",
                         start=T0 + timedelta(days=5), end=T0 + timedelta(days=5, hours=6))
    spot = f[f.unique_id == "spot"]["task_hours"].round(3).tolist()
    assert spot == [1.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    assert f[f.unique_id == "od"]["task_hours"].sum() == pytest.approx(1.0)
    assert (f["task_hours_var"] >= 0).all() and f["task_hours_var"].sum() > 0


def test_profile_from_hints_chains_offsets():
    prof = profile_from_tasks("d", [TaskSpec("c", 0.5, upstream=("a", "b")), TaskSpec("a", 1.0),
                                    TaskSpec("b", 2.0, upstream=("a",), instances=3)])
    by = {t.task_id: t for t in prof.tasks}
    assert (by["a"].offset_hours, by["b"].offset_hours, by["c"].offset_hours) == (0.0, 1.0, 3.0)
    assert by["b"].task_hours == 6.0 and prof.source == "hints" and prof.notes


def test_empty_history_is_an_empty_frame():
    f = hourly_demand([], start=T0, end=T0 + timedelta(hours=2))
    assert isinstance(f, pd.DataFrame) and f.empty
