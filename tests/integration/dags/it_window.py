"""Integration DAG: a task the planner holds for a cheaper price window longer than task_queued_timeout."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

from airflow.sdk import dag, task

from airflow_ai_scheduler.airflow.hints import placement


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def it_window():
    @task(executor_config=placement(duration=timedelta(minutes=10), regions=["eu-west-1"],
                                    deadline=timedelta(hours=6)))
    def night_job() -> dict:
        return {"fleet": os.environ.get("AI_SCHEDULER_FLEET"), "started": datetime.now(timezone.utc).isoformat()}

    night_job()


it_window()
