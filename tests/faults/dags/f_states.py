"""Fault matrix: a task of every ending — run, skipped by a branch, skipping itself, deferred to the
triggerer and resumed, a sensor rescheduled between pokes — and none of them is a failure in history."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger
from airflow.sdk import BaseOperator, dag, task
from airflow.sdk.exceptions import AirflowSkipException


class DeferOnce(BaseOperator):
    """Works a second, defers for 12 s to the triggerer, resumes and works another second. (12 s, not 4: the
    deferred try's supervisor may take seconds to exit on a loaded machine, and its slot is fleet time.)"""

    def execute(self, context):
        time.sleep(1)
        self.defer(trigger=TimeDeltaTrigger(timedelta(seconds=12)), method_name="resume")

    def resume(self, context, event=None):
        time.sleep(1)
        return "resumed"


@dag(schedule=None, start_date=datetime(2026, 1, 1), catchup=False)
def f_states():
    @task.branch
    def branch() -> str:
        return "left"

    @task
    def left() -> str:
        return "ran"

    @task
    def right() -> str:
        return "never runs"

    @task
    def skip_self() -> None:
        raise AirflowSkipException("nothing to do today")

    @task.sensor(poke_interval=2, timeout=120, mode="reschedule")
    def poke(**context) -> bool:
        started = context["dag_run"].start_date
        return (datetime.now(timezone.utc) - started).total_seconds() > 6  # a few pokes

    @task(trigger_rule="none_failed")
    def after() -> str:
        return "done"

    chosen = left()
    branch() >> [chosen, right()]
    [chosen, skip_self(), DeferOnce(task_id="defer"), poke()] >> after()


f_states()
