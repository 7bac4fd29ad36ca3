"""Steering a run's plan: what-if re-planning (never touches the run) and the plan approval gate."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field, model_validator

from airflow_ai_scheduler.airflow.ui.app import get_store
from airflow_ai_scheduler.airflow.ui.auth import can_edit_dag, can_read_dag, readable_dag_ids, user_name
from airflow_ai_scheduler.airflow.ui.runs import DagId, RunId, Store
from airflow_ai_scheduler.planning.pareto import SWEEP

router = APIRouter()
Name = Annotated[str, Field(min_length=1, max_length=100)]


class WeightsIn(BaseModel):
    cost: float = Field(1.0, ge=0, le=1e6, description="weight per expected USD")
    tardiness: float = Field(10.0, ge=0, le=1e6, description="weight per priority-weighted hour late")
    risk: float = Field(1.0, ge=0, le=1e6, description="weight per priority-weighted probability of a miss")
    carbon: float | None = Field(None, ge=0, le=1e6, description="w_carbon: USD per kg CO2e (default: the run's)")


class Fleets(BaseModel):
    planner: Literal["greedy", "optimal"] = Field("greedy", description="planner to use (no LLM call from the UI)")
    providers: list[Name] | None = Field(None, max_length=20, description="allowed providers (default: all)")
    regions: list[Name] | None = Field(None, max_length=50, description="allowed regions (default: all)")
    tiers: list[Literal["spot", "on-demand"]] | None = Field(None, max_length=2, description="allowed tiers")


class WhatIf(Fleets):
    """Another plan for the same run, made from the manifest the plan in force was made from."""

    weights: WeightsIn | None = Field(None, description="objective weights (default: the run's)")
    time_limit_seconds: float = Field(5.0, gt=0, le=30, description="optimal planner's time limit")


Weight = Annotated[float, Field(ge=0, le=1e6)]
#: at most this many weightings per Pareto request; with ``optimal``, at most this many seconds of CP-SAT
MAX_SWEEP_POINTS = 100
MAX_SWEEP_SECONDS = 60.0


class SweepIn(BaseModel):
    """The weights tried per criterion (w_cost is 1); every combination is planned."""

    tardiness: list[Weight] = Field(default_factory=lambda: list(SWEEP["tardiness"]), min_length=1, max_length=10)
    risk: list[Weight] = Field(default_factory=lambda: list(SWEEP["risk"]), min_length=1, max_length=10)
    carbon: list[Weight] = Field(default_factory=lambda: list(SWEEP["carbon"]), min_length=1, max_length=10,
                                 description="ignored without ``carbon``: the run's w_carbon is kept")


class ParetoIn(Fleets):
    """The non-dominated plans of a weight sweep over the run's stored manifest (``ai-scheduler plan --pareto``)."""

    carbon: bool = Field(True, description="sweep w_carbon and count kg CO2e as a criterion")
    sweep: SweepIn = Field(default_factory=SweepIn, description="default: the CLI's sweep")
    time_limit_seconds: float = Field(1.0, gt=0, le=5, description="optimal planner's time limit per weighting")

    @model_validator(mode="after")
    def _bounded(self) -> ParetoIn:
        n = self.points()
        if n > MAX_SWEEP_POINTS:
            raise ValueError(f"the sweep has {n} weightings; at most {MAX_SWEEP_POINTS}")
        if self.planner == "optimal" and n * self.time_limit_seconds > MAX_SWEEP_SECONDS:
            raise ValueError(f"{n} weightings × {self.time_limit_seconds:g} s of CP-SAT may take "
                             f"{n * self.time_limit_seconds:g} s; at most {MAX_SWEEP_SECONDS:g} s: "
                             "fewer weightings or a shorter time limit")
        return self

    def points(self) -> int:
        s = self.sweep
        return len(s.tardiness) * len(s.risk) * (len(s.carbon) if self.carbon else 1)


def _summary(plan: Any, od: float | None) -> dict[str, Any]:
    o = plan.objective
    return {"planner": plan.planner, "status": plan.status, "cost": o.cost, "tardiness_hours": o.tardiness,
            "risk": o.risk, "co2e_kg": o.co2e_kg, "objective": o.total, "on_demand_cost": od,
            "saving_pct": (100 * (od - o.cost) / od) if od else None,
            "late_jobs": sorted({v.job_id for v in plan.violations if v.job_id}),
            "placements": [{"job_id": p.job_id, "fleet": p.offer_id, "tier": p.tier, "provider": p.provider,
                            "region": p.region, "instance_type": p.instance_type,
                            "planned_start": p.start_time.isoformat(), "planned_end": p.expected_end_time.isoformat(),
                            "planned_cost": p.estimated_cost, "rationale": p.rationale}
                           for p in sorted(plan.placements, key=lambda p: (p.start_time, p.job_id))]}


