"""JSON of what tasks used: right-sizing, the suitability ranking of offers for a task, anomalies.

The models are :class:`~airflow_ai_scheduler.usage.rightsize.RightsizeReport`,
:class:`~airflow_ai_scheduler.planning.suitability.Suitability` and
:class:`~airflow_ai_scheduler.airflow.usage_api.Anomaly` (the CLI prints the same ones).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query

from airflow_ai_scheduler.airflow.ui.runs import DagId, Limit, Store, read_dag
from airflow_ai_scheduler.airflow.usage_api import Anomaly, rank_task, recent_anomalies, rightsize_report
from airflow_ai_scheduler.exceptions import AiSchedulerError
from airflow_ai_scheduler.planning.suitability import Suitability
from airflow_ai_scheduler.usage.rightsize import RightsizeReport

router = APIRouter()
TaskId = Annotated[str, Path(min_length=1, max_length=250)]


@router.get("/dags/{dag_id}/rightsize", dependencies=read_dag, response_model=RightsizeReport,
            summary="Per task: requested vs used (p95), a recommended resources hint, the money it saves")
def rightsize(store: Store, dag_id: DagId) -> Any:
    return rightsize_report(dag_id, store=store)


@router.get("/dags/{dag_id}/tasks/{task_id}/rank", dependencies=read_dag, response_model=Suitability,
            summary="Suitability of each offer for the task started now, best first")
def rank(store: Store, dag_id: DagId, task_id: TaskId,
         offers: Annotated[Literal["fleets", "catalog"], Query(description="the fleets or the price catalog")] = "fleets",
         top: Annotated[int, Query(ge=1, le=100, description="offers returned")] = 10) -> Any:
    catalog = None
    if offers == "catalog":
        from airflow_ai_scheduler.catalog import bundled_catalog

        catalog = bundled_catalog().offers()
    try:
        return rank_task(dag_id, task_id, store=store, offers=catalog, top=top)
    except AiSchedulerError as exc:
        raise HTTPException(404, str(exc)) from None


@router.get("/dags/{dag_id}/anomalies", dependencies=read_dag, response_model=list[Anomaly],
            summary="Tries flagged as runtime or memory outliers against their task's history, newest first")
def anomalies(store: Store, dag_id: DagId, limit: Limit = 100) -> Any:
    return recent_anomalies(dag_id, store=store, limit=limit)
