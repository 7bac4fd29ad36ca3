"""Integration DAG: a task fails (no retries); its downstream never runs and is recorded upstream_failed."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from airflow_ai_scheduler.airflow.hints import placement


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, default_args={"retries": 0})
def it_fail():
    @task(executor_config=placement(duration=timedelta(minutes=1)))
    def broken() -> int:
        raise RuntimeError("this task fails on purpose")

    @task(executor_config=placement(duration=timedelta(minutes=1)))
    def after(x: int) -> int:
        return x

    after(broken())


it_fail()