def _stored_manifest(store: Any, dag_id: str, run_id: str, req: Fleets) -> tuple[Any, Any, list[Any]]:
    """(the stored plan, its manifest with only the allowed fleets, those fleets)."""
    from airflow_ai_scheduler.models import Manifest

    stored = store.latest_plan(dag_id, run_id)
    if stored is None:
        raise HTTPException(404, f"no plan for DAG {dag_id!r}, run {run_id!r}")
    raw = store.manifest_json(stored.id)
    if not raw:
        raise HTTPException(409, f"the plan of DAG {dag_id!r}, run {run_id!r} was made outside the executor "
                                 "(PlanPlacementOperator): its manifest is not stored, so it cannot be re-planned")
    manifest = Manifest.model_validate_json(raw)
    offers = [o for o in manifest.offers or []
              if (not req.providers or o.provider in req.providers)
              and (not req.regions or o.region in req.regions or o.location in req.regions)
              and (not req.tiers or o.tier in req.tiers)]
    if not offers:
        raise HTTPException(422, "no fleet of this run matches the allowed providers / regions / tiers "
                                 f"(fleets: {', '.join(sorted(o.offer_id for o in manifest.offers or []))})")
    return stored, manifest.model_copy(update={"offers": offers}), offers


def replan(store: Any, dag_id: str, run_id: str, req: WhatIf) -> tuple[Any, Any, Any]:
    """(the stored plan, the manifest with the request's weights, the new plan) — nothing is written."""
    from airflow_ai_scheduler.exceptions import AiSchedulerError
    from airflow_ai_scheduler.planning.base import run_planner

    stored, manifest, offers = _stored_manifest(store, dag_id, run_id, req)
    if req.weights is not None:  # a weight left out (w_carbon) stays the run's
        manifest = manifest.model_copy(update={"weights": manifest.weights.model_copy(
            update=req.weights.model_dump(exclude_none=True))})
    kwargs = {"time_limit_seconds": req.time_limit_seconds} if req.planner == "optimal" else {}
    try:
        alt = run_planner(req.planner, manifest, offers, **kwargs).plan
    except AiSchedulerError as exc:
        raise HTTPException(422, f"no plan under these settings: {exc}") from None
    # a re-plan's manifest holds only the tasks unfinished then: the others keep their placements, so both
    # plans cover the whole run (as the executor's own re-plans do)
    from airflow_ai_scheduler.planning.routing_rules import merge_plans

    return stored, manifest, merge_plans(stored.plan, alt)


def what_if_plan(store: Any, dag_id: str, run_id: str, req: WhatIf) -> dict[str, Any]:
    from airflow_ai_scheduler.planning.reference import on_demand_reference

    stored, manifest, alt = replan(store, dag_id, run_id, req)
    od = stored.on_demand_cost if stored.on_demand_cost is not None else on_demand_reference(
        manifest, manifest.offers or [])
    cur, new = _summary(stored.plan, od), _summary(alt, od)
    before = {p["job_id"]: p for p in cur["placements"]}
    changes = [{"job_id": p["job_id"], "from": before[p["job_id"]]["fleet"], "to": p["fleet"]}
               for p in new["placements"] if p["job_id"] in before and before[p["job_id"]]["fleet"] != p["fleet"]]
    return {"dag_id": dag_id, "run_id": run_id, "current": cur, "what_if": new, "changes": changes,
            "weights": manifest.weights.model_dump(), "note": "nothing was changed: the run keeps its plan"}


@router.post("/runs/{dag_id}/{run_id}/what-if", dependencies=[Depends(can_read_dag)],
             summary="Re-plan the run with other weights, fleets or planner, side by side (read-only)")
def what_if(store: Store, dag_id: DagId, run_id: RunId, req: WhatIf) -> dict[str, Any]:
    return what_if_plan(store, dag_id, run_id, req)


def pareto_plan(store: Any, dag_id: str, run_id: str, req: ParetoIn) -> dict[str, Any]:
    """The front of :func:`~airflow_ai_scheduler.planning.pareto.pareto_front` over the run's stored manifest:
    the rows ``ai-scheduler plan --pareto --json`` prints for that manifest, and what the rows leave out."""
    import time

    from airflow_ai_scheduler.exceptions import AiSchedulerError
    from airflow_ai_scheduler.planning.pareto import pareto_front

    stored, manifest, offers = _stored_manifest(store, dag_id, run_id, req)
    kwargs = {"time_limit_seconds": req.time_limit_seconds} if req.planner == "optimal" else {}
    sweep = req.sweep.model_dump()
    if not req.carbon:  # as pareto_front does: the run's w_carbon
        sweep["carbon"] = [manifest.weights.carbon]
    started = time.monotonic()
    try:
        points = pareto_front(manifest, offers, planner=req.planner, carbon=req.carbon, sweep=sweep, **kwargs)
    except AiSchedulerError as exc:
        raise HTTPException(422, f"no plan under these settings: {exc}") from None
    planned = {j.job_id for j in manifest.jobs}
    kept = [p for p in stored.plan.placements if p.job_id not in planned]
    return {"dag_id": dag_id, "run_id": run_id, "planner": req.planner, "carbon": req.carbon,
            "weightings": req.points(), "sweep": sweep, "seconds": round(time.monotonic() - started, 3),
            "points": [p.as_row() for p in points], "jobs": sorted(planned),
            # a re-planned run's manifest holds only the tasks unfinished then: the rest keep their placements
            # (a what-if adds their expected cost), and no point's numbers include them
            "kept": {"jobs": sorted(p.job_id for p in kept), "cost_usd": sum(p.estimated_cost for p in kept)},
            "note": "nothing was changed: the run keeps its plan"}


