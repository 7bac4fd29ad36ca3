"""The validator every plan passes through, whoever made it (greedy, CP-SAT, an LLM, a user's file).

It never asserts and never raises on a bad plan: it returns one :class:`Violation` (job, rule, detail) per
problem. Rules:

``unknown_job`` a placement for a job not in the manifest · ``duplicate`` a job placed twice ·
``missing`` a job not placed · ``unknown_offer`` · ``mismatch`` provider/region/type/tier differ from the
offer · ``resources`` / ``not_allowed`` the offer does not fit or is not allowed · ``start_before_now`` ·
``dependency`` starts before a dependency's expected end plus transfer time · ``capacity`` a pool runs
more instances than its capacity · ``budget`` a job's expected cost over its budgetUsd ·
``plan_budget`` the plan's cost over the manifest's budgetUsd · ``carbon_budget`` the plan's kg CO2e over
the manifest's carbonBudgetKg · ``latency`` the offer's region is farther (p95) from the job's endpointRegion
than its maxLatencyMs · ``hard_deadline`` expected end after a hard deadline · ``inconsistent`` the stated
end, cost or CO2e differs from the objective's own computation. ``capacity`` covers pools and commitments
(reserved instances at once; a savings plan's USD per hour).
"""

from __future__ import annotations

from collections import Counter, defaultdict

from airflow_ai_scheduler.models import Manifest, Offer, Plan, Violation
from airflow_ai_scheduler.planning.candidates import fit_problem, latency_problem
from airflow_ai_scheduler.planning.objective import Scorer

#: float slack for time comparisons, in hours (≈ 0.04 s)
TIME_TOLERANCE_HOURS = 1e-5
#: relative tolerance on stated costs and ends
COST_TOLERANCE = 1e-3


def validate(manifest: Manifest, plan: Plan, offers: list[Offer], scorer: Scorer | None = None) -> list[Violation]:
    scorer = scorer or Scorer(manifest, offers)
    out: list[Violation] = []

    def bad(job_id: str | None, rule: str, detail: str) -> None:
        out.append(Violation(job_id=job_id, rule=rule, detail=detail))

    counts = Counter(p.job_id for p in plan.placements)
    for jid, n in counts.items():
        if jid not in scorer.jobs:
            bad(jid, "unknown_job", f"placement for {jid!r}, which is not a job of the manifest")
        elif n > 1:
            bad(jid, "duplicate", f"job {jid!r} is placed {n} times")
    for job in manifest.jobs:
        if job.job_id not in counts:
            bad(job.job_id, "missing", f"job {job.job_id!r} has no placement")

    placements = {p.job_id: p for p in plan.placements if p.job_id in scorer.jobs}
    out.extend(_offer_violations(scorer, placements))
    scores = scorer.score_plan(plan)
    out.extend(_timing_violations(manifest, scorer, scores, placements))
    if manifest.budget_usd is not None:
        total = sum(s.cost for s in scores.values())
        if total > manifest.budget_usd * (1 + COST_TOLERANCE):
            bad(None, "plan_budget", f"expected plan cost ${total:.2f} exceeds the manifest budgetUsd ${manifest.budget_usd:.2f}")
    if manifest.carbon_budget_kg is not None:
        co2 = sum(s.co2e_kg for s in scores.values())
        if co2 > manifest.carbon_budget_kg * (1 + COST_TOLERANCE) + 1e-9:
            bad(None, "carbon_budget", f"expected plan emissions {co2:.3f} kg CO2e exceed the manifest carbonBudgetKg "
                                       f"{manifest.carbon_budget_kg:.3f}")
    out.extend(_capacity_violations(scorer, scores, placements))
    return out


def _offer_violations(scorer: Scorer, placements: dict) -> list[Violation]:
    out: list[Violation] = []

    def bad(job_id: str | None, rule: str, detail: str) -> None:
        out.append(Violation(job_id=job_id, rule=rule, detail=detail))

    for jid, p in placements.items():
        offer = scorer.offer_for(p)
        if offer is None:
            bad(jid, "unknown_offer", f"offer {p.offer_id!r} does not exist" if p.commitment is None or
                p.offer_id not in scorer.offer_map else f"commitment {p.commitment!r} does not cover offer {p.offer_id!r}")
            continue
        stated = (p.provider, p.region, p.instance_type, p.tier)
        actual = (offer.provider, offer.region, offer.instance_type, offer.tier)
        if stated != actual:
            bad(jid, "mismatch", f"placement says {'/'.join(stated)} but offer {offer.offer_id!r} is {'/'.join(actual)}")
        problem = fit_problem(scorer.jobs[jid], offer, scorer.latency.p95_ms)
        if problem:
            rule = ("latency" if problem == latency_problem(scorer.jobs[jid], offer, scorer.latency.p95_ms)
                    else "resources" if problem[0].isdigit() or problem.startswith("GPU") else "not_allowed")
            bad(jid, rule, f"offer {offer.offer_id!r}: {problem}")
    return out


