"""Integration DAG: long enough to kill the scheduler in the middle."""

from __future__ import annotations

import time
from datetime import datetime

from airflow.sdk import dag, task

from airflow_ai_scheduler.airflow.hints import placement

EAST = placement(regions=["us-east-1"])


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def it_slow():
    @task(executor_config=EAST)
    def first() -> int:
        time.sleep(6)
        return 1

    @task(executor_config=EAST)
    def second(x: int) -> int:
        time.sleep(2)
        return x + 1

    second(first())


it_slow()
