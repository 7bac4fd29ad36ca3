"""Integration DAG: one task only a Celery fleet with no worker may run (region us-west-2), so it stays
QUEUED until Airflow's task_queued_timeout handling revokes it from the executor and fails it."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from airflow_ai_scheduler.airflow.hints import placement


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def it_stuck():
    @task(executor_config=placement(duration=timedelta(minutes=1), regions=("us-west-2",)))
    def nobody_runs_me() -> None:
        raise AssertionError("no worker consumes this task's queue")

    nobody_runs_me()


it_stuck()
