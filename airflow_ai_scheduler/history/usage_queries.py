"""Reads of the usage and anomaly columns of the task history (a store's session, no Airflow import)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from airflow_ai_scheduler.history.tables import task_history

_USAGE_COLS = (task_history.c.id, task_history.c.task_id, task_history.c.run_id, task_history.c.map_index,
               task_history.c.try_number, task_history.c.outcome, task_history.c.runtime_seconds,
               task_history.c.cpu_seconds, task_history.c.usage_seconds, task_history.c.peak_memory_mib, task_history.c.gpu_memory_mib,
               task_history.c.io_read_bytes, task_history.c.io_write_bytes, task_history.c.provider,
               task_history.c.region, task_history.c.instance_type, task_history.c.tier, task_history.c.fleet,
               task_history.c.actual_start, task_history.c.recorded_at, task_history.c.anomaly)


def session_scope_of(store: Any) -> Any:
    """The session factory of a HistoryStore or of a writer wrapping one."""
    return getattr(store, "store", store).session_scope


def task_tries(store: Any, dag_id: str, task_ids: Sequence[str] | None = None, *, lookback: int = 50,
               outcomes: Sequence[str] = ("success",), before_id: int | None = None) -> dict[str, list[dict[str, Any]]]:
    """Per task, its last ``lookback`` tries with the given outcomes (newest first): runtime, usage, where."""
    q = select(*_USAGE_COLS).where(task_history.c.dag_id == dag_id, task_history.c.outcome.in_(list(outcomes)))
    if task_ids is not None:
        q = q.where(task_history.c.task_id.in_(list(task_ids)))
    if before_id is not None:
        q = q.where(task_history.c.id < before_id)
    out: dict[str, list[dict[str, Any]]] = {}
    with session_scope_of(store)() as s:
        for r in s.execute(q.order_by(task_history.c.id.desc())).mappings():
            rows = out.setdefault(r["task_id"], [])
            if len(rows) < lookback:
                rows.append(dict(r))
    return out


def anomalies(store: Any, dag_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The most recent flagged tries (newest first), of one DAG or of all."""
    q = select(task_history).where(task_history.c.anomaly.is_not(None))
    if dag_id:
        q = q.where(task_history.c.dag_id == dag_id)
    with session_scope_of(store)() as s:
        return [dict(r) for r in s.execute(q.order_by(task_history.c.id.desc()).limit(limit)).mappings()]


def measured_dag_ids(store: Any) -> list[str]:
    """DAGs with at least one measured try."""
    q = select(task_history.c.dag_id).where(task_history.c.peak_memory_mib.is_not(None)).distinct()
    with session_scope_of(store)() as s:
        return sorted(s.execute(q).scalars())
