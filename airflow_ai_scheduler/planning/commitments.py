"""Reserved capacity and savings plans: committed capacity as priced-at-zero variants of the offers it covers.

A commitment (``Manifest.commitments``) covers on-demand offers. For each covered offer *o* the planners see
a **variant** ``o@<commitmentId>``: the same machine at price 0 (the commitment is paid whether used or
not, so its marginal price is zero) that draws on the commitment's capacity:

* ``reserved`` — ``instances`` machines at once, shared by every variant of the commitment (demand 1 each);
* ``savings_plan`` — ``usdPerHour`` of covered usage at once, a variant drawing its offer's on-demand price ×
  (1 − ``discount``) per hour it runs.

A variant also keeps drawing on its offer's own pool (a fleet's ``slots``), so covered and uncovered tasks
of one fleet share its slots. Because the variant is free, every planner fills committed capacity first;
Ω counts its compute cost as 0. A placement on a variant names the real offer (``offerId``) and the
commitment (``commitment``), so the executor routes it to its fleet unchanged.

:func:`resources` says which capacities an offer draws on; greedy, CP-SAT and the validator all respect
them. :func:`commitment_report` is the report: utilisation, amortised cost, and what the covered placements
would have cost on demand and on spot.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from airflow_ai_scheduler.models import Commitment, CommitmentUse, Manifest, Offer, Plan

SEP = "@"


@dataclass(frozen=True)
class Resource:
    """A capacity an offer draws on: its own pool, or a commitment."""

    resource_id: str
    capacity: float
    demand: float  # drawn per running instance of the offer


def covers(c: Commitment, o: Offer) -> bool:
    if o.tier != "on-demand" or SEP in o.offer_id:
        return False
    if c.offer_ids is not None:
        return o.offer_id in c.offer_ids
    return ((c.provider is None or o.provider == c.provider)
            and (c.regions is None or o.region in c.regions or o.location in c.regions)
            and (c.instance_types is None or o.instance_type in c.instance_types))


def demand(c: Commitment, o: Offer) -> float:
    return 1.0 if c.kind == "reserved" else o.price_per_hour * (1.0 - c.discount)


def expand(manifest: Manifest, offers: Sequence[Offer]) -> list[Offer]:
    """The offers plus one zero-priced variant per (commitment, covered offer). Idempotent."""
    if not manifest.commitments or any(SEP in o.offer_id for o in offers):
        return list(offers)
    out = list(offers)
    for c in manifest.commitments:
        for o in offers:
            if not covers(c, o):
                continue
            d = demand(c, o)
            # alone, a variant fits this many at once (the shared limit is in resources())
            alone = c.instances if c.kind == "reserved" else int((c.usd_per_hour or 0) / d + 1e-9) if d > 0 else None
            if alone == 0:
                continue
            cap = min(x for x in (alone, o.capacity) if x is not None) if (alone or o.capacity) else None
            out.append(o.model_copy(update={"offer_id": f"{o.offer_id}{SEP}{c.commitment_id}", "price_per_hour": 0.0,
                                            "price_schedule": None, "capacity": cap}))
    return out


def split(offer_id: str) -> tuple[str, str | None]:
    """(base offer id, commitment id or None) of an offer id."""
    base, sep, cid = offer_id.partition(SEP)
    return (base, cid) if sep else (offer_id, None)


def variant_id(offer_id: str, commitment: str | None) -> str:
    return f"{offer_id}{SEP}{commitment}" if commitment else offer_id


class Resources:
    """Which capacities each offer draws on (see module doc), for one manifest's offers."""

    def __init__(self, manifest: Manifest, offers: Iterable[Offer]) -> None:
        by_id = {o.offer_id: o for o in offers}
        commitments = {c.commitment_id: c for c in manifest.commitments}
        self._of: dict[str, tuple[Resource, ...]] = {}
        self.shared = False  # any offer drawing on more than its own pool
        for oid, o in by_id.items():
            base_id, cid = split(oid)
            if cid is None:
                self._of[oid] = (Resource(oid, o.capacity, 1.0),) if o.capacity is not None else ()
                continue
            c, base = commitments.get(cid), by_id.get(base_id)
            if c is None or base is None:  # a stray variant id: treat as its own pool
                self._of[oid] = (Resource(oid, o.capacity, 1.0),) if o.capacity is not None else ()
                continue
            cap = float(c.instances or 0) if c.kind == "reserved" else float(c.usd_per_hour or 0)
            res = [Resource(f"{SEP}{cid}", cap, demand(c, base))]
            if base.capacity is not None:
                res.append(Resource(base_id, base.capacity, 1.0))
            self._of[oid] = tuple(res)
            self.shared = True

    def of(self, offer: Offer) -> tuple[Resource, ...]:
        return self._of.get(offer.offer_id, (Resource(offer.offer_id, offer.capacity, 1.0),)
                            if offer.capacity is not None else ())


def commitment_report(manifest: Manifest, plan: Plan, offers: Sequence[Offer]) -> list[CommitmentUse]:
    """Per commitment: how much of it the plan uses over its span, what it costs amortised, and what the
    placements on it would have cost at on-demand and (same type and region) spot prices."""
    if not manifest.commitments:
        return []
    from airflow_ai_scheduler.planning.objective import expected_runtime

    by_id = {o.offer_id: o for o in offers}
    spot = {(o.provider, o.region, o.instance_type): o for o in offers if o.tier == "spot"}
    jobs = manifest.job_map
    ends = [manifest.hours(p.expected_end_time) for p in plan.placements]
    span = max([*ends, 0.0])
    out = []
    for c in manifest.commitments:
        used = od = sp = 0.0
        n, spot_known = 0, True
        for p in plan.placements:
            if p.commitment != c.commitment_id or p.offer_id not in by_id or p.job_id not in jobs:
                continue
            base = by_id[p.offer_id]
            hours = manifest.hours(p.expected_end_time) - manifest.hours(p.start_time)
            n += 1
            used += hours * demand(c, base)
            od += hours * base.price_per_hour
            s = spot.get((base.provider, base.region, base.instance_type))
            if s is None:
                spot_known = False
            else:
                sp += expected_runtime(jobs[p.job_id], s) * s.price_per_hour
        size = float(c.instances or 0) if c.kind == "reserved" else float(c.usd_per_hour or 0)
        out.append(CommitmentUse(
            commitment_id=c.commitment_id, kind=c.kind, span_hours=round(span, 6), used_hours=round(used, 6),
            utilization=round(used / (size * span), 6) if size > 0 and span > 0 else 0.0,
            amortized_cost=round(c.amortized_usd_per_hour * span, 6) if c.amortized_usd_per_hour is not None else
            (round(c.usd_per_hour * span, 6) if c.kind == "savings_plan" and c.usd_per_hour else None),
            on_demand_cost=round(od, 6), spot_cost=round(sp, 6) if n and spot_known else None, placements=n))
    return out


def format_commitment(c: CommitmentUse) -> str:
    """One line of a plan's commitment report."""
    spot = f", on spot ${c.spot_cost:.4f}" if c.spot_cost is not None else ""
    amortized = (f"; amortised cost over the plan's {c.span_hours:.2f} h ${c.amortized_cost:.4f}"
                 if c.amortized_cost is not None else "")
    return (f"commitment {c.commitment_id} ({c.kind}): {c.placements} task(s), utilisation {100 * c.utilization:.1f} %"
            f"{amortized}; the same tasks on demand ${c.on_demand_cost:.4f}{spot}")
