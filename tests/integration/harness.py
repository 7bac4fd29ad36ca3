"""The test-facing name of the real-Airflow harness: ``AirflowDeployment`` is
:class:`airflow_ai_scheduler.demo.deployment.LocalDeployment` (the demo drives the same class), with the
helper names the integration tests' brief uses (``trigger_dag``, ``wait_for_run``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_ai_scheduler.demo.deployment import EXECUTOR, LocalDeployment, free_port

__all__ = ["EXECUTOR", "AirflowDeployment", "free_port"]


class AirflowDeployment(LocalDeployment):
    """A temporary Airflow 3.3 (api-server, scheduler, dag-processor) with any executor string."""

    def trigger_dag(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        return self.trigger(dag_id, conf)

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300) -> str:
        return self.wait_run(dag_id, run_id, timeout=timeout)
