"""Load: a 300-task mapped run and a burst of 20 runs — every task once, none lost, none stuck."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from conftest import median_first_start


@pytest.mark.timeout(1500)  # ~2 min on a quiet 2-core machine; 10 min when it is shared by eight sessions
def test_300_task_mapped_run(faults_af, fault):
    fault("300-task mapped run")
    af = faults_af
    t0 = time.monotonic()
    run_id = af.trigger("f_mapped")
    tis = af.clean_run("f_mapped", run_id, timeout=1400)
    wall = time.monotonic() - t0
    assert sum(1 for t in tis if t["task_id"] == "work") == 300
    rows = af.wait_history("f_mapped", run_id, lambda rs: len(rs) >= 302, timeout=120)
    work = Counter(r["map_index"] for r in rows if r["task_id"] == "work")
    assert sorted(work) == list(range(300)) and set(work.values()) == {1}, "a mapped task without or with 2 rows"
    assert {r["outcome"] for r in rows} == {"success"}
    fleets = Counter(r["fleet"] for r in rows)
    fault.result(f"302 tasks once each in {wall:.0f} s; fleets {dict(fleets)}")


@pytest.fixture(scope="module")
def burst(faults_af):
    af = faults_af
    af.wait_dag("f_chain")
    runs = [af.trigger("f_chain") for _ in range(20)]
    for run_id in runs:
        af.clean_run("f_chain", run_id, timeout=600)
    return runs


@pytest.mark.timeout(1500)
def test_burst_of_20_runs(faults_af, burst, fault):
    fault("burst of 20 runs")
    af = faults_af
    rows = []
    for run_id in burst:
        rows += af.wait_history("f_chain", run_id, lambda rs: len(rs) >= 3, timeout=120)
    assert len(rows) == 60 and {r["outcome"] for r in rows} == {"success"}
    assert Counter((r["run_id"], r["task_id"]) for r in rows).most_common(1)[0][1] == 1
    wait = median_first_start(af, "f_chain", burst)
    fleets = Counter(r["fleet"] for r in rows)
    fault.result(f"60 tasks once each; median trigger → first task {wait:.1f} s; fleets {dict(fleets)}")


def test_burst_uses_idle_capacity(faults_af, burst, fault):
    """Each run is planned alone (spot, now); the executor moves a task whose wait on the full spot fleet
    would cost more (default delay cost $1/h) than on-demand's extra price: 2 of the 6 slots are on-demand."""
    fault("burst of 20 runs: idle on-demand capacity used")
    rows = [r for run_id in burst for r in faults_af.history("f_chain", run_id)]
    fleets = Counter(r["fleet"] for r in rows)
    assert fleets["local-on-demand"] >= 10, dict(fleets)
    fault.result(f"fleets {dict(fleets)}")
