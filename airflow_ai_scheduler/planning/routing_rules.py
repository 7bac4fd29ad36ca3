"""What the executor's planning does to plans between planners and routing (pure: no Airflow).

- :func:`split_unmet`: the jobs no configured fleet can run (or whose budget no fleet meets) are taken out
  of the manifest with a reason naming the hint field; they run on their safe default fleet;
- :func:`merge_plans`: a re-plan of a run's unfinished tasks keeps the earlier placements of the others;
- :func:`violation_summary`: one line for a plan the validator rejected;
- :func:`apply_next_run`: a run planned with the settings someone chose for it in the UI's what-if.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow_ai_scheduler.models import Manifest, Plan, Weights

log = logging.getLogger(__name__)

#: how a plan's note marks a task no fleet could run (read back from a stored plan by :func:`unmet_from_notes`)
UNMET_SUFFIX = "; it runs on its safe default fleet"


def apply_next_run(manifest: Manifest, offers: list[Any], options: dict[str, Any], nxt: dict[str, Any]
                   ) -> tuple[Manifest, list[Any], dict[str, Any], str]:
    """A run planned with the settings someone chose in the UI for the DAG's next run (a what-if applied):
    planner, objective weights, allowed tiers / providers / regions. Returns (manifest, offers, options, note).
    Tasks whose hints the allowed fleets cannot meet then run on their safe default fleets, as unmet hints do."""
    s = nxt.get("settings") or {}
    said = []
    if s.get("weights"):
        # a weight left out (w_carbon from a what-if that kept it) stays the run's
        manifest = manifest.model_copy(update={"weights": Weights(**{**manifest.weights.model_dump(), **s["weights"]})})
        said.append("weights " + ", ".join(f"{k} {v:g}" for k, v in s["weights"].items()))
    kept = [o for o in offers if (not s.get("tiers") or o.tier in s["tiers"])
            and (not s.get("providers") or o.provider in s["providers"])
            and (not s.get("regions") or o.region in s["regions"] or o.location in s["regions"])]
    if s.get("tiers") or s.get("providers") or s.get("regions"):
        if kept:
            said.append("fleets " + ", ".join(o.offer_id for o in kept))
        else:
            log.warning("the next-run settings allow no configured fleet; planning with every fleet")
            said.append("no fleet matched the allowed tiers/providers/regions, so every fleet was allowed")
            kept = list(offers)
    if s.get("planner"):
        options = {**options, "ai_scheduler_planner": s["planner"]}
        said.append(f"planner {s['planner']}")
    note = f"planned with the settings {nxt.get('set_by') or 'someone'} chose in the UI: {'; '.join(said)}"
    return manifest.model_copy(update={"offers": kept}), kept, options, note


def noted(plan: Plan, note: str | None) -> Plan:
    return plan if not note or note in plan.notes else plan.model_copy(update={"notes": [*plan.notes, note]})


def merge_plans(previous: Plan | None, new: Plan, weights: Weights | None = None) -> Plan:
    """A re-plan covers only the run's unfinished tasks: keep the earlier placements of the others, so
    the run's plan stays complete (its objective adds their expected cost, weighted as configured)."""
    if previous is None:
        return new
    fresh = {p.job_id for p in new.placements}
    kept = [p for p in previous.placements if p.job_id not in fresh]
    if not kept:
        return new
    extra = sum(p.estimated_cost for p in kept)
    o = new.objective
    w = (weights or Weights()).cost
    objective = o.model_copy(update={"cost": round(o.cost + extra, 6), "total": round(o.total + extra * w, 6)})
    return new.model_copy(update={"placements": [*kept, *new.placements], "objective": objective,
                                  "notes": [*new.notes, f"re-planned {len(fresh)} unfinished task(s); kept "
                                                        f"{len(kept)} earlier placement(s)"]})


def violation_summary(plan: Plan, limit: int = 3) -> str:
    shown = "; ".join(f"{v.job_id or 'plan'}: {v.rule} ({v.detail})" for v in plan.violations[:limit])
    more = len(plan.violations) - limit
    return f"{len(plan.violations)} violation(s): {shown}" + (f"; and {more} more" if more > 0 else "")


