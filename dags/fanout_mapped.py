"""Fan-out with mapped tasks: split the input, process the parts in parallel, combine the results."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta

from airflow.sdk import dag, task

from airflow_ai_scheduler.airflow.hints import placement


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False, tags=["ai-scheduler", "example"])
def fanout_mapped():
    @task(executor_config=placement(duration=timedelta(minutes=2)))
    def split() -> list[int]:
        return list(range(6))

    @task(executor_config=placement(duration=timedelta(minutes=20), checkpointable=True, priority=2))
    def process(part: int) -> dict[str, object]:
        time.sleep(1)
        return {"part": part, "fleet": os.environ.get("AI_SCHEDULER_FLEET"),
                "tier": os.environ.get("AI_SCHEDULER_TIER")}

    @task(executor_config=placement(duration=timedelta(minutes=2), deadline=timedelta(hours=3)))
    def combine(results: list[dict]) -> dict[str, object]:
        return {"parts": len(results), "fleets": sorted({str(r["fleet"]) for r in results})}

    combine(process.expand(part=split()))


fanout_mapped()
