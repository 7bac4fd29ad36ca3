"""Integration DAGs: six independent tasks of different expected durations on a one-slot fleet, so the
fleet's dispatch policy decides the order: it_dispatch_rl runs on a fleet with dispatch_policy rl (us-east-1),
it_dispatch_sjf on one with sjf (us-west-2)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from airflow.sdk import dag, task

from airflow_ai_scheduler.airflow.hints import placement

#: task → expected minutes (the hint); the real work is 2 s each
DURATIONS = {"t_a": 30, "t_b": 5, "t_c": 20, "t_d": 1, "t_e": 10, "t_f": 15}


def make(dag_id: str, region: str):
    @dag(dag_id=dag_id, schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
    def pipeline():
        for name, minutes in DURATIONS.items():
            @task(task_id=name, executor_config=placement(duration=timedelta(minutes=minutes), regions=[region],
                                                          tiers=("on-demand",),
                                                          deadline=timedelta(hours=2) if minutes > 10 else None))
            def work() -> float:
                time.sleep(2)
                return time.time()

            work()

    return pipeline()


make("it_dispatch_rl", "us-east-1")
make("it_dispatch_sjf", "us-west-2")
