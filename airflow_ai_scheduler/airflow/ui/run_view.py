"""What a run's page shows, assembled from the history tables: the plan, each try, and honest totals.

Pure reads over a :class:`~airflow_ai_scheduler.history.store.HistoryStore` (no Airflow import), shared by the
UI's JSON and the ``airflow ai-scheduler plan|report`` commands so that they cannot disagree.

Honest numbers: "actual" is what the recorded tries cost (measured runtime × the price at launch); its
reference is *the same tries at the on-demand price* of the same machine, not another plan. The plan's own
reference (the run planned all on-demand) is kept apart and called "planned".
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from airflow_ai_scheduler.models import Manifest, Plan

LEGEND = {
    "planned bar": "hatched: the window the plan gave the task (start → expected end)",
    "try bar": "solid: a try as it really ran (start → end), coloured by tier",
    "spot": "spot capacity: cheap, can be taken back (preempted)",
    "on-demand": "on-demand capacity: full price, not taken back",
    "✕ preempted": "the capacity was taken back while the try ran; the task was relaunched",
    "↻ relaunch": "a new attempt of the same try after a preemption (try N · attempt M)",
    "critical path": "outlined: the chain of tasks that decides when the run ends",
    "deadline": "dashed line: a task's deadline (red: hard)",
    "Ω (objective)": "what the planner minimises: cost + tardiness weight × hours late + risk weight × risk",
    "tardiness": "priority-weighted hours past deadlines the plan expects",
    "risk": "priority-weighted chance of a missed deadline or a spot interruption",
    "rework": "work redone after a spot interruption (from the last checkpoint, or from the start)",
    "λ": "expected spot interruptions per hour of a pool",
    "map index": "the instance of a mapped task ([n]); plain tasks have none",
}


def _iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, datetime) else v


def job_label(task_id: str, map_index: int) -> str:
    return task_id if map_index is None or map_index < 0 else f"{task_id}[{map_index}]"


def critical_path(plan: Plan, manifest: Manifest | None) -> list[str]:
    """The chain that ends last: from the latest-ending placement back through the dependency that ends
    latest (without a manifest, dependencies are unknown and the path is the last task alone)."""
    if not plan.placements:
        return []
    by_job = plan.placement_map
    deps = {j.job_id: j.dependencies for j in manifest.jobs} if manifest else {}
    cur = max(plan.placements, key=lambda p: (p.expected_end_time, p.job_id)).job_id
    path = [cur]
    while True:
        preds = [d for d in deps.get(cur, []) if d in by_job]
        if not preds:
            break
        cur = max(preds, key=lambda d: (by_job[d].expected_end_time, d))
        path.append(cur)
    return path[::-1]


class Prices:
    """On-demand price per hour of a machine (provider, region, instance type): the run's on-demand offers
    first, then the price catalog; and the date of the catalog snapshot the machines' prices come from."""

    def __init__(self, manifest: Manifest | None, catalog: Any = None) -> None:
        self.offers = {(o.provider, o.region, o.instance_type): o.price_per_hour
                       for o in (manifest.offers or []) if o.tier == "on-demand"} if manifest else {}
        self.rows = {(r.provider, r.region, r.instance_type): r for r in (catalog.rows if catalog else [])}
        self.as_of: set[str] = set()

    def on_demand(self, provider: str | None, region: str | None, instance_type: str | None) -> float | None:
        if not provider:
            return None
        key = (provider, region, instance_type)
        row = self.rows.get(key)  # type: ignore[arg-type]
        if row is not None and row.as_of:
            self.as_of.add(row.as_of)
        if key in self.offers:
            return self.offers[key]
        return float(row.on_demand_usd_per_hour) if row is not None else None


