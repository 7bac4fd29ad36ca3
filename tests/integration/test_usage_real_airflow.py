"""Measured usage, right-sizing and anomaly flags in a real Airflow on the local fleets."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from harness import history_store

from airflow_ai_scheduler.demo.deployment import LocalDeployment

DAGS = Path(__file__).parent / "dags"
HOLD_MIB, BURN_CPU_SECONDS = 300, 2.0  # what it_usage's hog task does
BASE = {"provider": "aws", "region": "us-east-1", "instance_type": "m6i.xlarge"}
FLEETS = json.dumps([{**BASE, "name": "local-spot", "tier": "spot", "slots": 2},
                     {**BASE, "name": "local-on-demand", "tier": "on-demand", "slots": 2}])


@pytest.fixture(scope="module")
def af():
    with LocalDeployment(dags=[DAGS / "it_usage.py"],
                         config={"ai_scheduler.fleets": FLEETS, "ai_scheduler.planner": "greedy"}) as deployment:
        yield deployment


def _json(af, *args):
    out = af.airflow("ai-scheduler", *args, "-o", "json").stdout
    return json.loads(out[out.index(next(c for c in out if c in "[{")):])


@pytest.fixture(scope="module")
def store(af):
    """The deployment's history, read straight from its database (an ``airflow`` command per poll is slow)."""
    return history_store(af)


def _rows(store, run_id, n, timeout=90):
    """The run's history rows once ``n`` successful ones are written (rows are written off the scheduler loop)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = store.history("it_usage", run_id=run_id, limit=500)
        if sum(r["outcome"] == "success" for r in rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(1)


@pytest.mark.timeout(1500)  # three runs and two CLI calls; slow on a shared 2-core machine
def test_usage_is_recorded_rightsized_and_a_slow_try_is_flagged(af, store):
    runs = []
    for conf in ({}, {}, {"slow_index": 2}):
        run_id = af.trigger("it_usage", conf)
        state = af.wait_run("it_usage", run_id, timeout=400)
        if state != "success":
            af.print_logs(120)
            pytest.fail(f"run {run_id} {state}: " + ", ".join(
                f"{t['task_id']}[{t['map_index']}] {t['state']} try {t['try_number']}"
                for t in af.task_instances("it_usage", run_id)))
        runs.append((run_id, _rows(store, run_id, 7)))

    first = runs[0][1]
    ok = [r for r in first if r["outcome"] == "success"]
    assert len(ok) == 7 and all(r["peak_memory_mib"] and r["cpu_seconds"] is not None for r in ok)
    hog = next(r for r in first if r["task_id"] == "hog" and r["outcome"] == "success")
    # the task held 300 MiB on top of the task runner's own ~150-250 MiB, and burnt 2 CPU seconds
    assert HOLD_MIB <= hog["peak_memory_mib"] <= HOLD_MIB + 700, hog
    assert BURN_CPU_SECONDS * 0.95 <= hog["cpu_seconds"] <= BURN_CPU_SECONDS + 6, hog
    sleeper = next(r for r in first if r["task_id"] == "steady" and r["outcome"] == "success")
    assert sleeper["cpu_seconds"] < 1.0 and sleeper["peak_memory_mib"] < hog["peak_memory_mib"] - 200

    # rightsize: hog asked for 4 vCPUs and 16 GiB; it uses ~1 core and < 1 GiB
    (rep,) = _json(af, "rightsize", "it_usage")
    r = next(t for t in rep["tasks"] if t["task_id"] == "hog")
    assert r["verdict"] == "over-requested" and r["measured"]["tries"] == 3
    assert r["recommended"]["memoryGib"] < 16 and r["recommended"]["vcpus"] < 4
    assert r["saving_per_run_usd"] > 0 and r["recommended_offer"] != r["requested_offer"]

    # the slow instance of the third run is flagged in its row, the scheduler log and the anomalies list
    slow = next(x for x in runs[2][1] if x["task_id"] == "steady" and x["map_index"] == 2 and x["outcome"] == "success")
    assert slow["anomaly"] and "runtime_high" in slow["anomaly"], slow
    assert "ai-scheduler anomaly: it_usage/steady/" in af.logs("scheduler")
    from airflow_ai_scheduler.airflow.usage_api import recent_anomalies

    flagged = recent_anomalies("it_usage", store=store)
    assert any(a.run_id == runs[2][0] and a.map_index == 2 and "runtime_high" in a.flags for a in flagged)

    # the ranking of the fleets for hog uses its history
    s = _json(af, "rank", "it_usage", "hog")
    assert s["evidence"] == "history" and s["samples"] == 3 and s["profile"]["source"] == "measured"
    assert {o["offer_id"] for o in s["offers"]} == {"local-spot", "local-on-demand"}
