"""Which offers a job may use, and the few of those any planner ever needs.

A job may use an offer that fits its resources and that its allowed providers/regions/tiers admit.
Among those, an offer B is **dominated** — never needed — when another offer A is no costlier at any time
(A's highest price ≤ B's lowest), no less safe (λ_A ≤ λ_B; on-demand is λ = 0), has unlimited capacity (so
A can always take B's place), and sits in an equivalent place (the same location, or the job and its
dependents move no data so location is irrelevant). Every term of Ω is then at least as good on A, so
removing B never removes an optimal plan. Limited-capacity offers survive unless an unlimited one
dominates them. For an elastic job (its work scales with vCPUs) A must also have as many vCPUs as B: only
offers of the same size compete. When carbon counts (``weights.carbon`` > 0 or a ``carbonBudgetKg``) A must
also emit no more per hour at any time than B at its least.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable

from airflow_ai_scheduler.exceptions import InfeasiblePlanError, LatencySLAError
from airflow_ai_scheduler.models import Job, Manifest, Offer

#: (from location, to location) → p95 round-trip ms, or None when unknown
LatencyLookup = Callable[[str, str], "float | None"]


def _bundled_latency(a: str, b: str) -> float | None:
    from airflow_ai_scheduler.catalog.latency import LatencyTable

    return LatencyTable().p95_ms(a, b)


def latency_lookup(manifest: Manifest) -> LatencyLookup:
    """p95 ms between two locations for this manifest: its measured ``latency`` pairs, else the bundled table."""
    from airflow_ai_scheduler.catalog.latency import LatencyTable

    return LatencyTable((p.from_, p.to, p.p95_ms) for p in manifest.latency).p95_ms


def latency_problem(job: Job, offer: Offer, latency: LatencyLookup | None = None) -> str | None:
    """Why ``offer``'s region breaks the job's latency SLA, or None (also when the job has none)."""
    if job.endpoint_region is None or job.max_latency_ms is None:
        return None
    ms = (latency or _bundled_latency)(offer.location, job.endpoint_region)
    if ms is None:
        return (f"no p95 latency known between {offer.location} and endpointRegion {job.endpoint_region} "
                "(add it to the manifest's 'latency')")
    if ms > job.max_latency_ms:
        return (f"p95 latency {ms:g} ms from {offer.location} to endpointRegion {job.endpoint_region} exceeds "
                f"maxLatencyMs {job.max_latency_ms:g}")
    return None


def fit_problem(job: Job, offer: Offer, latency: LatencyLookup | None = None) -> str | None:
    """Why ``offer`` cannot run ``job`` (resources, allow-lists, latency SLA), or None when it can.
    ``latency``: a manifest's lookup (its measured overrides); default the bundled table."""
    r = job.resources
    if offer.vcpus < r.vcpus:
        return f"{offer.vcpus:g} vCPUs < {r.vcpus:g} required"
    if offer.memory_gib < r.memory_gib:
        return f"{offer.memory_gib:g} GiB < {r.memory_gib:g} GiB required"
    if offer.gpus < r.gpus:
        return f"{offer.gpus} GPUs < {r.gpus} required"
    if r.gpu_type and r.gpus > 0 and not _gpu_matches(offer.gpu_type, r.gpu_type):
        return f"GPU type {offer.gpu_type!r} is not {r.gpu_type!r}"
    if job.allowed_providers is not None and offer.provider not in job.allowed_providers:
        return f"provider {offer.provider!r} not in allowedProviders {job.allowed_providers}"
    if job.allowed_regions is not None and not (
        offer.region in job.allowed_regions or offer.location in job.allowed_regions
    ):
        return f"region {offer.location!r} not in allowedRegions {job.allowed_regions}"
    if job.allowed_tiers is not None and offer.tier not in job.allowed_tiers:
        return f"tier {offer.tier!r} not in allowedTiers {job.allowed_tiers}"
    return latency_problem(job, offer, latency)


def _gpu_matches(offered: str | None, wanted: str) -> bool:
    """``A100`` is served by ``A100`` and ``A100-80GB`` (same chip, more memory); case-insensitive."""
    if not offered:
        return False
    o, w = offered.lower(), wanted.lower()
    return o == w or o.startswith(w + "-")


def _price_range(offer: Offer) -> tuple[float, float]:
    prices = [offer.price_per_hour, *(p.price_per_hour for p in offer.price_schedule or [])]
    return min(prices), max(prices)


def _risk(offer: Offer) -> float:
    return offer.interruption_rate_per_hour if offer.tier == "spot" else 0.0


