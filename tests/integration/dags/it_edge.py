"""Integration DAG for the edge fleets: a spot-only task and an on-demand one, each run by a real Edge
worker pulling from the api-server (one worker per fleet queue). Each reports where it ran: fleet env,
pid and its process ancestors.

With ``conf["hold_file"]`` the spot task appends its pid to ``<hold_file>.started`` and, on its first
launch, writes its pids to the hold file and waits, so the test can kill the spot worker (the machine is
reclaimed); the relaunch finds the file and returns.
"""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import dag, get_current_context, task

from airflow_ai_scheduler.airflow.hints import placement


def where() -> dict:
    ancestors, pid = [], os.getpid()
    while pid > 1:
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
        ancestors.append(pid)
    return {"env": {k: v for k, v in os.environ.items() if k.startswith("AI_SCHEDULER_")},
            "pid": os.getpid(), "ancestors": ancestors}


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def it_edge():
    @task(executor_config=placement(duration=timedelta(minutes=5), tiers=("spot",)))
    def on_spot() -> dict:
        hold = (get_current_context()["dag_run"].conf or {}).get("hold_file")
        if hold:
            with open(f"{hold}.started", "a") as f:
                f.write(f"{os.getpid()}\n")
            if not Path(hold).exists():
                Path(hold).write_text(json.dumps({"pid": os.getpid(), "ppid": os.getppid()}))
                time.sleep(300)  # the test takes the worker away long before
        return where()

    @task(executor_config=placement(duration=timedelta(minutes=5), tiers=("on-demand",)))
    def on_demand(_: dict) -> dict:
        return where()

    on_demand(on_spot())


it_edge()
