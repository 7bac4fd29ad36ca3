"""Integration DAG: a task that holds a known amount of memory and burns CPU, and a mapped task with one
slow instance on demand (``conf={"slow_index": i}``) for the anomaly flag."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from airflow.sdk import dag, get_current_context, task

from airflow_ai_scheduler.airflow.hints import Resources, placement

MIB = 1024 * 1024
HOLD_MIB = 300
BURN_CPU_SECONDS = 2.0


# a retry rides out a task runner that lost its api-server on a heavily loaded machine
@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False,
     default_args={"retries": 1, "retry_delay": timedelta(seconds=3)})
def it_usage():
    # asks for far more than it needs: rightsize should say so
    @task(executor_config=placement(resources=Resources(vcpus=4, memory_gib=16), regions=["us-east-1"]))
    def hog() -> int:
        held = b"x" * (HOLD_MIB * MIB)  # filled, so every page is resident
        t0 = time.process_time()
        n = 0
        while time.process_time() - t0 < BURN_CPU_SECONDS:
            n += 1
        return len(held) // MIB

    @task(executor_config=placement(regions=["us-east-1"]))
    def steady(i: int) -> int:
        slow = get_current_context()["dag_run"].conf.get("slow_index")
        time.sleep(25 if i == slow else 0.5)
        return i

    hog()
    steady.expand(i=list(range(6)))


it_usage()
