"""Airflow glue of budgets: who a budget binds (owners, tags, teams → DAG ids), spend from history, and a
non-blocking gate the executor consults at dispatch.

The pure decision is :func:`airflow_ai_scheduler.budgets.check_budget`. Here:

- :class:`BudgetService` reads budgets and spend (one session per call; CLI, API and the gate use it);
- :class:`BudgetGate` runs the checks off the scheduler loop (``submit`` = the planner thread's
  ``PlanningService.submit``), caches each task's decision and re-checks held tasks every
  ``recheck_seconds``, so raising a budget releases them.

Wiring into the executor's dispatch path (issue 11's executor core), the contract::

    gate = BudgetGate(BudgetService(session_scope), submit=planning.submit)
    # when a workload is due, before launching it:
    decision = gate.decide(key, ctx)            # ctx: budgets.TaskContext with the planned cost
    if decision is None: hold (checking)        # first sight: the check runs in the background
    elif decision.action == "hold": hold; log the reason once in the task log/UI (decision.reason)
    elif decision.action == "fail": fail the task with decision.reason
    else: launch; gate.launched(key, ctx)       # counts as committed until gate.finished(key)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from airflow_ai_scheduler.budgets import Budget, Decision, TaskContext, check_budget, period_window

log = logging.getLogger(__name__)


class BudgetService:
    """Budgets and the spend they are checked against, over Airflow's metadata database."""

    def __init__(self, session_scope: Callable[[], Any],
                 facts: Callable[[Sequence[str] | None], dict[str, Any]] | None = None) -> None:
        from airflow_ai_scheduler.history.budget_store import BudgetStore

        self.session_scope = session_scope
        self.store = BudgetStore(session_scope)
        self._facts = facts

    def facts(self, dag_ids: Sequence[str] | None = None) -> dict[str, Any]:
        """Owners, tags, team (and hints) of DAGs: Airflow's tables, or the provider given (tests)."""
        if self._facts is not None:
            return self._facts(dag_ids)
        from airflow_ai_scheduler.airflow.forecasting import dag_facts

        with self.session_scope() as session:
            return dag_facts(session, dag_ids, with_tasks=dag_ids is not None)

    def dag_ids(self, budget: Budget) -> list[str] | None:
        """The DAGs a budget's spend is summed over (None: not limited by DAG)."""
        if budget.scope == "dag":
            return [budget.subject]
        if budget.scope == "task":
            return [budget.subject.split(".", 1)[0]]
        facts = self.facts(None)
        if budget.scope == "owner":
            return sorted(d for d, f in facts.items() if budget.subject in f.owners)
        if budget.scope == "tag":
            return sorted(d for d, f in facts.items() if budget.subject in f.tags)
        return sorted(d for d, f in facts.items() if f.team == budget.subject)

    def spent(self, budget: Budget, ctx: TaskContext | None = None, now: datetime | None = None) -> float:
        """Actual cost so far in the budget's current window (a ``run`` budget: in ``ctx``'s run)."""
        now = now or datetime.now(timezone.utc)
        task_id = budget.subject.split(".", 1)[1] if budget.scope == "task" else None
        if budget.period == "run":
            if ctx is None:
                return 0.0
            dag_ids = [ctx.dag_id] if budget.scope != "task" else self.dag_ids(budget)
            return self.store.spend(dag_ids=dag_ids, task_id=task_id, run_id=ctx.run_id)
        since, until = period_window(budget.period, now)  # type: ignore[misc]
        return self.store.spend(dag_ids=self.dag_ids(budget), task_id=task_id, since=since, until=until)

    def context(self, dag_id: str, task_id: str, run_id: str, planned_cost: float) -> TaskContext:
        """A TaskContext with the DAG's owners, tags, team and the task's hint budget."""
        f = self.facts([dag_id]).get(dag_id)
        if f is None:
            return TaskContext(dag_id=dag_id, task_id=task_id, run_id=run_id, planned_cost=planned_cost)
        return TaskContext(dag_id=dag_id, task_id=task_id, run_id=run_id, planned_cost=planned_cost,
                           owners=f.owners, tags=f.tags, team=f.team, hint_budget_usd=f.hint_budgets.get(task_id))

    def check(self, ctx: TaskContext, committed: Callable[[Budget], float] | None = None,
              now: datetime | None = None) -> Decision:
        now = now or datetime.now(timezone.utc)
        return check_budget(ctx, self.store.list(), spent=lambda b: self.spent(b, ctx, now), committed=committed,
                            now=now)

    def status(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Every budget with its spend in the current window (``run`` budgets: the latest run's)."""
        now = now or datetime.now(timezone.utc)
        out = []
        for row in self.store.details():
            b = Budget(id=row["id"], scope=row["scope"], subject=row["subject"], period=row["period"],
                       amount_usd=row["amount_usd"], policy=row["policy"], note=row["note"])
            window = period_window(b.period, now)
            try:
                spent = self.spent(b, now=now) if window else None
            except Exception as exc:  # e.g. Airflow's tables unreadable: show the budget without its spend
                log.warning("spend of %s unavailable: %s", b.label(), exc)
                spent = None
            out.append({**b.model_dump(), "updated_by": row["updated_by"], "updated_at": row["updated_at"],
                        "window_start": window[0] if window else None, "window_end": window[1] if window else None,
                        "spent_usd": spent,
                        "remaining_usd": None if spent is None else max(0.0, b.amount_usd - spent)})
        return out


class BudgetGate:
    """Per-task budget decisions for the dispatch loop, computed on a background thread."""

    def __init__(self, service: BudgetService, submit: Callable[..., Any], recheck_seconds: float = 15.0) -> None:
        self.service = service
        self.submit = submit
        self.recheck_seconds = recheck_seconds
        self._lock = threading.Lock()
        self._decisions: dict[Any, tuple[Decision, float]] = {}
        self._pending: set[Any] = set()
        self._in_flight: dict[Any, TaskContext] = {}

    def decide(self, key: Any, ctx: TaskContext) -> Decision | None:
        """The cached decision for ``key`` (None while the first check runs); stale holds are re-checked."""
        with self._lock:
            cached = self._decisions.get(key)
            stale = cached is None or (cached[0].action == "hold"
                                       and time.monotonic() - cached[1] > self.recheck_seconds)
            start = stale and key not in self._pending
            if start:
                self._pending.add(key)
        if start:  # outside the lock: the check takes it when it is done
            self.submit(self._check, key, ctx)
        return cached[0] if cached else None

    def _check(self, key: Any, ctx: TaskContext) -> None:
        try:
            decision = self.service.check(ctx, committed=self.committed_for(ctx, exclude=key))
        except Exception as exc:  # budgets unreadable: let the task run rather than hold it with no reason
            log.warning("budget check of %s failed (%s): allowing it", key, exc)
            decision = Decision("allow", reason=f"budget check failed: {exc}", planned=ctx.planned_cost)
        with self._lock:
            self._decisions[key] = (decision, time.monotonic())
            self._pending.discard(key)

    def committed_for(self, ctx: TaskContext, exclude: Any = None) -> Callable[[Budget], float]:
        """Planned cost of launched, unfinished tasks the same budget binds (same run for ``run`` budgets)."""
        from airflow_ai_scheduler.budgets.check import binds

        with self._lock:
            flying = [(k, c) for k, c in self._in_flight.items() if k != exclude]

        def committed(b: Budget) -> float:
            return sum(c.planned_cost for _k, c in flying
                       if binds(b, c) and (b.period != "run" or (c.dag_id, c.run_id) == (ctx.dag_id, ctx.run_id)))

        return committed

    def launched(self, key: Any, ctx: TaskContext) -> None:
        with self._lock:
            self._in_flight[key] = ctx
            self._decisions.pop(key, None)

    def finished(self, key: Any) -> None:
        """The task's try ended (its actual cost is in history from now on)."""
        with self._lock:
            self._in_flight.pop(key, None)
            self._decisions.pop(key, None)

    def forget(self, keys: Sequence[Any]) -> None:
        with self._lock:
            for k in keys:
                self._decisions.pop(k, None)