def _timing_violations(manifest: Manifest, scorer: Scorer, scores: dict, placements: dict) -> list[Violation]:
    out: list[Violation] = []

    def bad(job_id: str | None, rule: str, detail: str) -> None:
        out.append(Violation(job_id=job_id, rule=rule, detail=detail))

    for jid, sc in scores.items():
        job, p = scorer.jobs[jid], placements[jid]
        if sc.start < -TIME_TOLERANCE_HOURS:
            bad(jid, "start_before_now", f"starts {p.start_time.isoformat()}, before now {manifest.now.isoformat()}")
        offer = scorer.offer_for(p)
        for d in job.dependencies:
            dep = scores.get(d)
            if dep is None:
                continue
            loc = f"{placements[d].provider}:{placements[d].region}"
            ready = dep.end + scorer.dependency_transfer_hours(job, loc, offer)
            if sc.start < ready - TIME_TOLERANCE_HOURS:
                bad(jid, "dependency", f"starts {(ready - sc.start) * 60:.1f} min before dependency {d!r} "
                                       "is expected to finish (plus data transfer)")
        _, data_hours = scorer.egress(job, offer, {})
        if sc.start < data_hours - TIME_TOLERANCE_HOURS:
            bad(jid, "dependency", f"starts before its input from {job.data_region} can arrive ({data_hours:.2f} h)")
        if job.budget_usd is not None and sc.cost > job.budget_usd * (1 + COST_TOLERANCE):
            bad(jid, "budget", f"expected cost ${sc.cost:.4f} exceeds budgetUsd ${job.budget_usd:.4f}")
        deadline = scorer.deadline_h[jid]
        if job.hard_deadline and deadline is not None and sc.end > deadline + TIME_TOLERANCE_HOURS:
            bad(jid, "hard_deadline", f"expected end {manifest.at(sc.end).isoformat()} is after its hard "
                                      f"deadline {job.deadline.isoformat() if job.deadline else ''}")
        stated_end = manifest.hours(p.expected_end_time)
        if abs(stated_end - sc.end) > max(TIME_TOLERANCE_HOURS * 30, COST_TOLERANCE * sc.runtime):
            bad(jid, "inconsistent", f"expectedEndTime is {stated_end - sc.end:+.3f} h off the expected runtime")
        if abs(p.estimated_cost - sc.cost) > max(1e-6, COST_TOLERANCE * sc.cost):
            bad(jid, "inconsistent", f"estimatedCost ${p.estimated_cost:.6f} but the objective computes ${sc.cost:.6f}")
        if p.estimated_co2e_kg is not None and abs(p.estimated_co2e_kg - sc.co2e_kg) > max(1e-6, COST_TOLERANCE * sc.co2e_kg):
            bad(jid, "inconsistent", f"estimatedCo2eKg {p.estimated_co2e_kg:.6f} but the objective computes "
                                     f"{sc.co2e_kg:.6f}")
    return out


def _capacity_violations(scorer: Scorer, scores: dict, placements: dict) -> list[Violation]:
    events: dict[str, list[tuple[float, int, str, float]]] = defaultdict(list)
    capacity: dict[str, float] = {}
    for jid, sc in scores.items():
        for r in scorer.resources.of(scorer.offer_for(placements[jid])):
            capacity[r.resource_id] = r.capacity
            # ends sort before starts at the same instant: back-to-back use of one slot is fine
            events[r.resource_id].append((sc.start + TIME_TOLERANCE_HOURS, 1, jid, r.demand))
            events[r.resource_id].append((sc.end, 0, jid, r.demand))
    out = []
    for rid, evs in events.items():
        cap = capacity[rid]
        running = 0.0
        for t, kind, jid, d in sorted(evs):
            running += d if kind else -d
            if kind and running > cap + 1e-9:
                what = (f"commitment {rid[1:]!r} would be used {running:g}" if rid.startswith("@")
                        else f"pool {rid!r} would run {running:g} instances")
                out.append(Violation(job_id=jid, rule="capacity",
                                     detail=f"{what} at +{t:.2f} h, capacity {cap:g}"))
    return out


def check(manifest: Manifest, plan: Plan, offers: list[Offer]) -> Plan:
    """The plan with its ``violations`` filled in (and status ``invalid`` when there are any), and the use of
    each commitment (planning/commitments.py) when the manifest has any."""
    violations = validate(manifest, plan, offers)
    update: dict[str, object] = {"violations": violations}
    if manifest.commitments:
        from airflow_ai_scheduler.planning.commitments import commitment_report

        update["commitments"] = commitment_report(manifest, plan, offers)
    if violations:
        update["status"] = "invalid"
    return plan.model_copy(update=update)
