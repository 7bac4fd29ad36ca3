"""Response models of the UI's JSON API (documented in its OpenAPI page)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class HistoryRow(BaseModel):
    run_id: str = Field(description="DAG run id")
    task_id: str = Field(description="Task id")
    map_index: int = Field(description="Map index (-1: not mapped)")
    try_number: int = Field(description="Task try (preempted attempts share the try they belong to)")
    fleet: str | None = Field(None, description="Fleet the try ran on")
    provider: str | None = Field(None, description="Cloud provider of the fleet")
    region: str | None = Field(None, description="Region of the fleet")
    instance_type: str | None = Field(None, description="Instance type of the fleet")
    tier: str | None = Field(None, description="spot or on-demand")
    planned_cost: float | None = Field(None, description="Expected USD of the task's placement in the plan")
    actual_cost: float | None = Field(None, description="USD: measured runtime x price per hour at launch")
    runtime_seconds: float | None = Field(None, description="Measured runtime")
    price_per_hour_at_launch: float | None = Field(None, description="USD per hour when the try started")
    actual_start: datetime | None = Field(None, description="When the try started (UTC)")
    actual_end: datetime | None = Field(None, description="When the try ended (UTC)")
    outcome: str = Field(description="what became of the try: success, failed, skipped, upstream_failed, removed, "
                                     "cleared, preempted, reset; deferred / up_for_reschedule / awaiting_input "
                                     "while it is not over (history/outcomes.py)")


class FleetOut(BaseModel):
    name: str = Field(description="Fleet name (the offer id plans use)")
    provider: str = Field(description="Cloud provider")
    region: str = Field(description="Region")
    instance_type: str = Field(description="Instance type")
    tier: str = Field(description="spot or on-demand")
    slots: int = Field(description="Tasks the fleet runs at once")
    backend: str = Field(description="How tasks are launched on it")
    price_per_hour: float = Field(description="USD per hour per slot")
    interruption_rate_per_hour: float = Field(description="Expected spot interruptions per hour")


def fleets_out() -> list[FleetOut]:
    """The configured fleets priced as the planner sees them (no backend options: they may hold secrets)."""
    from airflow_ai_scheduler.settings import load_settings

    settings = load_settings(check=False)  # priced from catalog_path, as the executor prices them
    specs, offers = settings.fleets, {o.offer_id: o for o in settings.offers}
    return [FleetOut(name=s.name, provider=s.provider, region=s.region, instance_type=s.instance_type, tier=s.tier,
                     slots=s.slots, backend=s.backend, price_per_hour=offers[s.name].price_per_hour,
                     interruption_rate_per_hour=offers[s.name].interruption_rate_per_hour) for s in specs]


class HistoryPage(BaseModel):
    history: list[HistoryRow] = Field(description="Recorded tries, newest first")
    total_entries: int = Field(description="Rows matching the filter (for pagination)")


class RunOut(BaseModel):
    dag_id: str = Field(description="DAG id")
    run_id: str = Field(description="DAG run id")
    planner: str = Field(description="Planner that made the plan in force")
    status: str = Field(description="Plan status: optimal, feasible, repaired, fallback")
    objective_cost: float | None = Field(None, description="Expected USD of the plan")
    on_demand_cost: float | None = Field(None, description="Expected USD of the run planned all on-demand")
    actual_cost: float = Field(0.0, description="USD of the recorded tries so far")
    created_at: datetime = Field(description="When the plan was made (UTC)")


class RunsPage(BaseModel):
    runs: list[RunOut] = Field(description="Planned runs, newest first")
    total_entries: int = Field(description="Runs matching the filter (for pagination)")
