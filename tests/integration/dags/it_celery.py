"""Integration DAG for the celery fleet: a spot-only task (the only spot fleet is a Celery queue) and an
on-demand one (a local pool); both in us-east-1 (the fleet in us-west-2 has no worker: it_stuck's). Each reports where it ran: fleet env, host, pid and its process ancestors.

With ``conf["hold_file"]`` the spot task writes its pids there on its first launch and waits, so the test
can kill the Celery pool process running it (a lost worker); the relaunch finds the file and returns.
With ``conf["gate_file"]`` it appends its pid to ``<gate_file>.started`` and waits until the gate file
exists, so the test can restart the scheduler while it runs.
"""

from __future__ import annotations

import json
import os
import socket
import time
from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import dag, get_current_context, task

from airflow_ai_scheduler.airflow.hints import placement


def where() -> dict:
    ancestors, pid = [], os.getpid()
    while pid > 1:  # Linux: walk /proc up to init
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
        ancestors.append(pid)
    return {"env": {k: v for k, v in os.environ.items() if k.startswith("AI_SCHEDULER_")},
            "hostname": socket.gethostname(), "pid": os.getpid(), "ancestors": ancestors}


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def it_celery():
    @task(executor_config=placement(duration=timedelta(minutes=5), tiers=("spot",), regions=("us-east-1",)))
    def on_spot() -> dict:
        conf = get_current_context()["dag_run"].conf or {}
        hold, gate = conf.get("hold_file"), conf.get("gate_file")
        if gate:  # note every start, then wait for the test to open the gate
            with open(f"{gate}.started", "a") as f:
                f.write(f"{os.getpid()}\n")
            deadline = time.monotonic() + 180
            while not Path(gate).exists() and time.monotonic() < deadline:
                time.sleep(0.5)
        if hold and not Path(hold).exists():
            Path(hold).write_text(json.dumps({"pid": os.getpid(), "ppid": os.getppid()}))
            time.sleep(120)  # the test kills this try's worker process long before
        return where()

    @task(executor_config=placement(duration=timedelta(minutes=5), tiers=("on-demand",), regions=("us-east-1",)))
    def on_demand(_: dict) -> dict:
        return where()

    on_demand(on_spot())


it_celery()
