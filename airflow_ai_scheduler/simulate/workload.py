"""Manifest mode: plan a manifest with the greedy planner (as the executor's first plan is), then play the
run forward on a spot availability trace, job by job in dependency order, as the executor would run it.

* A job starts at its planned time, or later when a dependency finished late (keeping the planned gap after
  it, i.e. the data transfer time).
* A spot placement is replayed with the spot policy (:func:`simulator.simulate`). The deadline the policy
  gets is the job's *effective* deadline (:func:`planning.greedy.effective_deadlines`): its own, or earlier
  when a dependent's deadline needs it — the executor's preemption handler uses the same one. Its on-demand
  fallback is billed at the on-demand offer of the same instance type in the same location (else the
  cheapest on-demand offer of that type anywhere, else the spot price × the catalog's V100 ratio
  2.86/1.37954). On-demand placements run as planned.
* Jobs on the same spot pool see the same availability at the same time: each pool reads the trace from its
  own offset (from its offer id, plus ``shift``), so the pools of a run see different windows, reproducibly.
* When a job finishes later than planned, its not-yet-started dependents are re-planned by the greedy
  planner from that moment (the executor re-plans a run's unfinished tasks after a preemption).

* A pool's ``capacity`` holds as jobs move: a job whose start would put more than ``capacity`` jobs on
  its pool at once waits for the first slot that stays free for its expected duration
  (``capacity_wait_hours`` sums those waits). The slot is held from its start to its end as simulated,
  including time a spot job spent waiting for spot or on its on-demand fallback (a simplification: that
  fallback does not count against any on-demand pool's capacity).

A deadline miss is a job finishing after its own deadline (or never finishing). Limit: a re-plan sees only
the late job's dependents (other jobs keep their planned starts, and wait for capacity if they must).
"""

from __future__ import annotations

import math
import zlib
from datetime import datetime, timedelta

from airflow_ai_scheduler.models import Manifest, Offer, Placement, topological_order
from airflow_ai_scheduler.planning.base import get_planner, resolve_offers
from airflow_ai_scheduler.planning.greedy import effective_deadlines
from airflow_ai_scheduler.planning.objective import restart_overhead
from airflow_ai_scheduler.recovery.policy import SpotPolicy
from airflow_ai_scheduler.simulate.simulator import OD_PRICE, SPOT_PRICE, Job, simulate
from airflow_ai_scheduler.simulate.traces import Trace

_LATE_H = 1 / 60  # a job finishing more than a minute after its planned end moves its dependents


def _od_price(spot: Offer, offers: list[Offer]) -> float:
    same = [o for o in offers if o.tier != "spot" and o.instance_type == spot.instance_type]
    here = [o for o in same if o.location == spot.location]
    pool = here or same
    return min(o.price_per_hour for o in pool) if pool else spot.price_per_hour * OD_PRICE / SPOT_PRICE


def _descendants(manifest: Manifest, job_id: str) -> set[str]:
    children: dict[str, list[str]] = {}
    for j in manifest.jobs:
        for d in j.dependencies:
            children.setdefault(d, []).append(j.job_id)
    out: set[str] = set()
    todo = [job_id]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


class _Slots:
    """The simulated (start, end) intervals on each capacity-limited pool."""

    def __init__(self) -> None:
        self.busy: dict[str, list[tuple[float, float]]] = {}

    def earliest(self, offer: Offer, t: float, span: float) -> float:
        """The first time ≥ t from which fewer than ``capacity`` jobs overlap [s, s + span)."""
        if offer.capacity is None:
            return t
        busy = self.busy.get(offer.offer_id, [])
        for s in sorted({t, *(e for _, e in busy if e > t)}):
            points = [s, *(b for b, _ in busy if s < b < s + span)]  # the count only rises at starts
            if all(sum(1 for b, e in busy if b <= p < e) < offer.capacity for p in points):
                return s
        return t  # unreachable: after the last end the pool is empty

    def take(self, offer: Offer, start: float, end: float) -> None:
        if offer.capacity is not None:
            self.busy.setdefault(offer.offer_id, []).append((start, end))