def prune_dominated(offers: Iterable[Offer], location_matters: bool, elastic: bool = False,
                    carbon: dict[str, tuple[float, float]] | None = None) -> list[Offer]:
    """Drop offers dominated by an unlimited-capacity offer (see module doc). Keeps input order. For an
    elastic job an offer with more vCPUs runs it faster, so only offers of the same vCPU count compete."""
    offers = list(offers)
    groups: dict[str, list[Offer]] = defaultdict(list)
    for o in offers:
        groups[(o.location if location_matters else "") + (f"|{o.vcpus:g}" if elastic else "")].append(o)
    keep: set[str] = set()
    for members in groups.values():
        # Pareto front of unlimited offers over (max price, λ): sort by price, keep strictly safer ones.
        unlimited = sorted((o for o in members if o.capacity is None),
                           key=lambda o: (_price_range(o)[1], _risk(o), o.offer_id))
        front: list[Offer] = []
        best_risk = float("inf")
        for o in unlimited:
            if _risk(o) < best_risk:
                front.append(o)
                best_risk = _risk(o)
        for o in members:
            lo = _price_range(o)[0]
            dominated = any(a.offer_id != o.offer_id and _dominates(a, o, lo)
                            and (carbon is None or carbon[a.offer_id][1] <= carbon[o.offer_id][0]) for a in front)
            if not dominated:
                keep.add(o.offer_id)
    return [o for o in offers if o.offer_id in keep]


def _dominates(a: Offer, o: Offer, o_min_price: float) -> bool:
    a_max = _price_range(a)[1]
    if a_max > o_min_price or _risk(a) > _risk(o):
        return False
    # o limited: a (unlimited) always serves instead. Both unlimited: strictly better, or an exact tie
    # broken by id so that exactly one of two identical offers survives.
    return o.capacity is not None or (a_max, _risk(a)) < (o_min_price, _risk(o)) or a.offer_id < o.offer_id


class CandidateIndex:
    """Per-job candidate offers for one manifest, computed once per distinct job signature."""

    def __init__(self, manifest: Manifest, offers: list[Offer], prune: bool = True) -> None:
        from airflow_ai_scheduler.planning.commitments import expand

        self.manifest = manifest
        self.offers = offers = expand(manifest, offers)
        self.prune = prune
        self.latency = latency_lookup(manifest)
        self._carbon: dict[str, tuple[float, float]] | None = None
        if manifest.weights.carbon > 0 or manifest.carbon_budget_kg is not None:
            from airflow_ai_scheduler.planning.objective import carbon_curve, forecast_points

            fc = forecast_points(manifest)
            self._carbon = {o.offer_id: (min(c.prices), max(c.prices))
                            for o in offers for c in [carbon_curve(o, fc.get(o.location, []))]}
        feeds_data: set[str] = set()
        for j in manifest.jobs:
            if j.input_data_size_gb > 0 and not j.data_region:
                feeds_data.update(j.dependencies)
        self._feeds_data = feeds_data
        self._cache: dict[tuple[object, ...], list[Offer]] = {}

    def location_matters(self, job: Job) -> bool:
        return job.input_data_size_gb > 0 or job.job_id in self._feeds_data

    def _signature(self, job: Job) -> tuple[object, ...]:
        loc = self.location_matters(job)
        return (job.resources, tuple(job.allowed_providers or ()) if job.allowed_providers is not None else None,
                tuple(job.allowed_regions) if job.allowed_regions is not None else None,
                tuple(job.allowed_tiers) if job.allowed_tiers is not None else None, job.endpoint_region,
                job.max_latency_ms, loc, job.elastic)

    def for_job(self, job: Job) -> list[Offer]:
        key = self._signature(job)
        cands = self._cache.get(key)
        if cands is None:
            fitting = [o for o in self.offers if fit_problem(job, o, self.latency) is None]
            *_, location_matters, elastic = key
            cands = prune_dominated(fitting, bool(location_matters), bool(elastic), self._carbon) if self.prune \
                else fitting
            self._cache[key] = cands
        return cands

    def error(self, job: Job) -> InfeasiblePlanError:
        """The error for a job without candidates: :class:`LatencySLAError` when offers fit it but none is
        within its latency SLA, else :class:`InfeasiblePlanError` with :meth:`why_none`."""
        if job.endpoint_region is not None and job.max_latency_ms is not None and self.offers:
            fitting = [o for o in self.offers if fit_problem(job, o, lambda a, b: 0.0) is None]
            if fitting:
                known = [(ms, o.location) for o in fitting
                         if (ms := self.latency(o.location, job.endpoint_region)) is not None]
                best = min(known) if known else None
                return LatencySLAError(job.job_id, job.endpoint_region, job.max_latency_ms,
                                       best[0] if best else None, best[1] if best else None)
        return InfeasiblePlanError([self.why_none(job)])

    def why_none(self, job: Job) -> str:
        """A readable reason why a job has no candidate offer (for InfeasiblePlanError)."""
        if not self.offers:
            return f"job {job.job_id!r}: there are no offers at all"
        first = fit_problem(job, self.offers[0], self.latency)
        r = job.resources
        return (f"job {job.job_id!r}: no offer fits resources (vcpus={r.vcpus:g}, memoryGib={r.memory_gib:g}, "
                f"gpus={r.gpus}, gpuType={r.gpu_type}) within allowedProviders={job.allowed_providers}, "
                f"allowedRegions={job.allowed_regions}, allowedTiers={job.allowed_tiers} "
                f"(e.g. {self.offers[0].offer_id}: {first})")
