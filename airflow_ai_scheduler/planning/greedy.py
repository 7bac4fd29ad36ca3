"""The fast planner: list scheduling with the smallest marginal Ω per job.

Jobs are taken in topological order; among the jobs whose dependencies are placed, the most important
(priority) and then the most urgent (least latest start) goes first. For each job every candidate offer
(planning/candidates.py) is tried at its earliest feasible start — after its dependencies' expected ends
plus transfer time, when a slot of the pool is free — and, for offers with time-varying prices, at each
later price change before the job's latest useful finish. The cheapest Ω wins. Capacity is tracked per pool
as ``capacity`` machines, each busy until a time, so no pool is ever over-subscribed.

The same machinery prices any given set of choices (:func:`build_plan`): the LLM planner and the CP-SAT
repair turn decisions into a priced, explained :class:`Plan` through it.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping
from datetime import datetime, timedelta

from airflow_ai_scheduler.exceptions import InfeasiblePlanError
from airflow_ai_scheduler.models import Job, Manifest, Offer, Placement, Plan
from airflow_ai_scheduler.planning.base import Choice, Stopwatch, resolve_offers
from airflow_ai_scheduler.planning.candidates import CandidateIndex
from airflow_ai_scheduler.planning.objective import (
    JobScore,
    Scorer,
    duration_sigma,
    egress_rate,
    expected_runtime,
    restart_overhead,
)

_EPS = 1e-9


class PoolState:
    """Per-pool machines (``capacity`` of them), each free from some time; unlimited pools need none."""

    def __init__(self) -> None:
        self._free: dict[str, list[float]] = {}

    def earliest(self, offer: Offer, t: float) -> float:
        if offer.capacity is None:
            return t
        free = self._free.get(offer.offer_id)
        if free is None or len(free) < offer.capacity:
            return t
        return max(t, min(free))

    def take(self, offer: Offer, start: float, end: float) -> None:
        if offer.capacity is None:
            return
        free = self._free.setdefault(offer.offer_id, [])
        if len(free) < offer.capacity:
            free.append(end)
            return
        # the busiest machine that is free by ``start`` (best fit keeps earlier gaps for others); a
        # given start that finds none (priced choices, not planned ones) overlaps: the validator says so
        ready = [k for k, f in enumerate(free) if f <= start + _EPS]
        i = max(ready, key=lambda k: free[k]) if ready else min(range(len(free)), key=lambda k: free[k])
        free[i] = max(free[i], end)


def latest_finish(manifest: Manifest, scorer: Scorer, margin_sigmas: float = 0.0) -> dict[str, float]:
    """Latest finish (hours) of each job that lets it and its dependents meet their deadlines — each deadline
    taken ``margin_sigmas`` standard deviations of its job's duration early."""
    children: dict[str, list[Job]] = {j.job_id: [] for j in manifest.jobs}
    for j in manifest.jobs:
        for d in j.dependencies:
            children[d].append(j)
    lf: dict[str, float] = {}
    for job in reversed(scorer.order):
        own = scorer.deadline_h[job.job_id]
        if own is not None and margin_sigmas:
            own -= margin_sigmas * duration_sigma(job, job.estimated_duration_hours)
        best = math.inf if own is None else own
        for c in children[job.job_id]:
            best = min(best, lf[c.job_id] - c.estimated_duration_hours)
        lf[job.job_id] = best
    return lf


def effective_deadlines(manifest: Manifest, offers: list[Offer] | None = None,
                        margin_hours: float = 0.0) -> dict[str, datetime | None]:
    """Each job's deadline for recovery decisions: its own, or earlier when a dependent needs it — the
    latest finish that still lets every dependent meet its own deadline when it starts right after (its
    restart overhead, its estimated duration and ``margin_hours`` per hop: the decision step). A job with no
    deadline of its own upstream of one with a deadline must not wait for spot past that point."""
    scorer = Scorer(manifest, resolve_offers(manifest, offers))
    children: dict[str, list[Job]] = {j.job_id: [] for j in manifest.jobs}
    for j in manifest.jobs:
        for d in j.dependencies:
            children[d].append(j)
    lf: dict[str, float] = {}
    for job in reversed(scorer.order):
        own = scorer.deadline_h[job.job_id]
        best = math.inf if own is None else own
        for c in children[job.job_id]:
            best = min(best, lf[c.job_id] - c.estimated_duration_hours - restart_overhead(c) - margin_hours)
        lf[job.job_id] = best
    return {j: (manifest.now + timedelta(hours=h) if math.isfinite(h) else None) for j, h in lf.items()}


