"""Fault matrix: one run with 300 mapped task instances and a reduce."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

N = 300


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, max_active_tasks=64)
def f_mapped():
    @task
    def items() -> list[int]:
        return list(range(N))

    @task
    def work(i: int) -> int:
        return i * i

    @task
    def total(values) -> int:
        return sum(values)

    total(work.expand(i=items()))


f_mapped()