def number_tries(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chronological tries, each numbered within its Airflow try: a preempted attempt and its relaunch share
    ``try_number`` and differ in ``attempt`` (1, 2, ...)."""
    def when(r: dict[str, Any]) -> tuple[Any, ...]:
        t = r.get("actual_start") or r.get("actual_end") or r.get("recorded_at")
        return (t is None, t.timestamp() if t else 0.0, r["id"])

    ordered = sorted(rows, key=when)
    seen: dict[tuple[str, int, int], int] = defaultdict(int)
    for r in ordered:
        k = (r["task_id"], r["map_index"], r["try_number"])
        seen[k] += 1
        r["attempt"] = seen[k]
    counts = dict(seen)
    for r in ordered:
        n = counts[(r["task_id"], r["map_index"], r["try_number"])]
        r["label"] = f"try {r['try_number']}" + (f" · attempt {r['attempt']}" if n > 1 else "")
        r["relaunch"] = r["attempt"] > 1
    return ordered


def run_view(store: Any, dag_id: str, run_id: str, *, catalog: Any = None) -> dict[str, Any] | None:
    """Everything a run's page shows (None when the run has neither a plan nor a recorded try)."""
    stored = store.latest_plan(dag_id, run_id)
    rows = store.history(dag_id, run_id=run_id, limit=10_000)
    if stored is None and not rows:
        return None
    manifest = None
    if stored is not None:
        raw = store.manifest_json(stored.id)
        manifest = Manifest.model_validate_json(raw) if raw else None
    prices = Prices(manifest, catalog)
    plan = stored.plan if stored else None
    jobs = manifest.job_map if manifest else {}
    crit = set(critical_path(plan, manifest)) if plan else set()
    placements = []
    for p in sorted(plan.placements if plan else [], key=lambda p: (p.start_time, p.job_id)):
        job = jobs.get(p.job_id)
        placements.append({
            "job_id": p.job_id, "fleet": p.offer_id, "tier": p.tier, "provider": p.provider, "region": p.region,
            "instance_type": p.instance_type, "planned_start": _iso(p.start_time),
            "planned_end": _iso(p.expected_end_time), "planned_cost": p.estimated_cost, "rationale": p.rationale,
            "critical": p.job_id in crit, "deadline": _iso(job.deadline) if job and job.deadline else None,
            "hard_deadline": bool(job and job.hard_deadline),
            "dependencies": list(job.dependencies) if job else [],
            "on_demand_price_per_hour": prices.on_demand(p.provider, p.region, p.instance_type),
            **{k: v for k, v in p.model_dump().items() if "carbon" in k or "co2" in k.lower()},
        })
    planned = {p["job_id"]: p for p in placements}
    tries = []
    for r in number_tries(rows):
        job = job_label(r["task_id"], r["map_index"])
        p = planned.get(job) or planned.get(r["task_id"])
        hours = (r.get("runtime_seconds") or 0.0) / 3600.0
        od_price = prices.on_demand(r.get("provider"), r.get("region"), r.get("instance_type"))
        tries.append({
            "job_id": job, "task_id": r["task_id"], "map_index": r["map_index"], "try_number": r["try_number"],
            "attempt": r["attempt"], "label": r["label"], "relaunch": r["relaunch"], "fleet": r.get("fleet"),
            "tier": r.get("tier"), "provider": r.get("provider"), "region": r.get("region"),
            "instance_type": r.get("instance_type"), "outcome": r["outcome"],
            "actual_start": _iso(r.get("actual_start")), "actual_end": _iso(r.get("actual_end")),
            "runtime_seconds": round(r.get("runtime_seconds") or 0.0, 1),
            "price_per_hour": r.get("price_per_hour_at_launch"), "actual_cost": r.get("actual_cost") or 0.0,
            "on_demand_price_per_hour": od_price,
            "on_demand_cost": None if od_price is None else round(hours * od_price, 9),
            "planned_fleet": p["fleet"] if p else None, "planned_cost": p["planned_cost"] if p else None,
            "rationale": p["rationale"] if p else "",
            **{k: v for k, v in r.items() if ("carbon" in k or "co2" in k.lower()) and v is not None},
        })
    return {"dag_id": dag_id, "run_id": run_id, "plan": _plan_head(stored, plan), "placements": placements,
            "tries": tries, "critical_path": [j for j in critical_path(plan, manifest)] if plan else [],
            "summary": {**summarize(stored, tries), "budget_usd": manifest.budget_usd if manifest else None}, "catalog_as_of": sorted(prices.as_of)[-1] if prices.as_of else None,
            "legend": LEGEND}


def _plan_head(stored: Any, plan: Plan | None) -> dict[str, Any] | None:
    if stored is None or plan is None:
        return None
    o = plan.objective
    return {"id": stored.id, "planner": plan.planner, "status": plan.status, "created_at": _iso(stored.created_at),
            "objective": {"total": o.total, "cost": o.cost, "tardiness_hours": o.tardiness, "risk": o.risk},
            "planning_seconds": plan.planning_seconds, "gap": plan.gap, "notes": list(plan.notes),
            "llm_exchange_id": stored.llm_exchange_id}


def summarize(stored: Any, tries: list[dict[str, Any]]) -> dict[str, Any]:
    """The totals both the run page and the CLI print."""
    planned = stored.plan.objective.cost if stored else None
    od_planned = stored.on_demand_cost if stored else None
    actual = sum(t["actual_cost"] for t in tries)
    od_known = [t for t in tries if t["on_demand_cost"] is not None]
    od_actual = sum(t["on_demand_cost"] for t in od_known) if tries and len(od_known) == len(tries) else None
    return {
        "planned_cost": planned, "on_demand_planned_cost": od_planned,
        "planned_saving_pct": (100 * (od_planned - planned) / od_planned) if od_planned and planned is not None
        else None,
        "actual_cost": actual, "actual_on_demand_cost": od_actual,
        "actual_saving": None if od_actual is None else od_actual - actual,
        "actual_saving_pct": (100 * (od_actual - actual) / od_actual) if od_actual else None,
        "tries": len(tries), "preemptions": sum(1 for t in tries if t["outcome"] == "preempted"),
        "runtime_seconds": round(sum(t["runtime_seconds"] for t in tries), 1),
    }
