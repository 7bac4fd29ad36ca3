"""JSON of the plans and what ran: lists filtered to the DAGs the user may read, validated bounded params."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query

from airflow_ai_scheduler.airflow.ui.app import get_store
from airflow_ai_scheduler.airflow.ui.auth import can_read_dag, current_user, readable_dag_ids
from airflow_ai_scheduler.airflow.ui_models import FleetOut, HistoryPage, RunsPage, fleets_out

router = APIRouter()

#: the largest page any list returns (Airflow's API caps ``limit`` the same way)
MAX_LIMIT = 1000
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"rows per page, 1..{MAX_LIMIT}")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="rows to skip (pagination)")]
DagId = Annotated[str, Path(min_length=1, max_length=250)]
RunId = Annotated[str, Path(min_length=1, max_length=250)]
Store = Annotated[Any, Depends(get_store)]
read_dag = [Depends(can_read_dag)]


def _iso(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}


@router.get("/runs", response_model=RunsPage, summary="Planned runs of the DAGs you may read, newest first")
def runs(store: Store, readable: Annotated[set[str] | None, Depends(readable_dag_ids)],
         dag_id: Annotated[str | None, Query(max_length=250)] = None, limit: Limit = 50,
         offset: Offset = 0) -> Any:
    if dag_id and readable is not None and dag_id not in readable:
        return {"runs": [], "total_entries": 0}
    rows = store.recent_plans(dag_id, limit, offset=offset, dag_ids=readable)
    actual = store.actual_costs([(r["dag_id"], r["run_id"]) for r in rows]) if rows else {}
    return {"runs": [{**_iso(r), "actual_cost": actual.get((r["dag_id"], r["run_id"]), 0.0)} for r in rows],
            "total_entries": store.count_plans(dag_id, dag_ids=readable)}


@router.get("/runs/{dag_id}/{run_id}", dependencies=read_dag,
            summary="A run's plan, its tries, the timeline's bars and the totals")
def run(store: Store, dag_id: DagId, run_id: RunId) -> dict[str, Any]:
    from airflow_ai_scheduler.airflow.cli import exchange_summary
    from airflow_ai_scheduler.airflow.ui.run_view import run_view

    view = run_view(store, dag_id, run_id, catalog=_catalog())
    if view is None:
        raise HTTPException(404, f"no plan and no recorded try for DAG {dag_id!r}, run {run_id!r}")
    ex_id = (view["plan"] or {}).get("llm_exchange_id")
    view["llm"] = exchange_summary(store, ex_id) if ex_id else None
    view["approval"] = store.approval_status(dag_id, run_id).as_dict()
    return view


def _catalog() -> Any:
    from airflow.configuration import conf

    from airflow_ai_scheduler.catalog import catalog_from
    from airflow_ai_scheduler.config import CONFIG_DEFAULTS, SECTION

    try:
        return catalog_from(conf.get(SECTION, "catalog_path", fallback=CONFIG_DEFAULTS["catalog_path"]))
    except Exception:  # prices are an aid here: the page shows "-" where none is known
        return None


@router.get("/runs/{dag_id}/{run_id}/llm-exchange", dependencies=read_dag,
            summary="The plan's LLM exchange as stored (redacted before it was sent): prompt, response, repair")
def run_exchange(store: Store, dag_id: DagId, run_id: RunId) -> dict[str, Any]:
    stored = store.latest_plan(dag_id, run_id)
    ex = store.llm_exchange(stored.llm_exchange_id) if stored and stored.llm_exchange_id else None
    if ex is None:
        raise HTTPException(404, f"no LLM exchange for the plan of DAG {dag_id!r}, run {run_id!r}")
    from airflow_ai_scheduler.airflow.ui.redact import redact

    out = _iso(ex)
    from airflow_ai_scheduler.planning.llm.audit import prompt_hash

    # a prompt whose hash matches was redacted before it was sent: shown exactly as sent (its hash checks);
    # an older one, stored before that, is redacted here
    as_sent = bool(out.get("prompt")) and prompt_hash(out["prompt"]) == out.get("prompt_hash")
    out["prompt"], out["response"] = out["prompt"] if as_sent else redact(out.get("prompt")), redact(out.get("response"))
    return out


@router.get("/history/{dag_id}", dependencies=read_dag, response_model=HistoryPage,
            summary="Recorded tries of a DAG, newest first")
def history(store: Store, dag_id: DagId, task_id: Annotated[str | None, Query(max_length=250)] = None,
            run_id: Annotated[str | None, Query(max_length=250)] = None, limit: Limit = 50,
            offset: Offset = 0) -> Any:
    return {"history": store.history(dag_id, task_id, run_id, limit=limit, offset=offset),
            "total_entries": store.count_history(dag_id, task_id, run_id)}


@router.get("/fleets", dependencies=[Depends(current_user)], response_model=list[FleetOut],
            summary="The configured fleets, priced as the planner sees them")
def fleets() -> Any:
    return fleets_out()