def split_unmet(manifest: Manifest, offers: list[Any]) -> tuple[Manifest, dict[str, str]]:
    """(the manifest without the jobs no offer can run, job_id → why). A job's dependency on an unmet job
    is dropped (the unmet job still runs, on a safe default fleet, so its dependents still wait for it in
    Airflow); the plan's timing for them assumes it finishes at once."""
    from airflow_ai_scheduler.planning.candidates import fit_problem
    from airflow_ai_scheduler.planning.objective import Scorer

    unmet: dict[str, str] = {}
    for job in manifest.jobs:
        problems = [fit_problem(job, o) for o in offers]
        if all(problems):
            unmet[job.job_id] = unmet_reason(job, offers, problems)
    keep = without(manifest.jobs, unmet)
    if keep:
        scorer = Scorer(manifest.model_copy(update={"jobs": keep, "offers": list(offers)}), list(offers))
        for job in keep:
            cheapest = min((scorer.score(job, o, 0.0, {}).cost for o in offers if fit_problem(job, o) is None),
                           default=None)
            if job.budget_usd is not None and cheapest is not None and cheapest > job.budget_usd * (1 + 1e-3):
                unmet[job.job_id] = (f"budget_usd ${job.budget_usd:g} is below the cheapest fleet that can run it "
                                     f"(expected ${cheapest:.4g})")
    if not unmet:
        return manifest, {}
    return manifest.model_copy(update={"jobs": without(manifest.jobs, unmet)}), unmet


def without(jobs: list[Any], gone: dict[str, str]) -> list[Any]:
    return [j.model_copy(update={"dependencies": [d for d in j.dependencies if d not in gone]})
            for j in jobs if j.job_id not in gone]


def unmet_reason(job: Any, offers: list[Any], problems: list[str | None]) -> str:
    """Why no fleet can run ``job``, naming the hint field a DAG author wrote (``resources.gpus``,
    ``providers``, ``regions``, ``tiers``) and what the fleets offer instead."""
    r = job.resources
    checks = [
        ("resources.vcpus", r.vcpus, lambda o: o.vcpus >= r.vcpus, max(o.vcpus for o in offers), "vCPUs"),
        ("resources.memory_gib", r.memory_gib, lambda o: o.memory_gib >= r.memory_gib,
         max(o.memory_gib for o in offers), "GiB"),
        ("resources.gpus", r.gpus, lambda o: o.gpus >= r.gpus, max(o.gpus for o in offers), "GPUs"),
    ]
    said = [f"{name}={want:g}: the largest fleet has {best:g} {unit}" for name, want, ok, best, unit in checks
            if not any(ok(o) for o in offers)]
    for name, allowed, where in (("providers", job.allowed_providers, lambda o: o.provider),
                                 ("regions", job.allowed_regions, lambda o: o.region),
                                 ("tiers", job.allowed_tiers, lambda o: o.tier)):
        have = sorted({where(o) for o in offers})
        if allowed is not None and not any(where(o) in allowed or (name == "regions" and o.location in allowed)
                                           for o in offers):
            said.append(f"{name}={list(allowed)}: the fleets are on {have}")
    if not said:  # each hint alone can be met, not all together on one fleet
        distinct = sorted({str(p) for p in problems if p})
        said.append("no one fleet meets resources, providers, regions and tiers together (" +
                    "; ".join(distinct[:3]) + (f"; and {len(distinct) - 3} more" if len(distinct) > 3 else "") + ")")
    return "hint " + "; ".join(said)




def previous_placements(plan: Plan, replanned: set[str]) -> Plan | None:
    """The placements a fast plan kept from before a re-plan (so the slow plan keeps them too)."""
    kept = [p for p in plan.placements if p.job_id not in replanned]
    return plan.model_copy(update={"placements": kept}) if kept else None


def unmet_from_notes(plan: Plan) -> dict[str, str]:
    """The unmet tasks a stored plan recorded in its notes (``job: why; it runs on its safe default fleet``)."""
    out = {}
    for note in plan.notes:
        if note.endswith(UNMET_SUFFIX) and ": " in note:
            job, why = note[: -len(UNMET_SUFFIX)].split(": ", 1)
            out[job] = why
    return out
