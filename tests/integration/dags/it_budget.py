"""Integration DAG for forecasts and budgets: owned by alice, hourly, three independent short tasks."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from airflow_ai_scheduler.airflow.hints import Resources, placement


@dag(schedule="0 * * * *", start_date=datetime(2026, 1, 1), catchup=False, tags=["finance"],
     default_args={"owner": "alice"})
def it_budget():
    for name in ("one", "two", "three"):
        @task(task_id=name, executor_config=placement(duration=timedelta(minutes=20),
                                                     resources=Resources(vcpus=2, memory_gib=4)))
        def work() -> str:
            return "done"

        work()


it_budget()
