"""Hourly demand → forecast with prediction intervals, through statsforecast (Nixtla).

Why statsforecast: it fits the classical models whose intervals are well understood (ETS, ARIMA, MSTL,
seasonal naive) on many short series at once, in compiled code (coreforecast), with a pandas long-frame
API and intervals at any level from one call; it needs no GPU, no network and no model weights. Prophet
and sktime were the alternatives: Prophet fits one series at a time through Stan and is slow on hourly
data; sktime wraps statsforecast for these same models.

Methods (``method=``):

``schedule``        the scheduled runs × learned run profiles (:mod:`.schedule`), interval from the
                    profiles' per-run spread — the fallback when history is short, and the one method that
                    knows about a DAG that never ran
``mean``            the recent hourly mean ± its spread: with little history and no scheduled DAG
``seasonal_naive``  the same hour one week earlier (the naive seasonal baseline of the benchmark)
``ets``             AutoETS with a daily season
``mstl``            MSTL with daily and weekly seasons, AutoETS on the trend
``schedule_ets``    the scheduled demand plus AutoETS (daily season) on what the schedule missed (manual
                    runs, growth, retries): the schedule's coefficient fixed at 1, the residual modelled
``auto``            ``schedule_ets`` given ``min_history_hours`` of history and a schedule, ``mstl`` with
                    two weeks and no schedule, else ``schedule`` (chosen on the benchmark's tuning seed,
                    bench/README.md)

Every forecast is clipped at zero (demand is never negative) and says which method made it and why.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from airflow_ai_scheduler.exceptions import ForecastError
from airflow_ai_scheduler.forecast import METRICS

log = logging.getLogger(__name__)

METHODS = ("auto", "mean", "schedule", "seasonal_naive", "ets", "mstl", "schedule_ets")
DAY, WEEK = 24, 168
#: below this much history (hours) ``auto`` falls back to the schedule
MIN_HISTORY_HOURS = 3 * DAY
#: ``auto`` uses the weekly season (mstl) only with at least two weeks
MIN_WEEKLY_HOURS = 2 * WEEK
MAX_HORIZON_HOURS = 24 * 14


@dataclass
class DemandForecast:
    """``frame``: unique_id, ds, mean, lo-<L>, hi-<L> per level; ``method``: what made it; ``notes``: why."""

    frame: pd.DataFrame
    method: str
    metric: str
    levels: tuple[int, ...]
    history_hours: int
    notes: list[str] = field(default_factory=list)

    @property
    def fallback(self) -> bool:
        return self.method == "schedule"


def _z(level: int) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + level / 200.0)


def _check(metric: str, horizon: int, levels: Sequence[int], method: str) -> None:
    if metric not in METRICS:
        raise ForecastError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}", field="metric")
    if not 1 <= horizon <= MAX_HORIZON_HOURS:
        raise ForecastError(f"must be 1..{MAX_HORIZON_HOURS} hours, got {horizon}", field="horizon")
    if not levels or any(not 0 < lv < 100 for lv in levels):
        raise ForecastError(f"levels must be percentages in (0, 100), got {list(levels)}", field="levels")
    if method not in METHODS:
        raise ForecastError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}", field="method")


def choose_method(history_hours: int, has_schedule: bool, min_history_hours: int = MIN_HISTORY_HOURS) -> str:
    if history_hours < min_history_hours:
        return "schedule" if has_schedule else "mean"
    if has_schedule:
        return "schedule_ets"
    return "mstl" if history_hours >= MIN_WEEKLY_HOURS else "ets"


def forecast_demand(history: pd.DataFrame, horizon: int, *, scheduled: pd.DataFrame | None = None,
                    metric: str = "task_hours", levels: Sequence[int] = (80, 95), method: str = "auto",
                    min_history_hours: int = MIN_HISTORY_HOURS) -> DemandForecast:
    """Forecast ``metric`` ``horizon`` hours past the end of ``history`` (frames of :mod:`.demand`).

    ``scheduled`` (from :func:`~.schedule.scheduled_demand`) must cover the history's hours and the horizon
    for ``schedule_ets`` and ``schedule``; groups present only there (a DAG that never ran) are forecast from
    the schedule alone.
    """
    levels = tuple(sorted({int(lv) for lv in levels}))
    _check(metric, horizon, levels, method)
    hist = history[["unique_id", "ds", metric]].rename(columns={metric: "y"})
    n_hours = int(hist.groupby("unique_id")["ds"].count().max()) if not hist.empty else 0
    has_schedule = scheduled is not None and not scheduled.empty
    notes: list[str] = []
    chosen = method
    if method == "auto":
        chosen = choose_method(n_hours, has_schedule, min_history_hours)
        if chosen == "schedule":
            notes.append(f"only {n_hours} h of history (< {min_history_hours} h): forecast = scheduled runs × "
                         "learned runtimes, not a statistical model")
        elif chosen == "mean":
            notes.append(f"only {n_hours} h of history and no scheduled DAG: forecast = the recent hourly mean "
                         "and spread, a rough guide")
    if chosen in ("schedule", "schedule_ets") and not has_schedule:
        raise ForecastError(f"method {chosen!r} needs the scheduled runs' demand", field="scheduled")
    if chosen not in ("schedule", "mean") and n_hours < 2 * DAY:
        raise ForecastError(f"method {chosen!r} needs at least {2 * DAY} h of history, got {n_hours} h",
                            field="method")
    end = hist["ds"].max() if not hist.empty else None
    if chosen == "mean":
        frame = _recent_mean(hist, horizon, levels)
    elif chosen == "schedule":
        frame = _from_schedule(scheduled, metric, levels, horizon, end)  # type: ignore[arg-type]
    else:
        frame = _statistical(hist, horizon, chosen, levels, scheduled, metric)
        if has_schedule:
            extra = _unseen_groups(scheduled, hist, metric, levels, horizon, end)  # type: ignore[arg-type]
            if not extra.empty:
                notes.append("from the schedule only (no history): " + ", ".join(sorted(extra["unique_id"].unique())))
                frame = pd.concat([frame, extra], ignore_index=True)
    for col in frame.columns:
        if col not in ("unique_id", "ds"):
            frame[col] = frame[col].clip(lower=0.0)
    return DemandForecast(frame=frame.sort_values(["unique_id", "ds"]).reset_index(drop=True), method=chosen,
                          metric=metric, levels=levels, history_hours=n_hours, notes=notes)


def _future(scheduled: pd.DataFrame, horizon: int, end: pd.Timestamp | None) -> pd.DataFrame:
    if end is None:
        first = scheduled["ds"].min()
    else:
        first = end + pd.Timedelta(hours=1)
    last = first + pd.Timedelta(hours=horizon - 1)
    return scheduled[(scheduled["ds"] >= first) & (scheduled["ds"] <= last)]


def _from_schedule(scheduled: pd.DataFrame, metric: str, levels: tuple[int, ...], horizon: int,
                   end: pd.Timestamp | None) -> pd.DataFrame:
    fut = _future(scheduled, horizon, end)
    out = fut[["unique_id", "ds"]].copy()
    out["mean"] = fut[metric].to_numpy()
    sd = fut[f"{metric}_var"].clip(lower=0.0).pow(0.5).to_numpy()
    for lv in levels:
        out[f"lo-{lv}"] = out["mean"] - _z(lv) * sd
        out[f"hi-{lv}"] = out["mean"] + _z(lv) * sd
    return out.reset_index(drop=True)


def _recent_mean(hist: pd.DataFrame, horizon: int, levels: tuple[int, ...]) -> pd.DataFrame:
    rows = []
    for uid, g in hist.groupby("unique_id"):
        mean, sd = float(g["y"].mean()), float(g["y"].std(ddof=0)) if len(g) > 1 else 0.0
        for i in range(horizon):
            r = {"unique_id": uid, "ds": g["ds"].max() + pd.Timedelta(hours=i + 1), "mean": mean}
            for lv in levels:
                r[f"lo-{lv}"], r[f"hi-{lv}"] = mean - _z(lv) * sd, mean + _z(lv) * sd
            rows.append(r)
    cols = ["unique_id", "ds", "mean", *[f"{s}-{lv}" for lv in levels for s in ("lo", "hi")]]
    return pd.DataFrame(rows, columns=cols)


def _unseen_groups(scheduled: pd.DataFrame, hist: pd.DataFrame, metric: str, levels: tuple[int, ...],
                   horizon: int, end: pd.Timestamp | None) -> pd.DataFrame:
    unseen = scheduled[~scheduled["unique_id"].isin(set(hist["unique_id"]))]
    return _from_schedule(unseen, metric, levels, horizon, end) if not unseen.empty else unseen.iloc[0:0]


def _models(method: str) -> list:
    from statsforecast.models import MSTL, AutoETS, SeasonalNaive

    if method == "seasonal_naive":
        return [SeasonalNaive(season_length=WEEK, alias="m")]
    if method == "ets":
        return [AutoETS(season_length=DAY, alias="m")]
    if method == "mstl":
        return [MSTL(season_length=[DAY, WEEK], trend_forecaster=AutoETS(model="ZZN"), alias="m")]
    if method == "schedule_ets":
        return [AutoETS(season_length=DAY, model="ZNA", alias="m")]
    raise ForecastError(f"no statistical model for {method!r}", field="method")


def _statistical(hist: pd.DataFrame, horizon: int, method: str, levels: tuple[int, ...],
                 scheduled: pd.DataFrame | None, metric: str) -> pd.DataFrame:
    from statsforecast import StatsForecast

    if method == "schedule_ets":
        return _schedule_plus_residual(hist, horizon, levels, scheduled, metric)  # type: ignore[arg-type]
    if method == "seasonal_naive" and int(hist.groupby("unique_id")["ds"].count().min()) < WEEK:
        raise ForecastError(f"seasonal_naive needs a week ({WEEK} h) of history", field="method")
    sf = StatsForecast(models=_models(method), freq="h", n_jobs=1)
    fc = sf.forecast(df=hist, h=horizon, level=list(levels))
    fc = fc.reset_index() if "unique_id" not in fc.columns else fc
    out = fc.rename(columns={"m": "mean", **{f"m-lo-{lv}": f"lo-{lv}" for lv in levels},
                             **{f"m-hi-{lv}": f"hi-{lv}" for lv in levels}})
    bad = out["mean"].isna() | ~out["mean"].map(math.isfinite)
    if bad.any():
        raise ForecastError(f"{method} produced no forecast for {sorted(out.loc[bad, 'unique_id'].unique())}",
                            field="method")
    return out[["unique_id", "ds", "mean", *[f"{s}-{lv}" for lv in levels for s in ("lo", "hi")]]]


def _schedule_plus_residual(hist: pd.DataFrame, horizon: int, levels: tuple[int, ...], scheduled: pd.DataFrame,
                            metric: str) -> pd.DataFrame:
    """Scheduled demand + an AutoETS forecast of (actual − scheduled) over the history."""
    from statsforecast import StatsForecast

    reg = scheduled[["unique_id", "ds", metric]].rename(columns={metric: "x"})
    df = hist.merge(reg, on=["unique_id", "ds"], how="left").fillna({"x": 0.0})
    df["y"] = df["y"] - df["x"]
    sf = StatsForecast(models=_models("schedule_ets"), freq="h", n_jobs=1)
    fc = sf.forecast(df=df[["unique_id", "ds", "y"]], h=horizon, level=list(levels))
    fc = fc.reset_index() if "unique_id" not in fc.columns else fc
    fc = fc.merge(reg, on=["unique_id", "ds"], how="left").fillna({"x": 0.0})
    out = fc[["unique_id", "ds"]].copy()
    out["mean"] = fc["m"] + fc["x"]
    for lv in levels:
        out[f"lo-{lv}"] = fc[f"m-lo-{lv}"] + fc["x"]
        out[f"hi-{lv}"] = fc[f"m-hi-{lv}"] + fc["x"]
    return out
