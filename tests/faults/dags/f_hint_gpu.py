"""Fault matrix, impossible hint: 64 GPUs, and no fleet has a GPU."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from airflow_ai_scheduler.airflow.hints import placement


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def f_hint_gpu():
    @task(executor_config=placement(resources={"vcpus": 1, "memory_gib": 1, "gpus": 64}))
    def train() -> str:
        return "ran"

    train()


f_hint_gpu()
