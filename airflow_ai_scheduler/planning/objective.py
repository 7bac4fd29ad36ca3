"""The objective Ω and every formula behind it — the one place they live.

Every planner (greedy, CP-SAT, LLM repair) and the validator use these functions, so a plan's cost means
the same thing wherever it is computed. docs/objective.md writes the same formulas down for users.

For job *j* placed on offer *o* (hourly price p(t), spot interruption rate λ per hour) starting at *s*:

* **Expected runtime** with Poisson interruptions. Work of D hours runs in segments of length c (the
  checkpoint interval; c = D when the job cannot checkpoint). An interruption loses the current segment's
  progress and costs the restart overhead R. The renewal argument for one segment of length c gives
  E[segment] = (e^{λc} − 1)(1/λ + R), so E[T] = (D/c)·(e^{λc} − 1)(1/λ + R); λ = 0 gives E[T] = D.
* **Expected cost** = ∫_s^{s+E[T]} p(t) dt (time-varying prices integrated exactly) + egress:
  the job's input (``inputDataSizeGB``) comes from ``dataRegion`` if given, else evenly from its
  dependencies' locations, priced per GB by :func:`egress_rate`.
* **Tardiness** = π_j · max(0, s + E[T] − deadline), with π_j = max(1, priority).
* **Risk** = π_j · (1 − (1 − P_miss)(1 − P_int)): P_int = 1 − e^{−λ·E[T]} is the chance of at least one
  interruption; P_miss = 1 − Φ((deadline − s − E[T]) / σ) with σ² = durationStd² + (E[T] − D)²
  (durationStd defaults to 10 % of D).
* **Carbon** (kg CO2e) = ∫_s^{s+E[T]} c(t) dt with c(t) = instance watts × PUE × grid intensity(t) — the
  power model and region table of :mod:`airflow_ai_scheduler.catalog.carbon`, the manifest's
  ``carbonForecast`` for time-varying intensity.
* **Delay cost** (USD) = r_j · max(0, s + E[T] − EF_j): r_j the job's ``delayCostPerHour`` (else the
  manifest's), EF_j its earliest possible finish (dependencies' earliest finishes + its duration at the
  largest elastic speedup; capacity ignored) — what waiting costs, so idle dearer capacity wins over a
  long queue for a cheap pool.
* **Ω** = w_cost·Σcost + w_tardiness·Σtardiness + w_risk·Σrisk + w_carbon·ΣCO2e + Σdelay cost.

Committed capacity (reserved instances, savings plans) appears as zero-priced variants of the offers it
covers (:mod:`.commitments`): the Scorer's offers include them.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, field
from functools import lru_cache

from airflow_ai_scheduler.models import (
    Egress,
    Job,
    Manifest,
    Objective,
    Offer,
    Placement,
    Plan,
    topological_order,
)
from airflow_ai_scheduler.planning import commitments

#: Checkpoint interval assumed for a checkpointable job that does not state one (hours).
DEFAULT_CHECKPOINT_INTERVAL_HOURS = 0.25
#: Time lost on every (re)start when the job does not state it (hours): provisioning plus set-up.
DEFAULT_RESTART_OVERHEAD_HOURS = 0.05
#: durationStd assumed when a job gives none, as a fraction of its duration.
DEFAULT_DURATION_CV = 0.1
#: Ceiling on expected runtime inflation: beyond it a spot placement is treated as hopeless.
MAX_RUNTIME_FACTOR = 50.0
#: An elastic job runs at most this much faster on a bigger offer (Amdahl's law in vCPUs up to it).
ELASTIC_MAX_SPEEDUP = 4.0


#: relative slack on a job's budgetUsd: an offer whose expected cost is within it is within budget
BUDGET_TOLERANCE = 1e-9


def within_budget(job: Job, cost: float) -> bool:
    """The one budget rule every planner uses: a job's expected cost may not exceed its ``budgetUsd``.
    (Greedy picks an over-budget offer only when no offer is within budget, and the validator then says so;
    CP-SAT drops over-budget alternatives.)"""
    return job.budget_usd is None or cost <= job.budget_usd * (1 + BUDGET_TOLERANCE)


def priority_factor(job: Job) -> float:
    return float(max(1, job.priority))


def segment_hours(job: Job) -> float:
    """Progress lost to one interruption is at most this (checkpoint interval, or all of it)."""
    d = job.estimated_duration_hours
    if not job.is_checkpointable:
        return d
    return min(d, job.checkpoint_interval_hours or DEFAULT_CHECKPOINT_INTERVAL_HOURS)


def restart_overhead(job: Job) -> float:
    return DEFAULT_RESTART_OVERHEAD_HOURS if job.restart_overhead_hours is None else job.restart_overhead_hours


@lru_cache(maxsize=65536)
def _expected_runtime(d: float, c: float, r: float, lam: float) -> float:
    if lam <= 0:
        return d
    x = lam * c
    if x > 30:  # e^30: hopeless, and float overflow is near
        return d * MAX_RUNTIME_FACTOR
    runtime = (d / c) * math.expm1(x) * (1.0 / lam + r)
    return min(runtime, d * MAX_RUNTIME_FACTOR)


def speedup(job: Job, offer: Offer) -> float:
    """How much faster than ``estimatedDurationHours`` the job's work runs on ``offer``: for an elastic job
    Amdahl's law over k = offer.vcpus / resources.vcpus, 1 / ((1 − p) + p / k) with p = parallelFraction
    (p = 1: k), capped at ELASTIC_MAX_SPEEDUP; 1 otherwise."""
    need = job.resources.vcpus
    if not job.elastic or need <= 0 or offer.vcpus <= need:
        return 1.0
    k, p = offer.vcpus / need, job.parallel_fraction
    return min(ELASTIC_MAX_SPEEDUP, 1.0 / ((1.0 - p) + p / k))


def work_hours(job: Job, offer: Offer) -> float:
    """Hours of work of ``job`` on ``offer`` without interruptions (D, or D / speedup when elastic)."""
    return job.estimated_duration_hours / speedup(job, offer)


def expected_runtime(job: Job, offer: Offer) -> float:
    """E[T] in hours of job on offer, rework from interruptions included."""
    lam = offer.interruption_rate_per_hour if offer.tier == "spot" else 0.0
    d = work_hours(job, offer)
    return _expected_runtime(d, min(d, segment_hours(job)), restart_overhead(job), lam)


def interruption_probability(offer: Offer, runtime_hours: float) -> float:
    lam = offer.interruption_rate_per_hour if offer.tier == "spot" else 0.0
    return -math.expm1(-lam * runtime_hours)


def duration_sigma(job: Job, runtime_hours: float, offer: Offer | None = None) -> float:
    """σ of the job's runtime: its own spread (scaled down with the work when elastic on ``offer``) and the
    rework ``runtime_hours`` adds over the work."""
    k = speedup(job, offer) if offer is not None else 1.0
    d = job.estimated_duration_hours / k
    std = job.duration_std_hours / k if job.duration_std_hours is not None else DEFAULT_DURATION_CV * d
    return math.sqrt(std * std + (runtime_hours - d) ** 2)


def miss_probability(slack_hours: float, sigma: float) -> float:
    """P(actual end > deadline) when the expected end is ``slack_hours`` before it."""
    if sigma <= 1e-12:
        return 0.0 if slack_hours >= 0 else 1.0
    return 0.5 * math.erfc(slack_hours / (sigma * math.sqrt(2.0)))


def egress_rate(egress: Egress, src: str, dst: str) -> float:
    """USD per GB moved from location ``src`` to ``dst`` ("provider:region")."""
    for o in egress.overrides:
        if o.from_ == src and o.to == dst:
            return o.price_per_gb
    if src == dst:
        return egress.same_region_per_gb
    if src.split(":", 1)[0] == dst.split(":", 1)[0]:
        return egress.inter_region_per_gb
    return egress.internet_per_gb


def transfer_hours(egress: Egress, gb: float, src: str, dst: str) -> float:
    if gb <= 0 or src == dst:
        return 0.0
    return gb * 8.0 / (egress.bandwidth_gbps * 3600.0)


@dataclass
class PriceCurve:
    """An offer's price as a step function of hours since ``now``; integrates exactly."""

    times: list[float]  # breakpoints (hours), times[0] = -inf
    prices: list[float]
    cumulative: list[float] = field(default_factory=list)  # ∫ from times[1] to times[i]

    @classmethod
    def of(cls, offer: Offer, manifest: Manifest) -> PriceCurve:
        return cls.steps(offer.price_per_hour, [(manifest.hours(p.from_), p.price_per_hour)
                                                for p in offer.price_schedule or []])

    @classmethod
    def steps(cls, base: float, points: list[tuple[float, float]]) -> PriceCurve:
        """``base`` until the first point, then each point's value from its time (hours) on."""
        times, prices = [-math.inf], [base]
        for h, v in points:
            if h <= times[-1]:
                continue
            times.append(h)
            prices.append(v)
        curve = cls(times, prices)
        acc = [0.0, 0.0]
        for i in range(2, len(times)):
            acc.append(acc[-1] + prices[i - 1] * (times[i] - times[i - 1]))
        curve.cumulative = acc
        return curve

    @property
    def constant(self) -> bool:
        return len(self.times) == 1

    def _antiderivative(self, t: float) -> float:
        if self.constant:
            return self.prices[0] * t
        i = bisect_right(self.times, t) - 1
        if i == 0:  # before the first breakpoint
            return self.prices[0] * (t - self.times[1])
        return self.cumulative[i] + self.prices[i] * (t - self.times[i])

    def integral(self, start: float, end: float) -> float:
        return self._antiderivative(end) - self._antiderivative(start)

    def price_at(self, t: float) -> float:
        return self.prices[bisect_right(self.times, t) - 1]

    def breakpoints_after(self, t: float) -> list[float]:
        return [x for x in self.times[1:] if x > t]