@router.post("/runs/{dag_id}/{run_id}/pareto", dependencies=[Depends(can_read_dag)],
             summary="The non-dominated plans over cost × tardiness × risk × carbon of a weight sweep (read-only)")
def pareto(store: Store, dag_id: DagId, run_id: RunId, req: ParetoIn) -> dict[str, Any]:
    return pareto_plan(store, dag_id, run_id, req)


class Decision(BaseModel):
    decision: Literal["approved", "rejected"] = Field(description="approve or reject the run's plan")
    reason: str = Field("", max_length=2000, description="why (shown to everyone, and in a rejected run's failure)")
    what_if: WhatIf | None = Field(None, description="approve this what-if plan instead (the edit): it replaces "
                                                     "the run's plan before any task starts")


@router.get("/runs/{dag_id}/{run_id}/approval", dependencies=[Depends(can_read_dag)],
            summary="pending | approved | rejected | not_required, with the reason")
def approval(store: Store, dag_id: DagId, run_id: RunId) -> dict[str, Any]:
    return store.approval_status(dag_id, run_id).as_dict()


@router.post("/runs/{dag_id}/{run_id}/approval", summary="Approve, edit-and-approve or reject the run's plan")
def decide(store: Store, dag_id: DagId, run_id: RunId, body: Decision,
           user: Annotated[Any, Depends(can_edit_dag)]) -> dict[str, Any]:
    from airflow_ai_scheduler.history.approval import ApprovalError

    current = store.approval_status(dag_id, run_id)
    if current.state != "pending":
        raise HTTPException(409, f"DAG {dag_id!r}, run {run_id!r}: nothing to decide ({current.reason})")
    plan_id = None
    if body.what_if is not None:
        if body.decision != "approved":
            raise HTTPException(422, "an edited plan can only be approved")
        stored, manifest, plan = replan(store, dag_id, run_id, body.what_if)
        moved = sum(1 for p in plan.placements if (stored.plan.placement_map.get(p.job_id) or p).offer_id != p.offer_id)
        plan = plan.model_copy(update={"notes": [*plan.notes, f"edited in the UI by {user_name(user)} "
                                                               f"({moved} task(s) moved to another fleet)"]})
        plan_id = store.save_plan(dag_id, run_id, plan, manifest, on_demand_cost=stored.on_demand_cost)
    try:
        status = store.decide_approval(dag_id, run_id, body.decision, by=user_name(user), reason=body.reason,
                                       plan_id=plan_id)
    except ApprovalError as exc:
        raise HTTPException(409, str(exc)) from None
    return status.as_dict()


@router.get("/approvals", summary="Plans waiting for a person's approval, on the DAGs you may read")
def approvals(store: Annotated[Any, Depends(get_store)],
              readable: Annotated[set[str] | None, Depends(readable_dag_ids)]) -> dict[str, Any]:
    rows = store.pending_approvals(readable)
    out = []
    for r in rows:
        st = store.approval_status(r["dag_id"], r["run_id"])
        out.append({"dag_id": r["dag_id"], "run_id": r["run_id"], **st.as_dict()})
    return {"approvals": out, "total_entries": len(out)}


@router.get("/dags/{dag_id}/next-run", dependencies=[Depends(can_read_dag)],
            summary="The settings the DAG's next run will be planned with (set from a what-if), if any")
def get_next_run(store: Store, dag_id: DagId) -> dict[str, Any]:
    nxt = store.next_run(dag_id)
    if nxt and nxt.get("set_at") is not None:
        nxt["set_at"] = nxt["set_at"].isoformat()
    return {"dag_id": dag_id, "next_run": nxt}


@router.put("/dags/{dag_id}/next-run", summary="Plan the DAG's next run with these settings (once)")
def put_next_run(store: Store, dag_id: DagId, body: WhatIf,
                 user: Annotated[Any, Depends(can_edit_dag)]) -> dict[str, Any]:
    settings = body.model_dump(exclude_none=True, exclude={"time_limit_seconds"})
    store.set_next_run(dag_id, settings, by=user_name(user))
    return get_next_run(store, dag_id)


@router.delete("/dags/{dag_id}/next-run", summary="Forget the settings chosen for the DAG's next run")
def delete_next_run(store: Store, dag_id: DagId, user: Annotated[Any, Depends(can_edit_dag)]) -> dict[str, Any]:
    return {"dag_id": dag_id, "cleared": store.clear_next_run(dag_id)}
