"""Scheduler side of usage measurement: read a try's measured usage, flag anomalies, fill its history row.

Runs on the planner thread when the try's history row is built (:func:`~.recording.record_try`). The task
runner's listener (:mod:`.usage_listener`) left the numbers in an XCom of the try; this reads it from
the metadata database, checks it belongs to this try, and compares runtime and peak memory with the task's
earlier successful tries (:mod:`airflow_ai_scheduler.usage.anomaly`). An outlier is written to the row
(``anomaly``, ``anomaly_detail``) and logged as a warning in the scheduler's log.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from airflow_ai_scheduler.usage.measure import USAGE_XCOM_KEY, TaskUsage

log = logging.getLogger(__name__)

#: outcomes whose try ran to its end in the task runner (a preempted try was killed: nothing measured)
MEASURED_OUTCOMES = ("success", "failed")
ANOMALY_LOOKBACK = 30


def read_usage(key: Any, session_scope: Any) -> TaskUsage | None:
    """The usage the try's task runner reported, or None (not measured, or a stale value of another try)."""
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    with session_scope() as session:
        value = session.execute(select(XComModel.value).where(
            XComModel.dag_id == key.dag_id, XComModel.task_id == key.task_id, XComModel.run_id == key.run_id,
            XComModel.map_index == key.map_index, XComModel.key == USAGE_XCOM_KEY)).scalar_one_or_none()
    if value is None:
        return None
    if isinstance(value, (str, bytes)):
        value = json.loads(value)
    usage = TaskUsage.model_validate(value)
    if usage.try_number is not None and usage.try_number != key.try_number:
        return None
    return usage


def usage_columns(usage: TaskUsage | None) -> dict[str, Any]:
    if usage is None:
        return {}
    return {"cpu_seconds": usage.cpu_seconds, "usage_seconds": usage.wall_seconds, "peak_memory_mib": usage.peak_memory_mib,
            "gpu_memory_mib": usage.gpu_memory_mib, "io_read_bytes": usage.io_read_bytes,
            "io_write_bytes": usage.io_write_bytes, "usage_source": usage.source}


def anomaly_columns(store: Any, row: dict[str, Any]) -> dict[str, Any]:
    """``anomaly``/``anomaly_detail`` of a row about to be written, judged against its task's history."""
    from airflow_ai_scheduler.history.usage_queries import task_tries
    from airflow_ai_scheduler.usage.anomaly import find_outliers

    earlier = task_tries(store, row["dag_id"], [row["task_id"]], lookback=ANOMALY_LOOKBACK).get(row["task_id"], [])
    found = find_outliers(row, earlier)
    if not found:
        return {}
    detail = "; ".join(o.describe() for o in found)
    log.warning("ai-scheduler anomaly: %s/%s/%s map %s try %s: %s", row["dag_id"], row["task_id"], row["run_id"],
                row["map_index"], row["try_number"], detail)
    return {"anomaly": ",".join(o.flag for o in found), "anomaly_detail": detail}


def usage_fields(store: Any, key: Any, row: dict[str, Any], session_scope: Any) -> dict[str, Any]:
    """The usage and anomaly columns of a try's row; {} when there is nothing to add. Never raises."""
    if row.get("outcome") not in MEASURED_OUTCOMES:
        return {}
    out: dict[str, Any] = {}
    try:
        out.update(usage_columns(read_usage(key, session_scope)))
    except Exception as exc:  # a measurement is an aid: the row is written without it
        log.warning("could not read the measured usage of %s: %s", key, exc)
    try:
        out.update(anomaly_columns(store, {**row, **out}))
    except Exception as exc:
        log.warning("could not check %s for anomalies: %s", key, exc)
    return out
