"""Budgets and spend: every read and write of ``ai_scheduler_budget`` and the spend queries budgets need.

Spend is the ``actual_cost`` of recorded tries (the price they were launched at × their runtime), counted
in the window where the try *started*. Scopes wider than a DAG (owner, tag, team) are resolved to DAG ids
by the caller (Airflow glue), so these queries stay plain SQL over our own tables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import OperationalError
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from airflow_ai_scheduler.budgets.model import Budget
from airflow_ai_scheduler.history.tables import budget, task_history


def _locked(exc: BaseException) -> bool:
    """SQLite's "database is locked": another component holds the write lock past the driver's timeout."""
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)


#: an operator's budget change is retried while SQLite (Airflow's development database) is locked by the
#: scheduler or the dag-processor, 4 tries over ~3 s; other errors are raised at once
_retry_locked = retry(retry=retry_if_exception(_locked), stop=stop_after_attempt(4),
                      wait=wait_exponential(multiplier=0.5, max=2), reraise=True)


class BudgetStore:
    def __init__(self, session_scope: Callable[[], Any]) -> None:
        self.session_scope = session_scope

    @_retry_locked
    def set(self, b: Budget, updated_by: str | None = None) -> Budget:
        """Create or replace the budget of (scope, subject, period); returns it with its id."""
        values = dict(amount_usd=b.amount_usd, policy=b.policy, note=b.note, updated_by=updated_by,
                      updated_at=datetime.now(timezone.utc))
        where = (budget.c.scope == b.scope, budget.c.subject == b.subject, budget.c.period == b.period)
        with self.session_scope() as s:
            existing = s.execute(select(budget.c.id).where(*where)).scalar_one_or_none()
            if existing is None:
                new_id = s.execute(insert(budget).values(scope=b.scope, subject=b.subject, period=b.period,
                                                         **values)).inserted_primary_key[0]
            else:
                s.execute(update(budget).where(budget.c.id == existing).values(**values))
                new_id = existing
        return b.model_copy(update={"id": int(new_id)})

    @_retry_locked
    def delete(self, scope: str, subject: str, period: str) -> bool:
        with self.session_scope() as s:
            done = s.execute(delete(budget).where(budget.c.scope == scope, budget.c.subject == subject,
                                                  budget.c.period == period))
            return bool(done.rowcount)

    def list(self, scope: str | None = None, subject: str | None = None) -> list[Budget]:
        q = select(budget)
        if scope:
            q = q.where(budget.c.scope == scope)
        if subject:
            q = q.where(budget.c.subject == subject)
        with self.session_scope() as s:
            rows = s.execute(q.order_by(budget.c.scope, budget.c.subject, budget.c.period)).mappings().all()
        return [Budget(id=r["id"], scope=r["scope"], subject=r["subject"], period=r["period"],
                       amount_usd=r["amount_usd"], policy=r["policy"], note=r["note"]) for r in rows]

    def details(self) -> list[dict[str, Any]]:
        """Every budget with who changed it last and when (the API's and CLI's listing)."""
        with self.session_scope() as s:
            return [dict(r) for r in s.execute(select(budget).order_by(budget.c.scope, budget.c.subject,
                                                                       budget.c.period)).mappings()]

    def spend(self, *, dag_ids: Sequence[str] | None = None, task_id: str | None = None,
              run_id: str | None = None, since: datetime | None = None, until: datetime | None = None) -> float:
        """Actual cost of the tries matching every given filter (``dag_ids=None``: every DAG; ``[]``: none)."""
        if dag_ids is not None and not dag_ids:
            return 0.0
        q = select(func.coalesce(func.sum(task_history.c.actual_cost), 0.0))
        if dag_ids is not None:
            q = q.where(task_history.c.dag_id.in_(list(dag_ids)))
        if task_id is not None:
            q = q.where(task_history.c.task_id == task_id)
        if run_id is not None:
            q = q.where(task_history.c.run_id == run_id)
        if since is not None:
            q = q.where(task_history.c.actual_start >= since)
        if until is not None:
            q = q.where(task_history.c.actual_start < until)
        with self.session_scope() as s:
            return float(s.execute(q).scalar_one() or 0.0)

    def spend_by_dag(self, since: datetime, until: datetime) -> dict[str, float]:
        """Actual cost per DAG of the tries started in [since, until) (one query for a listing)."""
        q = (select(task_history.c.dag_id, func.coalesce(func.sum(task_history.c.actual_cost), 0.0))
             .where(task_history.c.actual_start >= since, task_history.c.actual_start < until)
             .group_by(task_history.c.dag_id))
        with self.session_scope() as s:
            return {r[0]: float(r[1] or 0.0) for r in s.execute(q)}

    def recorded(self, keys: Sequence[Any]) -> list[Any]:
        """The task instance keys (dag_id, task_id, run_id, try_number, map_index) whose try has a history row."""
        if not keys:
            return []
        q = select(task_history.c.dag_id, task_history.c.task_id, task_history.c.run_id, task_history.c.map_index,
                   task_history.c.try_number).where(task_history.c.run_id.in_(sorted({k.run_id for k in keys})),
                                                    task_history.c.dag_id.in_(sorted({k.dag_id for k in keys})))
        with self.session_scope() as s:
            have = {tuple(r) for r in s.execute(q)}
        return [k for k in keys if (k.dag_id, k.task_id, k.run_id, k.map_index, k.try_number) in have]