class _Scheduler:
    """State shared by greedy planning and by pricing given choices."""

    def __init__(self, manifest: Manifest, offers: list[Offer]) -> None:
        self.manifest = manifest
        self.scorer = Scorer(manifest, offers)
        self.pools = PoolState()
        self.location_of: dict[str, str] = {}
        self.scores: dict[str, JobScore] = {}
        self.offer_of: dict[str, Offer] = {}

    def ready_time(self, job: Job, offer: Offer) -> float:
        t = 0.0
        for d in job.dependencies:
            dep = self.scores[d]
            t = max(t, dep.end + self.scorer.dependency_transfer_hours(job, self.location_of[d], offer))
        _, data_hours = self.scorer.egress(job, offer, self.location_of)
        return max(t, data_hours)

    def evaluate(self, job: Job, offer: Offer, lf: float) -> tuple[float, JobScore]:
        """Best (Ω, score) of ``job`` on ``offer`` over its candidate start times."""
        earliest = self.pools.earliest(offer, self.ready_time(job, offer))
        starts = [earliest]
        curve = self.scorer.curve(offer)
        if not curve.constant:
            runtime = expected_runtime(job, offer)
            horizon = lf - runtime if math.isfinite(lf) else math.inf
            starts += [self.pools.earliest(offer, b) for b in curve.breakpoints_after(earliest) if b <= horizon]
        best: tuple[float, JobScore] | None = None
        for s in starts:
            sc = self.scorer.score(job, offer, s, self.location_of)
            omega = self.scorer.omega(sc)
            if math.isfinite(lf) and sc.end > lf + _EPS:  # steer away from making dependents late
                omega += self.scorer.weights.tardiness * (sc.end - lf)
            if best is None or omega < best[0] - _EPS:
                best = (omega, sc)
        assert best is not None
        return best

    def commit(self, job: Job, offer: Offer, score: JobScore) -> None:
        self.pools.take(offer, score.start, score.end)
        self.scores[job.job_id] = score
        self.offer_of[job.job_id] = offer
        self.location_of[job.job_id] = offer.location

    def to_plan(self, planner: str, watch: Stopwatch, **extra: object) -> Plan:
        placements = [self.placement(job) for job in self.manifest.jobs if job.job_id in self.scores]
        return Plan(planner=planner, placements=placements,
                    objective=self.scorer.objective(list(self.scores.values())),
                    planning_seconds=watch.seconds, manifest_hash=self.manifest.content_hash(), **extra)

    def placement(self, job: Job) -> Placement:
        offer, sc = self.offer_of[job.job_id], self.scores[job.job_id]
        return Placement(
            job_id=job.job_id, offer_id=offer.offer_id, provider=offer.provider, region=offer.region,
            instance_type=offer.instance_type, tier=offer.tier, start_time=self.manifest.at(sc.start),
            expected_end_time=self.manifest.at(sc.end), estimated_cost=round(sc.cost, 6),
            rationale=rationale(self.scorer, job, offer, sc),
        )


def rationale(scorer: Scorer, job: Job, offer: Offer, sc: JobScore) -> str:
    """One line a person can check: what, why (price, risk), and how it stands against its deadline."""
    curve = scorer.curve(offer)
    parts = [f"{offer.tier} {offer.instance_type} in {offer.location} at ${curve.price_at(sc.start):.4g}/h"]
    if offer.tier == "spot" and offer.interruption_rate_per_hour > 0:
        rework = sc.runtime - job.estimated_duration_hours
        parts.append(f"λ={offer.interruption_rate_per_hour:.3g}/h adds {rework * 60:.1f} min expected rework"
                     + (" (checkpointed)" if job.is_checkpointable else ""))
    if sc.start > 1e-6:
        parts.append(f"starts +{sc.start:.2f} h")
    if sc.egress_cost > 0:
        parts.append(f"egress ${sc.egress_cost:.2f}")
    deadline = scorer.deadline_h[job.job_id]
    if deadline is not None:
        slack = deadline - sc.end
        parts.append(f"{slack:.2f} h before its deadline" if slack >= 0 else f"{-slack:.2f} h LATE")
    parts.append(f"expected ${sc.cost:.4g}")
    return "; ".join(parts)


