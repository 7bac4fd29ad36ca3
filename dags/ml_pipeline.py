"""ML pipeline: prepare data, train a long checkpointable model on spot, evaluate, all before a deadline."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta

from airflow.sdk import dag, task

from airflow_ai_scheduler.airflow.hints import Resources, placement
from airflow_ai_scheduler.recovery import Checkpoint


def where() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("AI_SCHEDULER_")}


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["ai-scheduler", "example"])
def ml_pipeline():
    @task(executor_config=placement(duration=timedelta(minutes=15), resources=Resources(vcpus=2, memory_gib=8)))
    def prepare() -> dict[str, str]:
        time.sleep(1)
        return where()

    @task(executor_config=placement(duration=timedelta(hours=3), checkpointable=True,
                                    checkpoint_interval=timedelta(minutes=10), restart_overhead=timedelta(minutes=3),
                                    resources=Resources(vcpus=4, memory_gib=16), tiers=("spot",),
                                    deadline=timedelta(hours=8), priority=5))
    def train(_: dict, **context) -> dict[str, object]:
        # resumes from its last checkpoint when spot capacity was lost (the demo's spot fleet loses it once)
        ckpt = Checkpoint(context)
        state = ckpt.load() or {"epoch": 0}
        resumed_from = state["epoch"]
        for epoch in range(state["epoch"], 12):
            time.sleep(1)  # one "epoch" of training
            ckpt.save({"epoch": epoch + 1})
        return {**where(), "resumed_from_epoch": resumed_from}

    @task(executor_config=placement(duration=timedelta(minutes=10), deadline=timedelta(hours=9)))
    def evaluate(_: dict) -> dict[str, str]:
        time.sleep(1)
        return where()

    evaluate(train(prepare()))


ml_pipeline()