def forecast_points(manifest: Manifest) -> dict[str, list[tuple[float, float]]]:
    """The manifest's carbon forecast as location → [(hours since now, g CO2e/kWh)], sorted."""
    out: dict[str, list[tuple[float, float]]] = {}
    for p in manifest.carbon_forecast or []:
        out.setdefault(p.location, []).append((manifest.hours(p.from_), p.g_co2e_per_kwh))
    for pts in out.values():
        pts.sort()
    return out


def carbon_curve(offer: Offer, forecast: list[tuple[float, float]]) -> PriceCurve:
    """kg CO2e per hour of a task on ``offer``: its watts (stated, else the power model) × PUE × the grid's
    intensity (stated, else the region table; the forecast's steps from their times on)."""
    from airflow_ai_scheduler.catalog.carbon import instance_watts, region_carbon

    rc = region_carbon(offer.provider, offer.region)
    watts = offer.power_watts if offer.power_watts is not None else instance_watts(
        offer.provider, offer.instance_type, offer.vcpus, offer.memory_gib, offer.gpus, offer.gpu_type)
    kw = watts * rc.pue / 1000.0
    base = offer.carbon_intensity_g_per_kwh if offer.carbon_intensity_g_per_kwh is not None else rc.g_co2e_per_kwh
    return PriceCurve.steps(kw * base / 1000.0, [(h, kw * g / 1000.0) for h, g in forecast])


