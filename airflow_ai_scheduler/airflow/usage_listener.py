"""The listener that measures each task try where it runs (registered by the plugin, runs in the task runner).

Airflow calls ``on_task_instance_running`` in the task runner just before the task executes and
``on_task_instance_success``/``_failed`` right after, in the same process: the monitor
(:class:`~airflow_ai_scheduler.usage.measure.UsageMonitor`) measures that process and its children in
between. The numbers go back through the one channel a task process may write in Airflow 3: an XCom
(key :data:`~airflow_ai_scheduler.usage.measure.USAGE_XCOM_KEY`) written through the Execution API,
stored in the metadata database itself (not a custom XCom backend), as Airflow stores its own
operator-link XComs. The scheduler's recorder reads it when the try's history row is written.

Only tasks running on one of our fleets are measured (their worker exports ``AI_SCHEDULER_FLEET``), and
``[ai_scheduler] measure_usage = False`` turns it off. A measurement never fails a task: every error is
logged and swallowed. A try killed from outside (a preemption, the OOM killer) reports nothing.
"""

from __future__ import annotations

import logging
import os
from typing import Any

try:
    from airflow.listeners import hookimpl
except ImportError:  # a worker with the task SDK only
    from pluggy import HookimplMarker

    hookimpl = HookimplMarker("airflow")

log = logging.getLogger(__name__)

_monitors: dict[str, Any] = {}


def _enabled() -> bool:
    if not os.environ.get("AI_SCHEDULER_FLEET"):
        return False  # not on one of our fleets: nobody would read the numbers
    try:
        from airflow.configuration import conf

        return conf.getboolean("ai_scheduler", "measure_usage", fallback=True)
    except Exception:
        return True


def _key(task_instance: Any) -> str:
    return str(getattr(task_instance, "id", None) or id(task_instance))


@hookimpl
def on_task_instance_running(previous_state: Any, task_instance: Any) -> None:
    if not _enabled():
        return
    try:
        from airflow_ai_scheduler.usage.measure import UsageMonitor

        _monitors[_key(task_instance)] = UsageMonitor().start()
    except Exception:
        log.warning("ai-scheduler: could not start measuring %s", task_instance, exc_info=True)


def _finish(task_instance: Any) -> None:
    monitor = _monitors.pop(_key(task_instance), None)
    if monitor is None:
        return
    try:
        from airflow_ai_scheduler.usage.measure import USAGE_XCOM_KEY

        usage = monitor.stop(try_number=getattr(task_instance, "try_number", None))
        _push(task_instance, USAGE_XCOM_KEY, usage.model_dump(mode="json"))
        log.info("ai-scheduler: this try used %.1f CPU s, peak memory %.0f MiB%s", usage.cpu_seconds,
                 usage.peak_memory_mib, "" if usage.gpu_memory_mib is None else
                 f", GPU memory {usage.gpu_memory_mib:.0f} MiB")
    except Exception:
        log.warning("ai-scheduler: could not report the usage of %s", task_instance, exc_info=True)


def _push(ti: Any, key: str, value: dict[str, Any]) -> None:
    """Into the metadata database through the Execution API (bypassing a custom XCom backend, which could
    put it in object storage the scheduler does not read)."""
    map_index = getattr(ti, "map_index", None)
    try:
        from airflow.sdk.bases.xcom import BaseXCom

        setter = BaseXCom._set_xcom_in_db
    except (ImportError, AttributeError):  # a task SDK without it: the public route
        ti.xcom_push(key, value)
        return
    setter(key=key, value=value, dag_id=ti.dag_id, task_id=ti.task_id, run_id=ti.run_id,
           map_index=-1 if map_index is None else map_index)


@hookimpl
def on_task_instance_success(previous_state: Any, task_instance: Any) -> None:
    _finish(task_instance)


@hookimpl
def on_task_instance_failed(previous_state: Any, task_instance: Any, error: Any = None) -> None:
    _finish(task_instance)
