"""ETL with a deadline: extract → transform → load, due two hours after the run starts.

Each task returns where it ran (the fleet's environment), so the demo and the tests can check that the
plan was followed.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta

from airflow.sdk import dag, task

from airflow_ai_scheduler.airflow.hints import Resources, placement


def where() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("AI_SCHEDULER_")}


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["ai-scheduler", "example"],
     default_args={"retries": 1, "retry_delay": timedelta(seconds=5)})
def etl_deadline():
    @task(executor_config=placement(duration=timedelta(minutes=10), resources=Resources(vcpus=2, memory_gib=4),
                                    data_gb=5, data_region="aws:us-east-1"))
    def extract() -> dict[str, str]:
        time.sleep(2)
        return where()

    @task(executor_config=placement(duration=timedelta(minutes=30), checkpointable=True,
                                    resources=Resources(vcpus=4, memory_gib=16), data_gb=5))
    def transform(_: dict) -> dict[str, str]:
        time.sleep(3)
        return where()

    @task(executor_config=placement(duration=timedelta(minutes=5), deadline=timedelta(hours=2),
                                    hard_deadline=True, tiers=("on-demand",)))
    def load(_: dict) -> dict[str, str]:
        time.sleep(1)
        return where()

    load(transform(extract()))


etl_deadline()
