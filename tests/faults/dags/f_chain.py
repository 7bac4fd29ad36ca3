"""Fault matrix: a short chain, for the history-outage and burst cases (f_chain) and for the DAG the
outsider may not read (f_secret)."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task


def make(dag_id: str):
    @dag(dag_id=dag_id, schedule=None, start_date=datetime(2026, 1, 1), catchup=False, max_active_runs=50)
    def chain():
        @task
        def first() -> int:
            return 1

        @task
        def second(x: int) -> int:
            return x + 1

        @task
        def third(x: int) -> int:
            return x + 1

        third(second(first()))

    return chain()


make("f_chain")
make("f_secret")
