"""Integration DAG for the executor core: a fan-out of short tasks, each saying where it ran."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta

from airflow.sdk import dag, task

from airflow_ai_scheduler.airflow.hints import placement


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, max_active_tasks=16)
def it_core():
    @task(executor_config=placement(duration=timedelta(minutes=5)))
    def start() -> int:
        return os.getpid()

    @task(executor_config=placement(duration=timedelta(minutes=10)))
    def work(i: int, _: int) -> dict:
        time.sleep(1)
        return {"fleet": os.environ.get("AI_SCHEDULER_FLEET"), "i": i, "pid": os.getpid()}

    work.partial(_=start()).expand(i=list(range(8)))


it_core()
