"""Rolling-origin backtest of the forecast methods on a task history (synthetic or a user's own).

At each origin the methods see only the tries that had *finished* by then (what the history table holds
at that moment) and the scheduled run times up to the end of the horizon (the timetables know them);
they forecast the next ``horizon`` hours, which are then compared with the demand that happened.

Scores, pooled over series, hours and origins:

- **MAPE** over hours whose actual demand is at least ``mape_floor`` task-hours (MAPE is undefined at
  zero and explodes near it; quiet hours are scored by WAPE instead);
- **WAPE** = Σ|actual − forecast| / Σ actual over every hour;
- **coverage** of each interval level (the share of actuals inside it; an 80 % interval should hold ~80 %)
  and its mean width.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from airflow_ai_scheduler.forecast.demand import hourly_demand
from airflow_ai_scheduler.forecast.model import forecast_demand
from airflow_ai_scheduler.forecast.schedule import learn_profiles, scheduled_demand


def score(actual: pd.DataFrame, fc: pd.DataFrame, metric: str, levels: Sequence[int],
          mape_floor: float = 0.1) -> dict[str, float]:
    both = fc.merge(actual[["unique_id", "ds", metric]], on=["unique_id", "ds"], how="left").fillna({metric: 0.0})
    y, yhat = both[metric], both["mean"]
    err = (y - yhat).abs()
    big = y >= mape_floor
    out = {"hours": float(len(both)), "abs_err": float(err.sum()), "actual": float(y.sum()),
           "ape_sum": float((err[big] / y[big]).sum()), "ape_n": float(big.sum())}
    for lv in levels:
        inside = (y >= both[f"lo-{lv}"] - 1e-9) & (y <= both[f"hi-{lv}"] + 1e-9)
        out[f"in_{lv}"] = float(inside.sum())
        out[f"width_{lv}"] = float((both[f"hi-{lv}"] - both[f"lo-{lv}"]).sum())
    return out


def summarise(parts: list[dict[str, float]], levels: Sequence[int]) -> dict[str, float]:
    tot = {k: sum(p[k] for p in parts) for k in parts[0]} if parts else {}
    if not tot:
        return {}
    out = {"MAPE %": 100 * tot["ape_sum"] / max(tot["ape_n"], 1), "WAPE %": 100 * tot["abs_err"] / max(tot["actual"], 1e-9)}
    for lv in levels:
        out[f"cover {lv} %"] = 100 * tot[f"in_{lv}"] / tot["hours"]
        out[f"width {lv}"] = tot[f"width_{lv}"] / tot["hours"]
    return out


def backtest(rows: Sequence[Mapping[str, Any]], run_times: Mapping[str, Sequence[datetime]],
             origins: Iterable[datetime], *, horizon: int = 24, methods: Sequence[str] = ("seasonal_naive", "auto"),
             by: str = "fleet", metric: str = "task_hours", levels: Sequence[int] = (80, 95),
             history_hours: int | None = None, owners: Mapping[str, str] | None = None,
             resources: Callable[[str, str], tuple[float, int]] | None = None,
             mape_floor: float = 0.1) -> pd.DataFrame:
    """One row per method: MAPE, WAPE, coverage and width per level, seconds spent, methods ``auto`` chose.

    ``history_hours`` limits what each origin sees (e.g. 48 for "a new deployment"); default: everything.
    """
    origins = list(origins)
    first = min(r["actual_start"] for r in rows)
    actual_all = hourly_demand(rows, by=by, owners=owners, resources=resources)
    parts: dict[str, list[dict[str, float]]] = {m: [] for m in methods}
    secs: dict[str, float] = {m: 0.0 for m in methods}
    chosen: dict[str, set[str]] = {m: set() for m in methods}
    for origin in origins:
        start = max(first, origin - timedelta(hours=history_hours)) if history_hours else first
        # what the history table holds at the origin (a "new deployment" sees only its last history_hours)
        seen = [r for r in rows if r["actual_end"] <= origin and r["actual_start"] >= start]
        hist = hourly_demand(seen, by=by, owners=owners, resources=resources, start=start, end=origin)
        profiles = learn_profiles(seen, resources=resources)
        until = origin + timedelta(hours=horizon)
        sched = scheduled_demand({d: [t for t in ts if start <= t < until] for d, ts in run_times.items()},
                                 profiles, by=by, owners=owners, start=start, end=until)
        actual = actual_all[(actual_all["ds"] >= pd.Timestamp(origin.replace(tzinfo=None)))
                            & (actual_all["ds"] < pd.Timestamp(until.replace(tzinfo=None)))]
        for m in methods:
            t0 = time.perf_counter()
            try:
                fc = forecast_demand(hist, horizon, scheduled=sched, metric=metric, levels=levels, method=m)
            except Exception as exc:  # a method that cannot run at this origin is reported, not fatal
                chosen[m].add(f"error: {type(exc).__name__}")
                continue
            secs[m] += time.perf_counter() - t0
            chosen[m].add(fc.method)
            parts[m].append(score(actual, fc.frame, metric, levels, mape_floor))
    out = []
    for m in methods:
        s = summarise(parts[m], levels)
        out.append({"method": m, **s, "origins": len(parts[m]), "seconds": secs[m],
                    "chose": ",".join(sorted(chosen[m]))})
    return pd.DataFrame(out)