@dataclass(slots=True)
class JobScore:
    start: float  # hours since now
    runtime: float
    compute_cost: float
    egress_cost: float
    tardiness: float  # priority-weighted hours
    risk: float  # priority-weighted probability
    co2e_kg: float = 0.0
    delay_cost: float = 0.0  # USD

    @property
    def end(self) -> float:
        return self.start + self.runtime

    @property
    def cost(self) -> float:
        return self.compute_cost + self.egress_cost


@dataclass(slots=True)
class OfferTerms:
    """What one job costs on one offer apart from its start time and where its inputs come from: computed
    once per (job, offer) and reused for every start a planner tries."""

    offer: Offer
    runtime: float  # E[T], hours
    p_int: float  # P(at least one interruption)
    sigma: float  # σ of the runtime
    curve: PriceCurve
    carbon: PriceCurve  # kg CO2e per hour while it runs


@dataclass(slots=True)
class JobTerms:
    """What one job costs anywhere: its priority factor and deadline (hours since now)."""

    pf: float
    deadline: float | None
    delay_rate: float = 0.0  # USD per hour past ``earliest_finish``
    earliest_finish: float = 0.0


def bound_by_deadlines(manifest: Manifest, order: list[Job] | None = None) -> set[str]:
    """Jobs with a deadline of their own or on a job downstream of them: their deadline says how long
    waiting is free, so the manifest's default delay cost does not apply to them (a job's own does).
    Empty when the manifest has no default delay cost (nothing to exempt them from)."""
    if manifest.delay_cost_per_hour <= 0:
        return set()
    bound = {j.job_id for j in manifest.jobs if j.deadline is not None}
    for j in reversed(order if order is not None else topological_order(manifest.jobs)):
        if j.job_id in bound:
            bound.update(j.dependencies)
    return bound


def delay_rate(job: Job, manifest: Manifest, bound: set[str]) -> float:
    """USD per hour the job's wait costs: its own ``delay_cost_per_hour``, else the manifest's default
    unless a deadline bounds it (``bound``: :func:`bound_by_deadlines`), where waiting is free."""
    if job.delay_cost_per_hour is not None:
        return job.delay_cost_per_hour
    return 0.0 if job.job_id in bound else manifest.delay_cost_per_hour


