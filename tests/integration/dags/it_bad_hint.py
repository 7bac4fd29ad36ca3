from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task


@dag(schedule=None, start_date=datetime(2026, 1, 1))
def it_bad_hint():
    @task(executor_config={"ai_scheduler": {"tiers": ["cheap"]}})
    def crunch() -> None:
        pass

    crunch()


it_bad_hint()
