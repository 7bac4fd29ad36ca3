"""Readable reasons a CP-SAT model is infeasible: hard deadlines, budgets, capacity."""

from __future__ import annotations

from collections.abc import Mapping

from airflow_ai_scheduler.models import Manifest, Offer
from airflow_ai_scheduler.planning.base import Choice
from airflow_ai_scheduler.planning.candidates import CandidateIndex
from airflow_ai_scheduler.planning.objective import Scorer, expected_runtime


def diagnose(manifest: Manifest, offers: list[Offer], cands: CandidateIndex, fixed: Mapping[str, Choice],
             step_h: float) -> list[str]:
    """Readable reasons a model is infeasible: hard deadlines, budgets, capacity."""
    scorer = Scorer(manifest, offers)
    reasons: list[str] = []
    earliest: dict[str, float] = {}
    chain: dict[str, list[str]] = {}
    for job in scorer.order:
        opts = [scorer.offer_map[fixed[job.job_id].offer_id]] if job.job_id in fixed else cands.for_job(job)
        ready, via = 0.0, []
        for d in job.dependencies:
            if earliest[d] > ready:
                ready, via = earliest[d], chain[d]
        fastest = min(expected_runtime(job, o) for o in opts)
        earliest[job.job_id] = ready + fastest
        chain[job.job_id] = [*via, job.job_id]
        dl = scorer.deadline_h[job.job_id]
        if job.hard_deadline and dl is not None and earliest[job.job_id] > dl + step_h:
            reasons.append(f"job {job.job_id!r}: hard deadline {job.deadline.isoformat() if job.deadline else ''} "
                           f"is {earliest[job.job_id] - dl:.2f} h before the earliest possible end, even on the "
                           f"fastest offers with unlimited capacity (chain {' -> '.join(chain[job.job_id])})")
        cheapest = min(scorer.curve(o).integral(0, expected_runtime(job, o)) for o in opts)
        if job.budget_usd is not None and cheapest > job.budget_usd:
            reasons.append(f"job {job.job_id!r}: budgetUsd ${job.budget_usd} is below its cheapest offer (${cheapest:.4f})")
    if manifest.budget_usd is not None:
        floor = sum(min(scorer.curve(o).integral(0, expected_runtime(j, o)) for o in cands.for_job(j))
                    for j in manifest.jobs if cands.for_job(j))
        if floor > manifest.budget_usd:
            reasons.append(f"manifest budgetUsd ${manifest.budget_usd} is below the cheapest possible plan (${floor:.2f})")
    if not reasons:
        hard = any(j.hard_deadline and j.deadline is not None for j in manifest.jobs)
        what = ("the limited-capacity pools cannot fit every job before its hard deadline" if hard else
                "no schedule fits the limited-capacity pools within the model's horizon (no job has a hard "
                "deadline; soft deadlines are priced, never a cause)")
        reasons.append(f"{what} (or the fixed choices {sorted(fixed)} conflict)" if fixed else what)
    return reasons
