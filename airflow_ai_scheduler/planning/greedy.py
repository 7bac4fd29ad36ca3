"""The fast planner: list scheduling with the smallest marginal Ω per job.

Jobs are taken in topological order; among the jobs whose dependencies are placed, the most important
(priority) and then the most urgent (least latest start) goes first. For each job every candidate offer
(planning/candidates.py) is tried at its earliest feasible start — after its dependencies' expected ends
plus transfer time, when a slot of the pool is free — and, for offers with time-varying prices, at each
later price change before the job's latest useful finish. The cheapest Ω wins. Capacity is tracked per pool
as ``capacity`` machines, each busy until a time, so no pool is ever over-subscribed.

Speed (10,000 jobs × ~40 candidates each): a job's runtime, P_int and σ are computed once per distinct λ
(and vCPU count, when elastic) among its candidates, its ready time and egress once per location, and an
offer is evaluated in full only while its *floor* — lowest price over the whole runtime, egress, P_int,
lateness at the ready time, all terms Ω can only exceed — is below the best Ω found so far (about 2 of 40
candidates per job on the benchmarks). The winner is the one a scan in candidate order would keep, so
the plan is the same as evaluating every candidate (tests/planning/test_greedy.py checks it).

The same machinery prices any given set of choices (:func:`build_plan`): the LLM planner and the CP-SAT
repair turn decisions into a priced, explained :class:`Plan` through it.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from airflow_ai_scheduler.models import Job, Manifest, Offer, Placement, Plan
from airflow_ai_scheduler.planning.base import Choice, Stopwatch, resolve_offers
from airflow_ai_scheduler.planning.candidates import CandidateIndex
from airflow_ai_scheduler.planning.commitments import split
from airflow_ai_scheduler.planning.objective import (
    JobScore,
    JobTerms,
    OfferTerms,
    Scorer,
    duration_sigma,
    expected_runtime,
    restart_overhead,
    transfer_hours,
    within_budget,
)
from airflow_ai_scheduler.planning.pools import _EPS, PoolState

__all__ = ["GreedyPlanner", "PoolState", "build_plan", "effective_deadlines", "latest_finish"]


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
        self.pools = PoolState(self.scorer.resources)
        self.location_of: dict[str, str] = {}
        self.scores: dict[str, JobScore] = {}
        self.offer_of: dict[str, Offer] = {}

    def ready_time(self, job: Job, offer: Offer) -> float:
        return self.ready_at(job, offer.location)

    def ready_at(self, job: Job, location: str) -> float:
        """Earliest start of ``job`` at ``location``: its dependencies' expected ends plus the transfer of
        their output (when it moves data from them), and the arrival of its input from ``dataRegion``."""
        scorer, t = self.scorer, 0.0
        if job.data_region or job.input_data_size_gb <= 0 or not job.dependencies:
            for d in job.dependencies:
                end = self.scores[d].end
                if end > t:
                    t = end
        else:
            eg = scorer.manifest.egress
            share = job.input_data_size_gb / len(job.dependencies)
            for d in job.dependencies:
                t = max(t, self.scores[d].end + transfer_hours(eg, share, self.location_of[d], location))
        if job.data_region and job.input_data_size_gb > 0:
            t = max(t, transfer_hours(scorer.manifest.egress, job.input_data_size_gb, job.data_region, location))
        return t

    def evaluate(self, job: Job, offer: Offer, lf: float) -> tuple[float, JobScore]:
        """Best (Ω, score) of ``job`` on ``offer`` over its candidate start times."""
        egress_cost, _ = self.scorer.egress(job, offer, self.location_of)
        return self.evaluate_terms(self.scorer.job_terms(job), self.scorer.offer_terms(job, offer),
                                   self.ready_time(job, offer), egress_cost, lf)

    def evaluate_terms(self, jt: JobTerms, ot: OfferTerms, ready: float, egress_cost: float,
                       lf: float) -> tuple[float, JobScore]:
        """:meth:`evaluate` from precomputed terms: ``ready`` and ``egress_cost`` at the offer's location."""
        offer, scorer = ot.offer, self.scorer
        earliest = self.pools.earliest(offer, ready, ot.runtime)
        sc = scorer.score_terms(jt, ot, earliest, egress_cost)
        best = (self._omega(sc, lf), sc)
        curve = ot.curve
        breaks = [] if len(curve.times) == 1 else curve.breakpoints_after(earliest)
        if scorer.weights.carbon > 0 and len(ot.carbon.times) > 1:  # a greener hour may be worth the wait
            breaks = sorted({*breaks, *ot.carbon.breakpoints_after(earliest)})
        if breaks:
            horizon = lf - ot.runtime if math.isfinite(lf) else math.inf
            for b in breaks:
                if b > horizon:
                    continue
                sc = scorer.score_terms(jt, ot, self.pools.earliest(offer, b, ot.runtime), egress_cost)
                omega = self._omega(sc, lf)
                if omega < best[0] - _EPS:
                    best = (omega, sc)
        return best

    def _omega(self, sc: JobScore, lf: float) -> float:
        omega = self.scorer.omega(sc)
        if sc.end > lf + _EPS:  # steer away from making dependents late (lf = inf: never)
            omega += self.scorer.weights.tardiness * (sc.end - lf)
        return omega

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
        base, commitment = split(offer.offer_id)
        # built from values this module computed (UTC times, non-negative costs): no re-validation, which was
        # a tenth of planning 10,000 jobs
        return Placement.model_construct(
            job_id=job.job_id, offer_id=base, provider=offer.provider, region=offer.region,
            instance_type=offer.instance_type, tier=offer.tier, start_time=self.manifest.at(sc.start),
            expected_end_time=self.manifest.at(sc.end), estimated_cost=round(sc.cost, 6),
            estimated_co2e_kg=round(sc.co2e_kg, 6), commitment=commitment,
            rationale=rationale(self.scorer, job, offer, sc),
        )


