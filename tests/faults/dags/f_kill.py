"""Fault matrix: two tasks on local fleets when the scheduler is SIGKILLed — one ends before Airflow
declares the old scheduler dead (its orphaned worker finishes it), one is still running then (reset, and
run again as try 2)."""

from __future__ import annotations

import time
from datetime import datetime

from airflow.sdk import dag, task


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def f_kill():
    @task
    def short() -> str:
        time.sleep(8)
        return "short"

    @task
    def long(**context) -> int:
        try_number = context["ti"].try_number
        time.sleep(120 if try_number == 1 else 1)
        return try_number

    @task
    def after(a: str, b: int) -> str:
        return f"{a} {b}"

    after(short(), long())


f_kill()
