"""Integration DAGs: a malformed placement hint in one DAG of a file (a typo'd tier) and a good DAG beside
it: the file's import error names the bad DAG, task and field, and the good DAG still loads."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from airflow_ai_scheduler.airflow.hints import placement


@dag(schedule=None, start_date=datetime(2026, 1, 1))
def hint_typo():
    @task(executor_config=placement(deadline=timedelta(hours=1)))
    def extract():
        pass

    @task(executor_config={"ai_scheduler": {"tiers": ["spot", "preemptible"]}})
    def train():
        pass

    extract() >> train()


hint_typo()


@dag(schedule=None, start_date=datetime(2026, 1, 1))
def hint_ok():
    @task(executor_config=placement(tiers=("spot",), priority=2))
    def train():
        pass

    train()


hint_ok()
