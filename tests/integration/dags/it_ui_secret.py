"""Integration DAG for the UI's access tests: a user without access to it must not see its runs or costs."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from airflow_ai_scheduler.airflow.hints import placement


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def it_ui_secret():
    @task(executor_config=placement(duration=timedelta(minutes=5)))
    def classified() -> int:
        return 1

    classified()


it_ui_secret()
