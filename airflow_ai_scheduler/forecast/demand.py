"""History rows → hourly demand: task-hours, vCPU-hours and GPU-hours per fleet, DAG, owner or in total.

A try that ran from 10:40 to 12:10 adds 20 minutes to the 10:00 hour, 60 to 11:00 and 10 to 12:00: demand
is the capacity in use, hour by hour, which is what a fleet has to be sized for. Every try that held
capacity counts (success, failed, preempted); rows without a start or an end (``upstream_failed``) do not.

The frame has statsforecast's long format: ``unique_id`` (the group, e.g. the fleet name), ``ds`` (the
hour, naive UTC), then one column per metric. Hours with no demand are present with zeros, so the series
are regular — a forecaster must see the quiet night as much as the busy morning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd

from airflow_ai_scheduler.exceptions import ForecastError
from airflow_ai_scheduler.forecast import GROUPINGS, METRICS

#: outcomes of tries that held capacity while they ran
COUNTED_OUTCOMES = frozenset({"success", "failed", "preempted"})
HOUR = timedelta(hours=1)

#: (dag_id, task_id) → (vCPUs, GPUs) a try of the task holds; default one vCPU, no GPU
ResourceLookup = Callable[[str, str], tuple[float, int]]


def floor_hour(t: datetime) -> datetime:
    """The UTC hour ``t`` falls in (aware in, aware out)."""
    t = t.astimezone(timezone.utc)
    return t.replace(minute=0, second=0, microsecond=0)


def group_of(by: str, *, dag_id: str, fleet: str | None, owners: Mapping[str, str] | None) -> str:
    if by == "fleet":
        return fleet or "unknown"
    if by == "dag":
        return dag_id
    if by == "owner":
        return (owners or {}).get(dag_id, "unknown")
    if by == "total":
        return "total"
    raise ForecastError(f"unknown grouping {by!r}; expected one of {', '.join(GROUPINGS)}", field="by")


def split_hours(start: datetime, end: datetime) -> list[tuple[datetime, float]]:
    """(hour, hours of [start, end) inside it) for every hour the interval touches."""
    out = []
    h = floor_hour(start)
    while h < end:
        nxt = h + HOUR
        share = (min(end, nxt) - max(start, h)).total_seconds() / 3600.0
        if share > 0:
            out.append((h, share))
        h = nxt
    return out


def _naive(t: datetime) -> datetime:
    return t.astimezone(timezone.utc).replace(tzinfo=None)


def hourly_demand(rows: Iterable[Mapping[str, Any]], *, by: str = "fleet", owners: Mapping[str, str] | None = None,
                  resources: ResourceLookup | None = None, start: datetime | None = None,
                  end: datetime | None = None) -> pd.DataFrame:
    """Hourly demand of the history rows, grouped ``by`` fleet, dag, owner or total.

    ``start``/``end`` (aware) bound the frame: hours before ``start`` are dropped and every group gets a
    zero row for each hour up to ``end`` (exclusive), so series end together at "now". Without them the
    frame spans the rows' own first and last hours.
    """
    buckets: dict[tuple[str, datetime], list[float]] = {}
    for r in rows:
        s, e = r.get("actual_start"), r.get("actual_end")
        if r.get("outcome") not in COUNTED_OUTCOMES or s is None or e is None or e <= s:
            continue
        vcpus, gpus = resources(r["dag_id"], r["task_id"]) if resources else (1.0, 0)
        key = group_of(by, dag_id=r["dag_id"], fleet=r.get("fleet"), owners=owners)
        for hour, share in split_hours(s, e):
            acc = buckets.setdefault((key, hour), [0.0, 0.0, 0.0])
            acc[0] += share
            acc[1] += share * vcpus
            acc[2] += share * gpus
    lo = floor_hour(start) if start else None
    hi = floor_hour(end - timedelta(microseconds=1)) + HOUR if end else None
    records = [(k, _naive(h), *v) for (k, h), v in buckets.items()
               if (lo is None or h >= lo) and (hi is None or h < hi)]
    frame = pd.DataFrame.from_records(records, columns=["unique_id", "ds", *METRICS])
    return complete_hours(frame, lo, hi)


def complete_hours(frame: pd.DataFrame, start: datetime | None = None, end: datetime | None = None) -> pd.DataFrame:
    """Every group gets one row per hour over [start, end) (default: the frame's own span), zeros filled."""
    if frame.empty and (start is None or end is None):
        return frame.astype({"ds": "datetime64[ns]"}) if "ds" in frame else frame
    # whole hours: a start of 10:17 means the 10:00 hour, an end of 14:05 the hours up to 14:00
    first = pd.Timestamp(_naive(floor_hour(start))) if start else frame["ds"].min()
    last = (pd.Timestamp(_naive(end)).ceil("h") - pd.Timedelta(hours=1)) if end else frame["ds"].max()
    hours = pd.date_range(first, last, freq="h")
    ids = sorted(frame["unique_id"].unique()) if not frame.empty else []
    full = pd.MultiIndex.from_product([ids, hours], names=["unique_id", "ds"])
    metrics = [c for c in frame.columns if c not in ("unique_id", "ds")]
    out = (frame.groupby(["unique_id", "ds"])[metrics].sum().reindex(full, fill_value=0.0).reset_index())
    return out


def hours_of_history(frame: pd.DataFrame) -> int:
    """How many hours the longest series covers."""
    if frame.empty:
        return 0
    return int(frame.groupby("unique_id")["ds"].count().max())
