"""The dispatch-time budget check: ``check_budget(...) -> Decision(allow | hold | fail, reason)``.

Called for a task about to be launched. For every budget that binds it (its task, DAG, owners, tags,
team), the spend in the budget's window (history: actual cost of finished tries) plus what is committed
(planned cost of tasks launched and not finished yet) plus this task's planned cost must stay within the
amount. The first violated ``fail`` budget fails the task; otherwise the first violated ``hold`` budget
holds it. The reason names the budget, the numbers and what lets the task go on.

Spend is passed in as functions so this module stays pure: the Airflow glue reads it from the history
table and from the executor's in-flight tasks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from airflow_ai_scheduler.budgets.model import Budget, period_window

#: spend may exceed an amount by this relative share before it counts (floating-point sums of costs)
TOLERANCE = 1e-9
Action = Literal["allow", "hold", "fail"]


@dataclass(frozen=True)
class TaskContext:
    """The task about to run, as the budgets see it."""

    dag_id: str
    task_id: str
    run_id: str
    planned_cost: float
    owners: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    team: str | None = None
    hint_budget_usd: float | None = None  # the task's own ``placement(budget_usd=...)``

    @property
    def task_subject(self) -> str:
        return f"{self.dag_id}.{self.task_id}"


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str = ""
    budget: Budget | None = None
    spent: float = 0.0
    committed: float = 0.0
    planned: float = 0.0
    checked: tuple[str, ...] = field(default_factory=tuple)  # labels of the budgets that applied

    @property
    def allowed(self) -> bool:
        return self.action == "allow"


def binds(budget: Budget, ctx: TaskContext) -> bool:
    """Whether ``budget`` applies to the task of ``ctx``."""
    if budget.scope == "task":
        return budget.subject == ctx.task_subject
    if budget.scope == "dag":
        return budget.subject == ctx.dag_id
    if budget.scope == "owner":
        return budget.subject in ctx.owners
    if budget.scope == "tag":
        return budget.subject in ctx.tags
    return ctx.team is not None and budget.subject == ctx.team


def applicable(budgets: Iterable[Budget], ctx: TaskContext) -> list[Budget]:
    """The budgets binding the task, its hint's ``budget_usd`` as a per-run task budget that fails."""
    out = [b for b in budgets if binds(b, ctx)]
    if ctx.hint_budget_usd is not None:
        out.append(Budget(scope="task", subject=ctx.task_subject, period="run", amount_usd=ctx.hint_budget_usd,
                          policy="fail", note="placement(budget_usd=...) hint"))
    return out


def _when(budget: Budget, now: datetime) -> str:
    window = period_window(budget.period, now)
    if budget.period == "run" or window is None:
        return "in this run", "when the budget is raised"
    start, end = window
    span = start.strftime("%Y-%m-%d") if budget.period == "day" else start.strftime("%Y-%m")
    return f"in {span} (UTC)", f"when the budget is raised or after {end:%Y-%m-%d %H:%M} UTC"


def _reason(action: Action, b: Budget, spent: float, committed: float, planned: float, now: datetime) -> str:
    where, until = _when(b, now)
    total = spent + committed + planned
    parts = f"spent ${spent:.4f} {where}"
    if committed:
        parts += f" + ${committed:.4f} planned for tasks still running"
    text = (f"{b.label()} ({b.policy}): {parts} + this task's planned ${planned:.4f} = ${total:.4f} "
            f"> ${b.amount_usd:.4f}")
    if action == "hold":
        return f"held by budget: {text}; it runs {until}"
    return f"failed by budget: {text}"


def check_budget(ctx: TaskContext, budgets: Sequence[Budget], *, spent: Callable[[Budget], float],
                 committed: Callable[[Budget], float] | None = None, now: datetime) -> Decision:
    """Allow, hold or fail the task of ``ctx`` against every budget binding it.

    ``spent(budget)``: actual cost so far in the budget's window for its scope (for a ``run`` budget: in
    this run). ``committed(budget)``: planned cost of in-flight tasks in the same scope and window.
    A ``fail`` violation wins over a ``hold`` one (the task cannot wait its way out of it).
    """
    binding = applicable(budgets, ctx)
    labels = tuple(b.label() for b in binding)
    worst: tuple[Action, Budget, float, float] | None = None
    for b in binding:
        s = float(spent(b))
        c = float(committed(b)) if committed else 0.0
        if s + c + ctx.planned_cost <= b.amount_usd * (1 + TOLERANCE) + 1e-12:
            continue
        if worst is None or (b.policy == "fail" and worst[0] == "hold"):
            worst = (b.policy, b, s, c)
    if worst is None:
        return Decision("allow", planned=ctx.planned_cost, checked=labels)
    action, b, s, c = worst
    return Decision(action, _reason(action, b, s, c, ctx.planned_cost, now), budget=b, spent=s, committed=c,
                    planned=ctx.planned_cost, checked=labels)


def remaining_for_plan(ctx: TaskContext, budgets: Sequence[Budget], *, spent: Callable[[Budget], float],
                       committed: Callable[[Budget], float] | None = None) -> tuple[float | None, Budget | None]:
    """The most a run may still be planned to cost under the DAG-, owner-, tag- and team-wide budgets that
    bind it (``ctx.task_id`` is ignored): (remaining USD, the budget that sets it), or (None, None)."""
    best: tuple[float | None, Budget | None] = (None, None)
    for b in budgets:
        if b.scope == "task" or not binds(b, ctx):
            continue
        left = max(0.0, b.amount_usd - float(spent(b)) - (float(committed(b)) if committed else 0.0))
        if best[0] is None or left < best[0]:
            best = (left, b)
    return best