def rationale(scorer: Scorer, job: Job, offer: Offer, sc: JobScore) -> str:
    """One line a person can check: what, why (price, risk), and how it stands against its deadline."""
    curve = scorer.curve(offer)
    _, commitment = split(offer.offer_id)
    parts = [f"{offer.tier} {offer.instance_type} in {offer.location} "
             + (f"on commitment {commitment} (marginal $0/h)" if commitment else f"at ${curve.price_at(sc.start):.4g}/h")]
    if offer.tier == "spot" and offer.interruption_rate_per_hour > 0:
        rework = sc.runtime - job.estimated_duration_hours
        parts.append(f"λ={offer.interruption_rate_per_hour:.3g}/h adds {rework * 60:.1f} min expected rework"
                     + (" (checkpointed)" if job.is_checkpointable else ""))
    if sc.start > 1e-6:
        parts.append(f"starts +{sc.start:.2f} h")
    if sc.egress_cost > 0:
        parts.append(f"egress ${sc.egress_cost:.2f}")
    if sc.delay_cost > 0.005:
        parts.append(f"delay ${sc.delay_cost:.2f}")
    deadline = scorer.deadline_h[job.job_id]
    if deadline is not None:
        slack = deadline - sc.end
        parts.append(f"{slack:.2f} h before its deadline" if slack >= 0 else f"{-slack:.2f} h LATE")
    parts.append(f"expected ${sc.cost:.4g}, {sc.co2e_kg:.3g} kg CO2e")
    return "; ".join(parts)


