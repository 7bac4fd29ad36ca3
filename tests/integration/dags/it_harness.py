"""Integration DAG for the harness itself: two plain tasks, the first writes a file and an XCom."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from airflow.sdk import dag, task


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def it_harness():
    @task
    def write() -> str:
        path = Path(os.environ["AIRFLOW_HOME"]) / "it_harness.out"
        path.write_text("written by it_harness")
        return str(path)

    @task
    def read(path: str) -> int:
        return len(Path(path).read_text())

    read(write())


it_harness()
