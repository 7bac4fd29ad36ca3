"""Integration DAG: hinted tasks, a checkpointed task on a spot fleet that loses capacity, mapped tasks."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta

from airflow.sdk import dag, task

from airflow_ai_scheduler.airflow.hints import placement
from airflow_ai_scheduler.recovery import Checkpoint


def where() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("AI_SCHEDULER_")}


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def it_pipeline():
    @task(executor_config=placement(duration=timedelta(minutes=10), regions=["us-east-1"]))
    def extract() -> dict:
        return where()

    @task(executor_config=placement(duration=timedelta(minutes=30), checkpointable=True, regions=["us-west-2"],
                                    tiers=("spot",), deadline=timedelta(hours=4)))
    def train(_: dict, **context) -> dict:
        ckpt = Checkpoint(context)
        state = ckpt.load() or {"step": 0}
        resumed_from = state["step"]
        for step in range(state["step"], 6):
            time.sleep(1)
            ckpt.save({"step": step + 1})
        return {**where(), "resumed_from": resumed_from}

    @task(executor_config=placement(duration=timedelta(minutes=5), regions=["us-east-1"]))
    def process(part: int) -> dict:
        return {**where(), "part": part}

    @task(executor_config=placement(duration=timedelta(minutes=5), tiers=("on-demand",), regions=["us-east-1"]))
    def load(_: dict, parts: list) -> dict:
        return where()

    t = train(extract())
    load(t, process.expand(part=[1, 2, 3]))


it_pipeline()
