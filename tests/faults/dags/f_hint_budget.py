"""Fault matrix, impossible hint: a budget of 0 USD."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from airflow_ai_scheduler.airflow.hints import placement


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def f_hint_budget():
    @task(executor_config=placement(budget_usd=0))
    def crunch() -> str:
        return "ran"

    crunch()


f_hint_budget()
