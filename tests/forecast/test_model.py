"""forecast_demand: the fallback with little history, the statistical methods, the errors."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from airflow_ai_scheduler.exceptions import ForecastError
from airflow_ai_scheduler.forecast.model import choose_method, forecast_demand

T0 = datetime(2026, 11, 2, tzinfo=timezone.utc)


def frames(days: int, horizon: int = 24, seed: int = 0, extra: float = 0.0):
    """A daily pattern (2 task-hours at 09:00-12:00, else 0) with noise; the schedule knows the pattern."""
    rng = np.random.default_rng(seed)
    hours = pd.date_range(T0.replace(tzinfo=None), periods=days * 24 + horizon, freq="h")
    pattern = np.where((hours.hour >= 9) & (hours.hour < 12), 2.0, 0.0)
    actual = np.clip(pattern * rng.lognormal(0, 0.2, len(hours)) + extra, 0, None)
    hist = pd.DataFrame({"unique_id": "spot", "ds": hours, "task_hours": actual, "vcpu_hours": actual * 4,
                         "gpu_hours": 0.0})
    sched = pd.DataFrame({"unique_id": "spot", "ds": hours, "task_hours": pattern, "vcpu_hours": pattern * 4,
                          "gpu_hours": 0.0, "task_hours_var": pattern * 0.04, "vcpu_hours_var": pattern * 0.64,
                          "gpu_hours_var": 0.0})
    n = days * 24
    return hist.iloc[:n], sched, hist.iloc[n:]


def test_little_history_falls_back_to_the_schedule_and_says_so():
    hist, sched, _ = frames(days=1)
    fc = forecast_demand(hist, 24, scheduled=sched)
    assert fc.method == "schedule" and fc.fallback
    assert "only 24 h of history" in fc.notes[0] and "scheduled runs × learned runtimes" in fc.notes[0]
    f = fc.frame.set_index("ds")
    assert f["mean"].max() == pytest.approx(2.0) and f["mean"].min() == 0.0
    busy = f[f["mean"] > 0]
    assert (busy["lo-80"] < busy["mean"]).all() and (busy["hi-95"] > busy["hi-80"]).all()
    assert (f["lo-95"] >= 0).all()  # clipped: demand is never negative


def test_with_history_the_schedule_plus_residual_model_is_used_and_covers_actuals():
    hist, sched, future = frames(days=10)
    fc = forecast_demand(hist, 24, scheduled=sched)
    assert fc.method == "schedule_ets" and not fc.notes and fc.history_hours == 240
    both = fc.frame.merge(future, on=["unique_id", "ds"])
    assert len(both) == 24
    inside = ((both["task_hours"] >= both["lo-95"]) & (both["task_hours"] <= both["hi-95"])).mean()
    assert inside >= 0.8
    assert both.loc[both.ds.dt.hour == 10, "mean"].iloc[0] == pytest.approx(2.0, abs=0.5)


def test_ets_without_a_schedule():
    hist, _, _ = frames(days=4)
    fc = forecast_demand(hist, 12, metric="vcpu_hours", levels=(90,))
    assert fc.method == "ets" and list(fc.frame.columns) == ["unique_id", "ds", "mean", "lo-90", "hi-90"]
    assert len(fc.frame) == 12 and all(math.isfinite(x) for x in fc.frame["mean"])


def test_groups_only_in_the_schedule_are_forecast_from_it():
    hist, sched, _ = frames(days=4)
    new = sched.assign(unique_id="new-fleet")
    fc = forecast_demand(hist, 24, scheduled=pd.concat([sched, new]))
    assert set(fc.frame.unique_id) == {"spot", "new-fleet"}
    assert any("new-fleet" in n for n in fc.notes)


@pytest.mark.parametrize("kwargs, field", [
    pytest.param(dict(horizon=0), "horizon", id="horizon"),
    pytest.param(dict(horizon=24, metric="gpus"), "metric", id="metric"),
    pytest.param(dict(horizon=24, levels=(100,)), "levels", id="levels"),
    pytest.param(dict(horizon=24, method="prophet"), "method", id="method"),
    pytest.param(dict(horizon=24, method="schedule"), "scheduled", id="no-schedule"),
])
def test_bad_arguments_name_the_field(kwargs, field):
    hist, _, _ = frames(days=1)
    with pytest.raises(ForecastError) as e:
        forecast_demand(hist, **kwargs)
    assert e.value.field == field


def test_choose_method():
    assert choose_method(10, True) == "schedule"
    assert choose_method(100, True) == "schedule_ets"
    assert choose_method(100, False) == "ets"
    assert choose_method(400, False) == "mstl"