def _replan(manifest: Manifest, offers: list[Offer], ids: set[str], now: datetime) -> dict[str, Placement]:
    jobs = [j.model_copy(update={"dependencies": [d for d in j.dependencies if d in ids]})
            for j in manifest.jobs if j.job_id in ids]
    sub = manifest.model_copy(update={"now": now, "jobs": jobs})
    return get_planner("greedy").plan(sub, offers).placement_map


def simulate_manifest(manifest: Manifest, policy: SpotPolicy, trace: Trace, shift: int = 0,
                      replan: bool = True, timeline: bool = False) -> dict:
    """Totals over the manifest: cost, deadline misses, makespan (h from the earliest start), interruptions,
    spot and on-demand hours, re-plans, hours waited for pool capacity; ``shift`` moves every pool's trace
    offset (for several start points). ``timeline``: also ``{"timeline": {job: (offer id, start h, end h)}}``."""
    offers = resolve_offers(manifest)
    by_id = {o.offer_id: o for o in offers}
    place = dict(get_planner("greedy").plan(manifest, offers).placement_map)
    due = effective_deadlines(manifest, offers, margin_hours=trace.step_hours)
    jobs = manifest.job_map

    def hours(t: datetime) -> float:
        return (t - manifest.now).total_seconds() / 3600

    def dep_ends(plan: dict[str, Placement], at: float | None = None) -> dict[str, dict[str, float]]:
        """Per job of ``plan``: when that plan expects each dependency to end (a re-plan at ``at`` takes
        the dependencies outside it as ending then), so the planned gap after each is kept."""
        return {j: {d: hours(plan[d].expected_end_time) if d in plan else float(at or 0.0)
                    for d in jobs[j].dependencies} for j in plan}

    dep_end = dep_ends(place)

    tot = {"jobs": len(place), "cost": 0.0, "misses": 0, "makespan": 0.0, "interruptions": 0,
           "spot_hours": 0.0, "od_hours": 0.0, "replans": 0, "capacity_wait_hours": 0.0}
    finish: dict[str, float] = {}
    slots = _Slots()
    ran: dict[str, tuple[str, float, float]] = {}
    first_start = math.inf
    for job in topological_order(manifest.jobs):
        p = place[job.job_id]
        planned = hours(p.start_time)
        start = planned
        for d in job.dependencies:
            start = max(start, finish[d] + max(0.0, planned - dep_end[job.job_id][d]))
        offer = by_id[p.offer_id]
        work, overhead = job.estimated_duration_hours, restart_overhead(job)
        ready, start = start, slots.earliest(offer, start, work + overhead)
        tot["capacity_wait_hours"] += start - ready
        first_start = min(first_start, start)
        if p.tier == "spot":
            deadline = hours(due[job.job_id]) - start if due.get(job.job_id) else math.inf
            sim = Job(work, deadline, overhead, od_price=_od_price(offer, offers), spot_price=offer.price_per_hour)
            offset = zlib.crc32(p.offer_id.encode()) + shift
            r = simulate(policy, sim, trace, offset + round(start / trace.step_hours))
            cost, spot_h, od_h, span, finished, interr = (r.cost, r.spot_hours, r.od_hours, r.makespan,
                                                          r.finished, r.interruptions)
        else:
            span = work + overhead
            cost, spot_h, od_h, finished, interr = span * offer.price_per_hour, 0.0, span, True, 0
        end = finish[job.job_id] = start + span
        slots.take(offer, start, end)
        ran[job.job_id] = (offer.offer_id, start, end)
        tot["cost"] += cost
        tot["spot_hours"] += spot_h
        tot["od_hours"] += od_h
        tot["interruptions"] += interr
        tot["misses"] += int(not finished or (job.deadline is not None and end > hours(job.deadline) + 1e-9))
        tot["makespan"] = max(tot["makespan"], end)
        if replan and end > hours(p.expected_end_time) + _LATE_H:
            later = _descendants(manifest, job.job_id)
            if later:
                moved = _replan(manifest, offers, later, manifest.now + timedelta(hours=end))
                place.update(moved)
                dep_end.update(dep_ends(moved, at=end))
                tot["replans"] += 1
    tot["makespan"] -= first_start if math.isfinite(first_start) else 0.0
    if timeline:
        tot["timeline"] = ran
    return tot
