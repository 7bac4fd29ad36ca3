from __future__ import annotations

import random

import pytest

from airflow_ai_scheduler.dispatch import get_policy
from airflow_ai_scheduler.simulate.dispatch import EPOCH, DispatchSimulator, simulate_dispatch
from airflow_ai_scheduler.simulate.dispatch_compare import bootstrap_ci, paired_difference, run_policies
from airflow_ai_scheduler.simulate.dispatch_workload import (
    DagSpec,
    FleetSpec,
    SimRun,
    SimTask,
    TaskSpec,
    Workload,
    dags_from_history,
    generate_workload,
)

ONE_SLOT = [FleetSpec("f", "on-demand", 1, 1.0)]


def run(run_id, at, tasks, deadline=None, dag="d", owner="o"):
    r = SimRun(run_id, dag, owner, at, deadline)
    for t in tasks:
        t.run_id = run_id
        r.tasks[t.task_id] = t
    return r


def task(tid, hours, deps=(), **kw):
    return SimTask("", tid, tuple(deps), hours, kw.pop("expected", hours), "f", **kw)


def test_sjf_runs_the_short_task_first_and_fifo_the_earlier_one():
    w = Workload([run("a", 0.0, [task("long", 2.0)]), run("b", 0.0, [task("short", 0.5)])], ONE_SLOT, 1.0)
    fifo = simulate_dispatch(w, get_policy("fifo"))
    sjf = simulate_dispatch(w, get_policy("sjf"))
    # fifo: 'long' (queued first) then 'short' waits 2 h; sjf: 'long' waits 0.5 h
    assert fifo.mean_wait_min == pytest.approx(60.0)
    assert sjf.mean_wait_min == pytest.approx(15.0)
    assert sjf.mean_completion_h == pytest.approx((0.5 + 2.5) / 2)
    assert fifo.makespan_h == sjf.makespan_h == pytest.approx(2.5)


def test_dependencies_wait_for_their_upstream_and_deadlines_count_misses():
    w = Workload([run("r", 0.0, [task("a", 1.0), task("b", 1.0, ["a"])], deadline=1.5)],
                 [FleetSpec("f", "on-demand", 4, 1.0)], 1.0)
    res = simulate_dispatch(w, get_policy("fifo"))
    assert res.mean_completion_h == pytest.approx(2.0)  # b could not start before a ended
    assert res.deadline_runs == 1 and res.deadline_misses == 1


def test_failed_tries_are_retried_and_counted():
    t = task("a", 1.0, fail_tries=1, fail_at=0.5)
    res = simulate_dispatch(Workload([run("r", 0.0, [t])], ONE_SLOT, 1.0), get_policy("fifo"))
    assert res.failures == 1 and res.tasks == 1
    assert res.mean_completion_h == pytest.approx(1.5)


def test_starvation_sjf_starves_a_longer_task_behind_a_stream_of_short_ones():
    # a 36-s task every 32 s for ~53 min (the slot never idles) and, just after the first, a 3-min one
    runs = [run("long", 0.0002, [task("l", 0.05)], dag="big")]
    runs += [run(f"s{i}", 0.0001 + 0.009 * i, [task("s", 0.01)], dag="small") for i in range(100)]
    w = Workload(runs, ONE_SLOT, 1.0)
    sjf = simulate_dispatch(w, get_policy("sjf"))
    fifo = simulate_dispatch(w, get_policy("fifo"))
    assert sjf.starved == 1  # waited ~1 h > 10 x 3 min
    assert fifo.starved == 0  # short ones wait at most ~9 min < the 15-min floor


def test_a_generated_workload_finishes_every_task_deterministically():
    w = generate_workload(1)
    assert {f.tier for f in w.fleets} == {"spot", "on-demand"}
    assert len({r.dag_id for r in w.runs}) >= 6
    assert any(r.deadline_h is not None for r in w.runs)
    a = simulate_dispatch(w, get_policy("least_slack"))
    b = simulate_dispatch(generate_workload(1), get_policy("least_slack"))
    assert a == b
    assert a.tasks == sum(len(r.tasks) for r in w.runs) and a.runs == len(w.runs)
    assert a.preemptions > 0  # the spot trace takes slots away


def test_candidates_carry_the_task_fields():
    t = task("a", 1.0, expected=0.8, priority=7, priority_weight=3, vcpus=2, deadline_h=5.0, descendants=2)
    t2 = task("b", 1.0)
    sim = DispatchSimulator(Workload([run("r", 0.0, [t, t2], dag="dd", owner="me")], ONE_SLOT, 1.0))
    assert sim.next_decision() == "f"
    c = next(c for c in sim.candidates("f") if c.task_id == "a")
    assert (c.dag_id, c.run_id, c.owner, c.priority, c.priority_weight) == ("dd", "r", "me", 7, 3)
    assert c.deadline == EPOCH.replace(hour=5) and c.expected_runtime_hours == 0.8
    assert c.expected_cost == pytest.approx(0.8 * 1.0 * 2) and c.descendants == 2
    assert c.run_remaining_hours == pytest.approx(1.8)


def test_dags_from_history_draw_recorded_runtimes():
    from datetime import datetime, timedelta, timezone

    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    rows = [{"dag_id": "etl", "task_id": tid, "run_id": f"r{k}", "runtime_seconds": secs, "outcome": "success",
             "tier": "spot", "actual_start": t0 + timedelta(hours=2 * k)}
            for k in range(3) for tid, secs in (("extract", 600), ("load", 1200))]
    rows.append({"dag_id": "etl", "task_id": "load", "run_id": "r9", "runtime_seconds": 5, "outcome": "failed"})
    (spec,) = dags_from_history(rows)
    assert spec.fleet == "spot" and spec.interval_h == pytest.approx(2.0)
    by_id = {t.task_id: t for t in spec.tasks}
    assert by_id["load"].samples == (1200 / 3600,) * 3
    assert by_id["load"].draw(random.Random(0)) == pytest.approx(1 / 3)
    w = generate_workload(0, dags=[spec], backfill=False)
    assert all(r.dag_id == "etl" for r in w.runs) and len(w.runs) == 12


def test_paired_comparison_and_bootstrap():
    mean, lo, hi = bootstrap_ci([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and 1.0 <= lo < mean < hi <= 4.0
    res = run_policies({"fifo": lambda: get_policy("fifo"), "sjf": lambda: get_policy("sjf")}, [0, 1])
    assert len(res["fifo"]) == 2
    d = paired_difference(res["sjf"], res["fifo"], "mean_wait_min")
    assert d[1] <= d[0] <= d[2]


def test_dagspec_interval_arrivals():
    spec = DagSpec("x", "o", (TaskSpec("t", median_h=0.1, sigma=0.0),), "on-demand", interval_h=6.0)
    w = generate_workload(1, hours=24, dags=[spec], backfill=False)
    assert [r.arrival_h for r in w.runs] == [0.0, 6.0, 12.0, 18.0]
