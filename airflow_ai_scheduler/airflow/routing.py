"""Where a queued task goes and when: its run's validated plan, its safe default fleet when the plan cannot
route it, and — when more tasks are due on a fleet than it has free slots — the fleet's dispatch policy.

Everything here runs on the scheduler loop and reads memory only (plans are made off the loop by
:mod:`.planning_service`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from airflow_ai_scheduler.airflow.ledger import Entry, Stage
from airflow_ai_scheduler.airflow.manifest import job_id_for

#: a task waits at most this long for its run's first plan before it runs on its safe default fleet
PLAN_GIVE_UP_SECONDS = 60.0
#: a due task whose planned start passed this long ago (or a quarter of its runtime, if longer) while its
#: fleet was full may run on another fleet that has a free slot and fits it
SLIP_SECONDS = 30.0


@dataclass(frozen=True)
class Route:
    fleet: str | None  #: None: not now
    stage: Stage
    reason: str = ""  #: why it waits, or why it is not where its plan says ("fallback: ...")

    @property
    def fallback(self) -> bool:
        return self.reason.startswith("fallback")


class Router:
    def __init__(self, fleets: Mapping[str, Any], offers: Mapping[str, Any], *, plan_wait: float, max_hold: float,
                 policies: Mapping[str, Any]) -> None:
        self.fleets = fleets  # name → FleetBackend
        self.offers = offers  # name → Offer
        self.plan_wait = plan_wait
        self.max_hold = max_hold
        self.policies = policies  # fleet name → DispatchPolicy
        #: fleet → (monotonic time, "preempted" | "failed") of recent ends (the executor appends)
        self.recent: dict[str, deque[tuple[float, str]]] = {name: deque() for name in fleets}
        on_demand = [n for n, f in fleets.items() if f.spec.tier == "on-demand"]
        self.default_fleet = on_demand[0] if on_demand else next(iter(fleets))

    # -- where --------------------------------------------------------------------------------------
    def safe_fleet(self, job: Any, reason: str = "") -> str:
        """Where a task runs when its plan cannot route it: an on-demand fleet that fits it (the most free
        slots first), any on-demand fleet, else the default. A task whose budget no fleet meets goes to the
        cheapest fleet that fits it instead (on-demand would overspend more)."""
        from airflow_ai_scheduler.planning.candidates import fit_problem

        fits = [n for n, o in self.offers.items() if job is None or fit_problem(job, o) is None]
        if reason.startswith("budget_usd") and fits:
            return min(fits, key=lambda n: self.offers[n].price_per_hour)
        on_demand = [n for n in fits if self.fleets[n].spec.tier == "on-demand"] or [
            n for n, f in self.fleets.items() if f.spec.tier == "on-demand"]
        if not on_demand:
            return self.default_fleet
        return max(on_demand, key=lambda n: self.fleets[n].free_slots())

    def decide(self, entry: Entry, planning: Any, operator_runs: set[tuple[str, str]], now: datetime) -> Route:
        """The fleet for a queued task if it may run now; else why it waits."""
        if not entry.is_task or entry.workload is None or not hasattr(entry.workload, "ti"):
            return Route(entry.fleet or self.default_fleet, Stage.DUE)
        ti = entry.workload.ti
        waited = time.monotonic() - entry.seen
        run = (ti.dag_id, ti.run_id)
        rp = planning.get(*run)
        if run in operator_runs and not entry.planner_task and (rp is None or rp.source != "operator") \
                and waited < max(self.plan_wait, PLAN_GIVE_UP_SECONDS):
            return Route(None, Stage.PLANNING, "planning: waiting for the PlanPlacementOperator's plan")
        job_id = job_id_for(ti.task_id, ti.map_index)
        job = rp.jobs.get(job_id) if rp is not None else None
        if rp is None:
            failed = planning.failed(*run)
            if failed:
                return Route(self.safe_fleet(None), Stage.DUE, f"fallback: {failed}")
            if waited >= max(self.plan_wait, PLAN_GIVE_UP_SECONDS):
                return Route(self.safe_fleet(None), Stage.DUE, f"fallback: no plan for its run after {waited:.0f} s")
            return Route(None, Stage.PLANNING, "planning: waiting for its run's plan")
        if not rp.final and waited < self.plan_wait:
            return Route(None, Stage.PLANNING, "planning: waiting for the configured planner's plan")
        if job_id in rp.unmet:
            return Route(self.safe_fleet(job, rp.unmet[job_id]), Stage.DUE, f"fallback: {rp.unmet[job_id]}")
        if not rp.routable:
            return Route(self.safe_fleet(job), Stage.DUE, f"fallback: its run's plan is not valid: {rp.reason}")
        placement = rp.placements.get(job_id)
        if placement is None and ti.map_index is not None and ti.map_index >= 0:
            placement = rp.placements.get(ti.task_id)  # expanded after planning: routed as the unexpanded task
            if placement is not None:  # meanwhile; a re-plan gives each mapped index its own placement
                planning.request(*run, replan=True)
        if placement is None:
            planning.request(*run, replan=True)
            return Route(self.safe_fleet(job), Stage.DUE,
                         "fallback: not in its run's plan (mapped or cleared after planning); re-planning the run")
        if placement.offer_id not in self.fleets:
            return Route(self.safe_fleet(job), Stage.DUE,
                         f"fallback: its planned fleet {placement.offer_id!r} is not configured")
        if self._waiting_for_window(placement, now) and waited < self.max_hold:
            return Route(None, Stage.HELD, f"price window: planned start {placement.start_time:%Y-%m-%d %H:%M:%S}"
                                           f" UTC on {placement.offer_id}")
        return Route(placement.offer_id, Stage.DUE)

    def _waiting_for_window(self, placement: Any, now: datetime) -> bool:
        """Hold only a deliberate wait for a cheaper price window: a start planned after its dependencies
        because of their estimated runtimes is released as soon as the scheduler queues the task."""
        offer = self.offers.get(placement.offer_id)
        if offer is None or not offer.price_schedule or placement.start_time <= now:
            return False
        return offer.price_at(now) > offer.price_at(placement.start_time) + 1e-12

    # -- when the planned fleet is full ------------------------------------------------------------------
    def slipped(self, entry: Entry, planning: Any, now: datetime) -> Any:
        """The placement of a due task whose planned start passed more than :data:`SLIP_SECONDS` (or a
        quarter of its expected runtime, if longer) ago while its fleet had no free slot; else None."""
        if entry.reason or not entry.is_task or not hasattr(entry.workload, "ti"):
            return None  # fallbacks and holds are not moved
        ti = entry.workload.ti
        rp = planning.get(ti.dag_id, ti.run_id)
        if rp is None:
            return None
        placement = _placement_of(rp, ti)
        if placement is None:
            return None
        runtime = (placement.expected_end_time - placement.start_time).total_seconds()
        late = (now - placement.start_time).total_seconds()
        return placement if late > max(SLIP_SECONDS, 0.25 * runtime) else None

    def queue_move(self, entry: Entry, planning: Any, ahead: int, free: dict[str, int]) -> tuple[str, str] | None:
        """(fleet, reason) when a due task whose wait has a price (its plan's delay rate) would wait for its
        full planned fleet longer than a free fleet's extra price is worth; else None.

        The expected wait behind ``ahead`` tasks on a fleet of ``slots`` is ``(ahead / slots + ½)`` of the
        task's planned runtime (half a runtime for the first slot to free up): what its plan could not see,
        since each run is planned alone, not against the queue other runs put on the fleet."""
        ti = entry.workload.ti
        rp = planning.get(ti.dag_id, ti.run_id)
        job_id = job_id_for(ti.task_id, ti.map_index)
        if rp is None:
            return None
        rate = rp.delay_rates.get(job_id, rp.delay_rates.get(ti.task_id, 0.0))
        placement = _placement_of(rp, ti)
        if rate <= 0 or placement is None or entry.fleet not in self.fleets:
            return None
        target = self.move(entry, planning, free)
        if target is None:
            return None
        fleet = self.fleets[entry.fleet]
        slots = max(1, int(getattr(fleet, "capacity", None) or fleet.spec.slots))
        runtime = max((placement.expected_end_time - placement.start_time).total_seconds(), 1.0)
        wait = (ahead / slots + 0.5) * runtime
        waiting_costs = rate * wait / 3600
        extra = (self._price(target) - self._price(entry.fleet)) * runtime / 3600
        if waiting_costs <= extra:
            return None
        return target, (f"moved: {entry.fleet} is full ({ahead} ahead, ~{wait:.0f} s wait at ${rate:g}/h of delay = "
                        f"${waiting_costs:.5f}); {target} had a free slot for ${max(extra, 0.0):.5f} more")

    def _price(self, fleet: str) -> float:
        offer = self.offers.get(fleet)
        return offer.price_at(now_utc()) if offer is not None else 0.0

    def move(self, entry: Entry, planning: Any, free: dict[str, int]) -> str | None:
        """A fleet with a free slot that may run the task (its hints fit), the cheapest first; None if none."""
        from airflow_ai_scheduler.planning.candidates import fit_problem

        ti = entry.workload.ti
        rp = planning.get(ti.dag_id, ti.run_id)
        job = rp.jobs.get(job_id_for(ti.task_id, ti.map_index)) if rp is not None else None
        options = [n for n, k in free.items() if k > 0 and n != entry.fleet and self.fleets[n].spot_available()
                   and (job is None or fit_problem(job, self.offers[n]) is None)]
        return min(options, key=lambda n: (self.offers[n].price_per_hour, n)) if options else None

    # -- in which order -----------------------------------------------------------------------------
    def order(self, fleet: str, due: Sequence[Entry], planning: Any, running: Mapping[str, Sequence[Entry]],
              now: datetime, free: int) -> list[Entry]:
        """The first ``free`` of ``due`` (already in Airflow's priority order) by the fleet's dispatch policy."""
        if len(due) <= free:
            return list(due)
        from airflow_ai_scheduler.dispatch import PriorityWeightPolicy

        policy = self.policies.get(fleet)
        if policy is None or isinstance(policy, PriorityWeightPolicy):
            return list(due[:free])
        view, candidates = self.fleet_view(fleet, running, free, planning), [self.candidate(e, planning) for e in due]
        by_key = {e.key: e for e in due}
        try:
            ordered = policy.order(candidates, view, now)
            chosen = [by_key[c.key] for c in ordered if c.key in by_key]
            if len({id(e) for e in chosen}) != len(due):
                raise ValueError("the policy did not return each candidate exactly once")
        except Exception:
            import logging

            logging.getLogger(__name__).exception("dispatch policy %s failed on fleet %s; using priority_weight",
                                                  getattr(policy, "name", policy), fleet)
            return list(due[:free])
        return chosen[:free]

    def fleet_view(self, fleet: str, running: Mapping[str, Sequence[Entry]], free: int, planning: Any = None) -> Any:
        from airflow_ai_scheduler.dispatch import FleetView

        spec, offer = self.fleets[fleet].spec, self.offers.get(fleet)
        by_dag: dict[str, int] = {}
        by_owner: dict[str, int] = {}
        for e in running.get(fleet, ()):
            by_dag[e.run[0]] = by_dag.get(e.run[0], 0) + 1
            rp = planning.get(*e.run) if planning is not None else None
            owner = rp.owners.get(getattr(e.key, "task_id", "")) if rp is not None else None
            owner = owner or e.run[0]  # as the policies group a task without an owner: by its DAG
            by_owner[owner] = by_owner.get(owner, 0) + 1
        recent = self.recent.setdefault(fleet, deque())
        hour_ago = time.monotonic() - 3600
        while recent and recent[0][0] < hour_ago:
            recent.popleft()
        return FleetView(name=fleet, tier=spec.tier, slots=spec.slots, free_slots=free,
                         price_per_hour=offer.price_per_hour if offer else 0.0, running_by_dag=by_dag,
                         running_by_owner=by_owner,
                         recent_preemptions=sum(1 for _, kind in recent if kind == "preempted"),
                         recent_failures=sum(1 for _, kind in recent if kind == "failed"))

    def note_end(self, fleet: str, kind: str) -> None:
        """A try on ``fleet`` ended ``preempted`` or ``failed`` (what FleetView's recent counts are of)."""
        self.recent.setdefault(fleet, deque()).append((time.monotonic(), kind))

    @staticmethod
    def candidate(entry: Entry, planning: Any) -> Any:
        from airflow_ai_scheduler.dispatch import Candidate

        ti = entry.workload.ti
        rp = planning.get(ti.dag_id, ti.run_id)
        job_id = job_id_for(ti.task_id, ti.map_index)
        job = rp.jobs.get(job_id) if rp is not None else None
        placement = rp.placements.get(job_id) if rp is not None else None
        runtime = ((placement.expected_end_time - placement.start_time).total_seconds() / 3600 if placement
                   else (job.estimated_duration_hours if job else 0.1))
        return Candidate(
            key=entry.key, dag_id=ti.dag_id, task_id=ti.task_id, run_id=ti.run_id,
            owner=(rp.owners.get(ti.task_id) if rp is not None else None),
            priority=(job.priority if job else 1), priority_weight=int(getattr(ti, "priority_weight", 1) or 1),
            deadline=(job.deadline if job else None), expected_runtime_hours=max(runtime, 0.0),
            expected_cost=(placement.estimated_cost if placement else 0.0),
            waiting_seconds=time.monotonic() - entry.seen,
            descendants=descendants(rp.jobs).get(job_id, 0) if rp is not None else 0,
            run_remaining_hours=remaining_hours(rp) if rp is not None else max(runtime, 0.0))


def remaining_hours(rp: Any) -> float:
    """Expected work of a run not finished when it was last planned (its manifest's jobs), in hours."""
    manifest = getattr(rp, "manifest", None)
    if manifest is None:
        return 0.0
    cached = getattr(rp, "_remaining_hours", None)
    if cached is None:
        cached = sum(j.estimated_duration_hours for j in manifest.jobs)
        rp._remaining_hours = cached
    return float(cached)


_DESCENDANTS: dict[int, tuple[Mapping[str, Any], dict[str, int]]] = {}


def descendants(jobs: Mapping[str, Any]) -> dict[str, int]:
    """job_id → how many of the run's jobs depend on it, directly or not (what a dispatch policy's
    ``Candidate.descendants`` says a task unblocks). Cached per jobs mapping: it runs on the scheduler loop."""
    hit = _DESCENDANTS.get(id(jobs))
    if hit is not None and hit[0] is jobs:
        return hit[1]
    from graphlib import TopologicalSorter

    index = {job_id: i for i, job_id in enumerate(jobs)}
    children: dict[str, list[str]] = {}
    for j in jobs.values():
        for d in j.dependencies:
            if d in index:
                children.setdefault(d, []).append(j.job_id)
    below: dict[str, int] = {}  # a bit per job below (ints as bitsets: a 10,000-job chain stays cheap)
    order = TopologicalSorter({j: [d for d in jobs[j].dependencies if d in index] for j in jobs}).static_order()
    for job_id in reversed(list(order)):
        mask = 0
        for c in children.get(job_id, ()):
            mask |= below[c] | (1 << index[c])
        below[job_id] = mask
    counts = {job_id: below[job_id].bit_count() for job_id in jobs}
    if len(_DESCENDANTS) > 256:
        _DESCENDANTS.clear()
    _DESCENDANTS[id(jobs)] = (jobs, counts)
    return counts


def _placement_of(rp: Any, ti: Any) -> Any:
    """The task's placement in its run's plan; a mapped task expanded after planning has its unexpanded
    task's (what :meth:`Router.decide` routed it by until the re-plan)."""
    return rp.placements.get(job_id_for(ti.task_id, ti.map_index)) or rp.placements.get(ti.task_id)


def now_utc() -> datetime:
    return datetime.now(timezone.utc)
