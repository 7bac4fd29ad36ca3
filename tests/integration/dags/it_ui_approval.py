"""Integration DAG whose plan a person must approve before any task starts."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from airflow_ai_scheduler.airflow.hints import placement


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False,
     params={"ai_scheduler_require_approval": True, "ai_scheduler_approval_timeout_minutes": 30})
def it_ui_approval():
    @task(executor_config=placement(duration=timedelta(minutes=20)))
    def fit() -> int:
        return 1

    @task(executor_config=placement(duration=timedelta(minutes=5), tiers=("on-demand",)))
    def publish(_: int) -> int:
        return 2

    publish(fit())


it_ui_approval()
