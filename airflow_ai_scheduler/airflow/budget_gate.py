"""The budget gate at dispatch: a due task whose budgets are spent waits (``hold``) or fails, with the reason.

For each task the executor is about to launch, :func:`airflow_ai_scheduler.budgets.check_budget` decides from
memory (the scheduler loop): the budgets, the spend of their current windows and the DAGs' owners, tags and
teams are loaded on the bookkeeping thread (:meth:`BudgetDispatchGate.refresh`, every couple of seconds), and
the planned cost of tasks launched and not yet recorded in history counts as committed. Raising a budget
(CLI, API) releases held tasks at the next refresh; a new day or month does too.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from typing import Any

from airflow_ai_scheduler.airflow.gates import Gate, GateInput, Verdict
from airflow_ai_scheduler.budgets import Budget, TaskContext, check_budget

log = logging.getLogger(__name__)
#: a task let through but not launched (no free slot yet) counts as committed this long
ADMITTED_SECONDS = 30.0
#: how often a DAG's owners, tags, team and hint budgets are re-read from its serialized DAG
FACTS_SECONDS = 60.0


class BudgetDispatchGate(Gate):
    name = "budget"

    def __init__(self, settings: Any = None, service: Any = None) -> None:
        super().__init__(settings)
        self._service = service
        self._lock = threading.Lock()
        self._budgets: list[Budget] | None = None  # None: not loaded yet
        self._facts: dict[str, Any] = {}
        self._spent: dict[tuple[Any, ...], float] = {}
        self._committed: dict[Any, TaskContext] = {}
        self._facts_at: dict[str, float] = {}
        # let through in this or a recent loop, not launched yet: several due tasks are checked in one
        # scheduler loop before any is launched, and each must see the others' planned cost
        self._admitted: dict[Any, tuple[TaskContext, float]] = {}

    def service(self) -> Any:
        if self._service is None:
            from airflow_ai_scheduler.airflow.bookkeeping import session_scope
            from airflow_ai_scheduler.airflow.budgets import BudgetService

            self._service = BudgetService(session_scope)
        return self._service

    # -- bookkeeping thread ---------------------------------------------------------------------------
    def refresh(self, runs: set[tuple[str, str]]) -> None:
        svc = self.service()
        now, now_mono = datetime.now(timezone.utc), time.monotonic()
        try:
            budgets = svc.store.list()
            dag_ids = sorted({d for d, _ in runs})
            # DAG facts (serialized DAGs: owners, tags, team, hint budgets), re-read at most once a minute
            stale = [d for d in dag_ids if now_mono - self._facts_at.get(d, -1e9) > FACTS_SECONDS]
            facts = {d: f for d, f in self._facts.items() if d in dag_ids}
            if stale:
                facts.update(svc.facts(stale))
                self._facts_at.update({d: now_mono for d in stale})
            spent: dict[tuple[Any, ...], float] = {}
            for b in budgets:
                if b.period == "run":
                    for dag_id, run_id in runs:
                        spent[(b.key, run_id)] = svc.spent(b, TaskContext(dag_id, "", run_id, 0.0), now)
                else:
                    spent[(b.key, None)] = svc.spent(b, now=now)
            for dag_id, run_id in runs:  # the hint budgets: per task and run
                for task_id in getattr(facts.get(dag_id), "hint_budgets", {}):
                    spent[(("task", f"{dag_id}.{task_id}", "run"), run_id)] = svc.store.spend(
                        dag_ids=[dag_id], task_id=task_id, run_id=run_id)
            recorded = svc.store.recorded([k for k in list(self._committed)])
        except Exception as exc:  # keep the last view; the next refresh tries again
            log.warning("could not load budgets and spend: %s", exc)
            return
        with self._lock:
            self._budgets, self._facts, self._spent = budgets, facts, spent
            for k in recorded:  # their actual cost is in the spend now
                self._committed.pop(k, None)

    # -- scheduler loop -------------------------------------------------------------------------------
    def _context(self, task: GateInput) -> TaskContext:
        f = self._facts.get(task.dag_id)
        owners = (task.owner,) if task.owner else (f.owners if f else ())
        return TaskContext(dag_id=task.dag_id, task_id=task.task_id, run_id=task.run_id,
                           planned_cost=float(task.planned_cost or 0.0), owners=tuple(owners),
                           tags=f.tags if f else (), team=f.team if f else None,
                           hint_budget_usd=f.hint_budgets.get(task.task_id) if f else None)

    def check(self, task: GateInput) -> Verdict | None:
        from airflow_ai_scheduler.budgets.check import applicable, binds

        with self._lock:
            budgets, spent = self._budgets, self._spent
            if budgets is None:
                return Verdict("hold", "loading the budgets")
            ctx = self._context(task)
            now = time.monotonic()
            self._admitted = {k: v for k, v in self._admitted.items() if now - v[1] < ADMITTED_SECONDS}
            flying = [c for k, c in self._committed.items() if k != task.key]
            flying += [c for k, (c, _t) in self._admitted.items() if k != task.key and k not in self._committed]
        binding = applicable(budgets, ctx)
        if not binding:
            return None
        keys = [(b.key, task.run_id if b.period == "run" else None) for b in binding]
        if any(k not in spent for k in keys):
            return Verdict("hold", "loading the spend of this run's budgets")

        def committed(b: Budget) -> float:
            return sum(c.planned_cost for c in flying
                       if binds(b, c) and (b.period != "run" or (c.dag_id, c.run_id) == (ctx.dag_id, ctx.run_id)))

        d = check_budget(ctx, budgets, spent=lambda b: spent[(b.key, task.run_id if b.period == "run" else None)],
                         committed=committed, now=datetime.now(timezone.utc))
        if not d.allowed:
            return Verdict(d.action, d.reason)
        with self._lock:
            self._admitted[task.key] = (ctx, time.monotonic())
        return None

    def launched(self, task: GateInput) -> None:
        with self._lock:
            admitted = self._admitted.pop(task.key, None)
            if self._budgets:
                self._committed[task.key] = admitted[0] if admitted else self._context(task)
