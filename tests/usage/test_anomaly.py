"""Robust outlier flags (median/MAD on log scale)."""

from __future__ import annotations

import pytest

from airflow_ai_scheduler.usage.anomaly import check, find_outliers, robust_z

STEADY = [60.0, 62.0, 58.0, 61.0, 59.0, 63.0, 60.5]


@pytest.mark.parametrize(("value", "flag"), [
    pytest.param(61.0, None, id="typical"),
    pytest.param(200.0, "runtime_high", id="3x-slower"),
    pytest.param(15.0, "runtime_low", id="4x-faster"),
    pytest.param(90.0, None, id="1.5x-under-the-floor"),
])
def test_runtime_verdicts(value, flag):
    o = check("runtime", value, STEADY)
    assert (o.flag if o else None) == flag


def test_too_little_history_gives_no_verdict():
    assert check("runtime", 1000.0, STEADY[:4]) is None
    assert robust_z(10.0, []) is None


def test_earlier_outliers_do_not_mask_a_new_one():
    """Mean/σ would be inflated by the two earlier stuck tries (σ ≈ 290 s: 600 s is z ≈ 1.2); median/MAD not."""
    history = [*STEADY, 900.0, 1000.0]
    o = check("runtime", 600.0, history)
    assert o is not None and o.z > 3.5
    import statistics

    mu, sd = statistics.mean(history), statistics.stdev(history)
    assert (600.0 - mu) / sd < 3.5  # the classic z-score misses it


def test_small_absolute_differences_are_not_flagged():
    assert check("runtime", 4.0, [1.0] * 10) is None  # 4x, but 3 s
    assert check("memory", 150.0, [50.0] * 10) is not None  # 3x and 100 MiB


def test_rows_runtime_only_for_successes_memory_for_failures_too():
    earlier = [{"outcome": "success", "runtime_seconds": r, "peak_memory_mib": 500.0} for r in STEADY]
    earlier.append({"outcome": "failed", "runtime_seconds": 1.0, "peak_memory_mib": 50.0})
    slow_fail = {"outcome": "failed", "runtime_seconds": 500.0, "peak_memory_mib": 4000.0}
    assert [o.flag for o in find_outliers(slow_fail, earlier)] == ["memory_high"]
    slow_ok = {"outcome": "success", "runtime_seconds": 500.0, "peak_memory_mib": 510.0}
    found = find_outliers(slow_ok, earlier)
    assert [o.flag for o in found] == ["runtime_high"]
    assert "vs median 60.5 s of 7 earlier tries" in found[0].describe()
    assert find_outliers({"outcome": "preempted", "runtime_seconds": 900.0}, earlier) == []