def delay_rates(manifest: Manifest) -> dict[str, float]:
    """job_id → :func:`delay_rate`, for the jobs whose wait has a price (what the executor weighs against
    a dearer free fleet when the planned one is full)."""
    bound = bound_by_deadlines(manifest)
    rates = {j.job_id: delay_rate(j, manifest, bound) for j in manifest.jobs}
    return {k: v for k, v in rates.items() if v > 0}


class Scorer:
    """Ω pieces for one manifest, with its offers resolved and price curves precomputed."""

    def __init__(self, manifest: Manifest, offers: list[Offer]) -> None:
        self.manifest = manifest
        self.offers = offers = commitments.expand(manifest, offers)
        self.offer_map = {o.offer_id: o for o in offers}
        self.resources = commitments.Resources(manifest, offers)
        self.jobs = manifest.job_map
        self.order = topological_order(manifest.jobs)
        self.weights = manifest.weights
        self._curves: dict[str, PriceCurve] = {}
        self._rates: dict[tuple[str, str], float] = {}
        self.deadline_h = {
            j.job_id: manifest.hours(j.deadline) if j.deadline is not None else None for j in manifest.jobs
        }
        self._job_terms: dict[str, JobTerms] = {}
        self._carbon: dict[str, PriceCurve] = {}
        self._forecast = forecast_points(manifest)
        self._earliest_finish = self._earliest_finishes() if self._any_delay_cost() else {}
        self._deadline_bound = bound_by_deadlines(manifest, self.order)
        self._latency = None

    def _any_delay_cost(self) -> bool:
        m = self.manifest
        return m.delay_cost_per_hour > 0 or any(j.delay_cost_per_hour for j in m.jobs)

    def _earliest_finishes(self) -> dict[str, float]:
        """EF_j: dependencies' EF + the job's duration at the largest speedup any offer could give."""
        ef: dict[str, float] = {}
        for j in self.order:
            d = j.estimated_duration_hours / (ELASTIC_MAX_SPEEDUP if j.elastic else 1.0)
            ef[j.job_id] = max((ef[x] for x in j.dependencies), default=0.0) + d
        return ef

    @property
    def latency(self):  # noqa: ANN201 - catalog.latency.LatencyTable, imported lazily (import cycle)
        if self._latency is None:
            from airflow_ai_scheduler.catalog.latency import LatencyTable

            self._latency = LatencyTable((p.from_, p.to, p.p95_ms) for p in self.manifest.latency)
        return self._latency

    def carbon_curve(self, offer: Offer) -> PriceCurve:
        """kg CO2e per hour of a task on ``offer`` as a step function of hours since now."""
        c = self._carbon.get(offer.offer_id)
        if c is None:
            c = self._carbon[offer.offer_id] = carbon_curve(offer, self._forecast.get(offer.location, []))
        return c

    def offer_for(self, p: Placement) -> Offer | None:
        """The offer a placement runs on: its commitment's variant when it has one."""
        return self.offer_map.get(commitments.variant_id(p.offer_id, p.commitment))

    def curve(self, offer: Offer) -> PriceCurve:
        c = self._curves.get(offer.offer_id)
        if c is None:
            c = self._curves[offer.offer_id] = PriceCurve.of(offer, self.manifest)
        return c

    def rate(self, src: str, dst: str) -> float:
        """:func:`egress_rate` of this manifest, memoised per pair of locations."""
        r = self._rates.get((src, dst))
        if r is None:
            r = self._rates[src, dst] = egress_rate(self.manifest.egress, src, dst)
        return r

    def job_terms(self, job: Job) -> JobTerms:
        t = self._job_terms.get(job.job_id)
        if t is None:
            rate = delay_rate(job, self.manifest, self._deadline_bound)
            t = self._job_terms[job.job_id] = JobTerms(priority_factor(job), self.deadline_h[job.job_id], rate,
                                                       self._earliest_finish.get(job.job_id, 0.0))
        return t

    def offer_terms(self, job: Job, offer: Offer) -> OfferTerms:
        return OfferTerms(offer, *self.runtime_terms(job, offer), self.curve(offer), self.carbon_curve(offer))

    @staticmethod
    def runtime_terms(job: Job, offer: Offer) -> tuple[float, float, float]:
        """(E[T], P_int, σ) of the job on the offer. They depend on the offer only through λ and, for an
        elastic job, its vCPUs: planners share them among offers alike in those."""
        runtime = expected_runtime(job, offer)
        return runtime, interruption_probability(offer, runtime), duration_sigma(job, runtime, offer)

    def input_edges(self, job: Job, location_of: dict[str, str]) -> list[tuple[str, float]]:
        """(source location, GB) pairs of the job's input; dependencies not yet placed are skipped."""
        gb = job.input_data_size_gb
        if gb <= 0:
            return []
        if job.data_region:
            return [(job.data_region, gb)]
        if not job.dependencies:
            return []
        share = gb / len(job.dependencies)
        return [(location_of[d], share) for d in job.dependencies if d in location_of]

    def egress_cost(self, edges: list[tuple[str, float]], location: str) -> float:
        """USD of moving ``edges`` (from :meth:`input_edges`) to ``location``."""
        cost = 0.0
        for src, gb in edges:
            cost += gb * self.rate(src, location)
        return cost

    def egress(self, job: Job, offer: Offer, location_of: dict[str, str]) -> tuple[float, float]:
        """(USD, worst transfer hours from the data region) of bringing the job's input to ``offer``."""
        cost = self.egress_cost(self.input_edges(job, location_of), offer.location)
        hours = 0.0
        if job.data_region and job.input_data_size_gb > 0:
            hours = transfer_hours(self.manifest.egress, job.input_data_size_gb, job.data_region, offer.location)
        return cost, hours

    def dependency_transfer_hours(self, job: Job, dep_location: str, offer: Offer) -> float:
        if job.data_region or job.input_data_size_gb <= 0 or not job.dependencies:
            return 0.0
        return transfer_hours(self.manifest.egress, job.input_data_size_gb / len(job.dependencies),
                              dep_location, offer.location)

    def score(self, job: Job, offer: Offer, start: float, location_of: dict[str, str]) -> JobScore:
        egress_cost, _ = self.egress(job, offer, location_of)
        return self.score_terms(self.job_terms(job), self.offer_terms(job, offer), start, egress_cost)

    def score_terms(self, jt: JobTerms, ot: OfferTerms, start: float, egress_cost: float) -> JobScore:
        """The job's score at ``start`` from its precomputed terms (what :meth:`score` computes)."""
        runtime = ot.runtime
        compute = ot.curve.integral(start, start + runtime)
        deadline = jt.deadline
        if deadline is None:
            tard, p_miss = 0.0, 0.0
        else:
            slack = deadline - (start + runtime)
            tard = max(0.0, -slack)
            p_miss = miss_probability(slack, ot.sigma)
        risk = 1.0 - (1.0 - p_miss) * (1.0 - ot.p_int)
        carbon = ot.carbon
        co2 = carbon.prices[0] * runtime if len(carbon.times) == 1 else carbon.integral(start, start + runtime)
        delay = jt.delay_rate * (start + runtime - jt.earliest_finish) if jt.delay_rate else 0.0
        return JobScore(start, runtime, compute, egress_cost, jt.pf * tard, jt.pf * risk, co2, max(0.0, delay))

    def omega(self, s: JobScore) -> float:
        w = self.weights
        return (w.cost * s.cost + w.tardiness * s.tardiness + w.risk * s.risk + w.carbon * s.co2e_kg
                + s.delay_cost)

    def objective(self, scores: list[JobScore]) -> Objective:
        cost = sum(s.cost for s in scores)
        tard = sum(s.tardiness for s in scores)
        risk = sum(s.risk for s in scores)
        co2 = sum(s.co2e_kg for s in scores)
        delay = sum(s.delay_cost for s in scores)
        w = self.weights
        total = w.cost * cost + w.tardiness * tard + w.risk * risk + w.carbon * co2 + delay
        return Objective(cost=round(cost, 6), tardiness=round(tard, 6), risk=round(risk, 6), total=round(total, 6),
                         co2e_kg=round(co2, 6), delay_cost=round(delay, 6))

    def score_plan(self, plan: Plan) -> dict[str, JobScore]:
        """Scores of every placement whose job and offer are known (unknown ones are the validator's)."""
        pm = plan.placement_map
        location_of = {p.job_id: f"{p.provider}:{p.region}" for p in plan.placements}
        out: dict[str, JobScore] = {}
        for job in self.order:
            p = pm.get(job.job_id)
            offer = self.offer_for(p) if p else None
            if p is None or offer is None:
                continue
            out[job.job_id] = self.score(job, offer, self.manifest.hours(p.start_time), location_of)
        return out