class _Group:
    """Offers of one candidate set that share location and runtime terms, by price (and carbon) per hour."""

    __slots__ = ("extra", "here", "key", "location", "members", "terms")

    def __init__(self, location: str, key: object, members: list[tuple[float, int, float, float]]) -> None:
        self.location, self.key = location, key
        self.members = members  # (weighted price + carbon per hour, candidate index, price, kg per hour)
        self.extra = 0.0
        self.terms: tuple[float, float, float] = (0.0, 0.0, 0.0)
        self.here: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __lt__(self, other: _Group) -> bool:  # heap entries never tie on (floor, index); for completeness
        return id(self) < id(other)


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
        statics: dict[int, tuple[list[Offer], list[_Group]]] = {}
        for job in self._order(manifest, lf):
            options = cands.for_job(job)
            if not options:
                raise cands.error(job)
            static = statics.get(id(options))
            if static is None:
                static = statics[id(options)] = (options, self._groups(sched.scorer, options, job.elastic))
            i, sc = self._choose(sched, job, options, static[1], lf[job.job_id], outputs.get(job.job_id, ()))
            sched.commit(job, options[i], sc)
        return sched.to_plan(self.name, watch)

    @staticmethod
    def _groups(scorer: Scorer, options: list[Offer], elastic: bool) -> list[_Group]:
        """A candidate set's offers grouped by what their floor shares — location, and λ (with vCPUs for an
        elastic job): within a group the floor grows with price (and carbon rate) per hour alone, so its
        members are kept in that order and a group is expanded only as far as the search gets."""
        w = scorer.weights
        groups: dict[tuple[str, object], list[tuple[float, int, float, float]]] = {}
        for i, o in enumerate(options):
            lam = o.interruption_rate_per_hour if o.tier == "spot" else 0.0
            low, low_co2 = min(scorer.curve(o).prices), min(scorer.carbon_curve(o).prices)
            groups.setdefault((o.location, (lam, o.vcpus) if elastic else lam), []).append(
                (w.cost * low + w.carbon * low_co2, i, low, low_co2))
        return [_Group(loc, key, sorted(members)) for (loc, key), members in groups.items()]

    @staticmethod
    def _choose(sched: _Scheduler, job: Job, options: list[Offer], groups: list[_Group], lfj: float,
                sends: Sequence[tuple[str, float]]) -> tuple[int, JobScore]:
        """The job's offer and score. Each offer has a *floor* under its marginal Ω at any start ≥ ready: the
        lowest price (and carbon rate) over the whole runtime, the egress, P_int as the risk, the lateness
        and delay of ending at ready + E[T]. Offers are evaluated in floor order (lazily, group by group)
        until a floor is above the best Ω so far; among those evaluated the one a scan in candidate order
        would keep wins. The one budget rule (objective.within_budget): an offer over the job's budget is
        taken only when none is within it, so only within-budget Ω bounds the search."""
        scorer, w = sched.scorer, sched.scorer.weights
        jt = scorer.job_terms(job)
        edges = scorer.input_edges(job, sched.location_of)
        at: dict[str, tuple[float, float, float]] = {}  # location → (ready, egress, look-ahead egress)
        # without data moving from its dependencies or a data region, the ready time is the same everywhere
        moves = job.input_data_size_gb > 0 and (job.data_region or job.dependencies)
        ready = None if moves else sched.ready_at(job, "")
        terms: dict[object, tuple[float, float, float]] = {}  # λ (and vCPUs) → (E[T], P_int, σ)
        wc, wr, wt, dl, pf = w.cost, w.risk * jt.pf, w.tardiness, jt.deadline, jt.pf
        wco2, rate, ef = w.carbon, jt.delay_rate, jt.earliest_finish
        heads = []  # (floor, candidate index, group, member, runtime terms, location terms)
        for g in groups:
            here = at.get(g.location)
            if here is None:
                ahead = 0.0
                for dst, gb in sends:
                    ahead += gb * scorer.rate(g.location, dst)
                here = at[g.location] = (sched.ready_at(job, g.location) if ready is None else ready,
                                         scorer.egress_cost(edges, g.location), wc * ahead)
            t = terms.get(g.key)
            if t is None:  # shared by the group, and by every group of the same λ
                t = terms[g.key] = scorer.runtime_terms(job, options[g.members[0][1]])
            end = here[0] + t[0]
            extra = wr * t[1]  # what the members share beyond price and carbon
            if rate and end > ef:
                extra += rate * (end - ef)
            if dl is not None and end > dl:
                extra += wt * pf * (end - dl)
            if end > lfj + _EPS:
                extra += wt * (end - lfj)
            g.extra, g.terms, g.here = extra, t, here
            _, i, low, low_co2 = g.members[0]
            heads.append((wc * (low * t[0] + here[1]) + here[2] + wco2 * low_co2 * t[0] + extra, i, g, 0))
        heapq.heapify(heads)
        evaluated = []
        best_omega = math.inf
        while heads:
            floor, i, g, k = heapq.heappop(heads)
            if floor > best_omega + _EPS:
                break
            if k + 1 < len(g.members):
                _, j, low, low_co2 = g.members[k + 1]
                t, here = g.terms, g.here
                heapq.heappush(heads, (wc * (low * t[0] + here[1]) + here[2] + wco2 * low_co2 * t[0] + g.extra,
                                       j, g, k + 1))
            offer = options[i]
            ot = OfferTerms(offer, *g.terms, scorer.curve(offer), scorer.carbon_curve(offer))
            omega, sc = sched.evaluate_terms(jt, ot, g.here[0], g.here[1], lfj)
            omega += g.here[2]
            over = not within_budget(job, sc.cost)
            evaluated.append((i, omega, sc, over))
            if not over:
                best_omega = min(best_omega, omega)
        evaluated.sort()  # by candidate index (unique)
        best = evaluated[0]
        for e in evaluated[1:]:
            if e[3] < best[3] or (e[3] == best[3] and e[1] < best[1] - _EPS):
                best = e
        return best[0], best[2]

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
               planner: str, order: Sequence[str] | None = None, **extra: object) -> Plan:
    """Price and explain the given choices as a Plan (no checks: :func:`validate` judges it).

    A choice without a start time starts as early as its dependencies and its pool allow, taken in
    ``order`` (job ids, dependencies first; default a topological order): a pool's machines go to jobs in
    that order, so the order of another schedule's starts keeps its sequence on each pool. Jobs without a
    choice, or whose offer is unknown, are left out (the validator reports them missing).
    """
    watch = Stopwatch()
    sched = _Scheduler(manifest, offers)
    for job in sched.scorer.order if order is None else (sched.scorer.jobs[j] for j in order):
        choice = choices.get(job.job_id)
        offer = sched.scorer.offer_map.get(choice.offer_id) if choice else None
        if choice is None or offer is None:
            continue
        if any(d not in sched.scores for d in job.dependencies):
            start = max(0.0, choice.start_hours or 0.0)
        elif choice.start_hours is None:
            start = sched.pools.earliest(offer, sched.ready_time(job, offer), expected_runtime(job, offer))
        else:
            start = choice.start_hours
        sc = sched.scorer.score(job, offer, start, sched.location_of)
        sched.commit(job, offer, sc)
    return sched.to_plan(planner, watch, **extra)
