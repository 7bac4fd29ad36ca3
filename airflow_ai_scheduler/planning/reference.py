"""Reference points a plan is measured against: all on-demand, and per-job cheapest ignoring capacity."""

from __future__ import annotations

from airflow_ai_scheduler.exceptions import InfeasiblePlanError
from airflow_ai_scheduler.models import Manifest, Offer, Plan


def on_demand_plan(manifest: Manifest, offers: list[Offer]) -> Plan | None:
    """The greedy plan when every job must run on-demand (what a cautious platform team runs today)."""
    from airflow_ai_scheduler.planning.greedy import GreedyPlanner

    od = [o for o in offers if o.tier == "on-demand"]
    jobs = [j.model_copy(update={"allowed_tiers": None}) for j in manifest.jobs]
    try:
        return GreedyPlanner().plan(manifest.model_copy(update={"jobs": jobs}), od)
    except InfeasiblePlanError:
        return None


def on_demand_reference(manifest: Manifest, offers: list[Offer]) -> float | None:
    plan = on_demand_plan(manifest, offers)
    return plan.objective.cost if plan else None


def per_job_cheapest(manifest: Manifest, offers: list[Offer]) -> Plan | None:
    """Each job on its own cheapest offer at its earliest start, capacity ignored (a per-task optimizer)."""
    from airflow_ai_scheduler.planning.greedy import GreedyPlanner

    unlimited = [o.model_copy(update={"capacity": None}) for o in offers]
    weights = manifest.weights.model_copy(update={"tardiness": 0.0, "risk": 0.0})
    try:
        return GreedyPlanner().plan(manifest.model_copy(update={"weights": weights}), unlimited)
    except InfeasiblePlanError:
        return None
