"""Fault matrix, impossible hint: a hard deadline already in the past."""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import dag, task

from airflow_ai_scheduler.airflow.hints import placement


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def f_hint_past():
    @task(executor_config=placement(deadline=datetime(2020, 1, 1, tzinfo=timezone.utc), hard_deadline=True))
    def crunch() -> str:
        return "ran"

    crunch()


f_hint_past()
