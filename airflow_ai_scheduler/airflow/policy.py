"""Cluster policy shipped with the provider (entry point group ``airflow.policy``): placement hints are
checked when a DAG is parsed, so a malformed one fails the DAG's import with one line naming the DAG,
the task and the field — visible in the UI's import errors and in ``airflow dags list-import-errors``.
Values no run can meet (a hard deadline already past) fail here too.
"""

from __future__ import annotations

from typing import Any

from airflow.policies import hookimpl


@hookimpl
def task_policy(task: Any) -> None:
    from airflow.exceptions import AirflowClusterPolicyViolation

    from airflow_ai_scheduler.airflow.hints import check_at_import
    from airflow_ai_scheduler.exceptions import InvalidHintError

    dag_id = getattr(task, "dag_id", None)
    try:
        check_at_import(getattr(task, "executor_config", None), dag_id=dag_id, task_id=task.task_id)
    except InvalidHintError as exc:
        raise AirflowClusterPolicyViolation(str(exc)) from None
