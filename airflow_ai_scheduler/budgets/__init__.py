"""Budgets: per task, DAG, owner, DAG tag or team, over a run, a day or a month (pure code, no Airflow).

:mod:`.model` defines a budget; :mod:`.check` decides, before a task is launched, whether it may run
(``allow``), must wait (``hold``) or must fail (``fail``), with a reason a person can read. The budgets
live in ``ai_scheduler_budget`` (:mod:`airflow_ai_scheduler.history.budget_store`), spend comes from the
task history.
"""

from __future__ import annotations

from airflow_ai_scheduler.budgets.check import Decision, TaskContext, check_budget, remaining_for_plan
from airflow_ai_scheduler.budgets.model import PERIODS, POLICIES, SCOPES, Budget, period_window

__all__ = ["PERIODS", "POLICIES", "SCOPES", "Budget", "Decision", "TaskContext", "check_budget", "period_window",
           "remaining_for_plan"]
