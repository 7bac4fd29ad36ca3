"""Manifest mode: plan a manifest with the greedy planner (as the executor would), then replay every spot
placement on a trace with the spot policy; on-demand placements run as planned.

A spot job's deadline is its manifest deadline measured from its planned start (none: no deadline); its
on-demand fallback is billed at the on-demand offer of the same instance type in the same location (else the
cheapest on-demand offer of that type anywhere, else the spot price × the catalog's V100 ratio 2.86/1.37954).
Each job starts at a trace tick derived from its id, so runs are reproducible and jobs see different windows.
"""

from __future__ import annotations

import math
import zlib

from airflow_ai_scheduler.models import Manifest, Offer
from airflow_ai_scheduler.planning.base import get_planner, resolve_offers
from airflow_ai_scheduler.planning.objective import restart_overhead
from airflow_ai_scheduler.recovery.policy import SpotPolicy
from airflow_ai_scheduler.simulate.simulator import OD_PRICE, SPOT_PRICE, Job, simulate
from airflow_ai_scheduler.simulate.traces import Trace


def _od_price(spot: Offer, offers: list[Offer]) -> float:
    same = [o for o in offers if o.tier != "spot" and o.instance_type == spot.instance_type]
    here = [o for o in same if o.location == spot.location]
    pool = here or same
    return min(o.price_per_hour for o in pool) if pool else spot.price_per_hour * OD_PRICE / SPOT_PRICE


def simulate_manifest(manifest: Manifest, policy: SpotPolicy, trace: Trace, shift: int = 0) -> dict:
    """Totals over the manifest: cost, deadline misses, makespan (h from the earliest start), interruptions,
    spot and on-demand hours; ``shift`` moves every job's trace start (for several start points)."""
    offers = resolve_offers(manifest)
    by_id = {o.offer_id: o for o in offers}
    jobs = {j.job_id: j for j in manifest.jobs}
    plan = get_planner("greedy").plan(manifest, offers)
    t0 = min(p.start_time for p in plan.placements)
    tot = {"jobs": len(plan.placements), "cost": 0.0, "misses": 0, "makespan": 0.0, "interruptions": 0,
           "spot_hours": 0.0, "od_hours": 0.0}
    for p in plan.placements:
        job, offer = jobs[p.job_id], by_id[p.offer_id]
        start = (p.start_time - t0).total_seconds() / 3600
        deadline = (job.deadline - p.start_time).total_seconds() / 3600 if job.deadline else math.inf
        work, overhead = job.estimated_duration_hours, restart_overhead(job)
        if p.tier == "spot":
            sim = Job(work, deadline, overhead, od_price=_od_price(offer, offers), spot_price=offer.price_per_hour)
            tick = (zlib.crc32(p.job_id.encode()) + shift) % len(trace.available)
            r = simulate(policy, sim, trace, tick)
            cost, spot_h, od_h, span, missed, interr = (r.cost, r.spot_hours, r.od_hours, r.makespan, r.missed,
                                                        r.interruptions)
        else:
            span = work + overhead
            cost, spot_h, od_h, missed, interr = span * offer.price_per_hour, 0.0, span, span > deadline, 0
        tot["cost"] += cost
        tot["spot_hours"] += spot_h
        tot["od_hours"] += od_h
        tot["interruptions"] += interr
        tot["misses"] += int(missed)
        tot["makespan"] = max(tot["makespan"], start + span)
    return tot