class GreedyPlanner:
    """Marginal-Ω list scheduling; plans 10,000 jobs in seconds (bench/README.md)."""

    name = "greedy"

    def __init__(self, prune: bool = True, lookahead: Mapping[str, str] | None = None,
                 margin_sigmas: float = 0.0) -> None:
        """``lookahead``: job → the location its dependents should expect its output at (the CP-SAT
        planner's location labelling). A job's marginal Ω then includes the egress its data-moving
        dependents would pay from each offer's location to theirs, so chains of data stay together
        unless capacity makes moving cheaper — plain greedy, which sees only the egress already
        committed, scatters them.

        ``margin_sigmas``: plan every job to finish by its latest finish computed from deadlines taken that
        many σ early. Greedy lets a job without a deadline wait for a cheaper pool up to its latest finish,
        so the job with the deadline ends *at* it (P(miss) ½); on a wide fan-out into one exit task that wait
        saves cents and costs half a missed deadline. The CP-SAT planner tries such variants as warm starts."""
        self.prune = prune
        self.lookahead = dict(lookahead or {})
        self.margin_sigmas = margin_sigmas

    def plan(self, manifest: Manifest, offers: list[Offer] | None = None) -> Plan:
        watch = Stopwatch()
        offers = resolve_offers(manifest, offers)
        sched = _Scheduler(manifest, offers)
        cands = CandidateIndex(manifest, offers, prune=self.prune)
        lf = latest_finish(manifest, sched.scorer, self.margin_sigmas)
        outputs = self._outputs(manifest) if self.lookahead else {}
        eg, wc = manifest.egress, manifest.weights.cost
        for job in self._order(manifest, lf):
            options = cands.for_job(job)
            if not options:
                raise InfeasiblePlanError([cands.why_none(job)])
            best: tuple[float, Offer, JobScore] | None = None
            sends = outputs.get(job.job_id, ())
            for offer in options:
                omega, sc = sched.evaluate(job, offer, lf[job.job_id])
                omega += wc * sum(gb * egress_rate(eg, offer.location, loc) for loc, gb in sends)
                if best is None or omega < best[0] - _EPS:
                    best = (omega, offer, sc)
            assert best is not None
            sched.commit(job, best[1], best[2])
        return sched.to_plan(self.name, watch)

    def _outputs(self, manifest: Manifest) -> dict[str, list[tuple[str, float]]]:
        """job → (expected location, GB) of each dependent that takes a share of its output."""
        out: dict[str, list[tuple[str, float]]] = {}
        for j in manifest.jobs:
            if j.input_data_size_gb <= 0 or j.data_region or not j.dependencies or j.job_id not in self.lookahead:
                continue
            share = j.input_data_size_gb / len(j.dependencies)
            for d in j.dependencies:
                out.setdefault(d, []).append((self.lookahead[j.job_id], share))
        return out

    @staticmethod
    def _order(manifest: Manifest, lf: dict[str, float]) -> list[Job]:
        jobs = manifest.jobs
        index = {j.job_id: i for i, j in enumerate(jobs)}
        indeg = {j.job_id: len(j.dependencies) for j in jobs}
        children: dict[str, list[str]] = {j.job_id: [] for j in jobs}
        for j in jobs:
            for d in j.dependencies:
                children[d].append(j.job_id)

        def key(j: Job) -> tuple[float, float, int]:
            return (-j.priority, lf[j.job_id] - j.estimated_duration_hours, index[j.job_id])

        heap = [(key(j), j.job_id) for j in jobs if indeg[j.job_id] == 0]
        heapq.heapify(heap)
        by_id = {j.job_id: j for j in jobs}
        out: list[Job] = []
        while heap:
            _, jid = heapq.heappop(heap)
            out.append(by_id[jid])
            for c in children[jid]:
                indeg[c] -= 1
                if indeg[c] == 0:
                    heapq.heappush(heap, (key(by_id[c]), c))
        return out


def build_plan(manifest: Manifest, offers: list[Offer], choices: Mapping[str, Choice], *,
               planner: str, **extra: object) -> Plan:
    """Price and explain the given choices as a Plan (no checks: :func:`validate` judges it).

    A choice without a start time starts as early as its dependencies and its pool allow. Jobs without a
    choice, or whose offer is unknown, are left out (the validator reports them missing).
    """
    watch = Stopwatch()
    sched = _Scheduler(manifest, offers)
    for job in sched.scorer.order:
        choice = choices.get(job.job_id)
        offer = sched.scorer.offer_map.get(choice.offer_id) if choice else None
        if choice is None or offer is None:
            continue
        if any(d not in sched.scores for d in job.dependencies):
            start = max(0.0, choice.start_hours or 0.0)
        elif choice.start_hours is None:
            start = sched.pools.earliest(offer, sched.ready_time(job, offer))
        else:
            start = choice.start_hours
        sc = sched.scorer.score(job, offer, start, sched.location_of)
        sched.commit(job, offer, sc)
    return sched.to_plan(planner, watch, **extra)
