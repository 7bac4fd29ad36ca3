"""What happens when a fleet reports that a task lost its spot capacity.

A preemption is not the task's failure (Airflow #21701): it has a retry budget of its own
(``[ai_scheduler] preemption_retries``) and does not use the task's ``retries``. The try is recorded in
history as ``preempted``; the task instance is put back to QUEUED (the Execution API only starts a task
from QUEUED) and relaunched with a fresh token on the fleet the spot policy picks — spot again (another
pool first), on-demand, or later ("wait") — and its run is re-planned so dependents move with it. When the
budget is spent the task is failed to Airflow, whose own retries take over.

The handler keeps no state of its own: a task's preemption count, the hours it ran and its pending DB
reset live on its ledger :class:`~.ledger.Entry`. It talks to the rest of the executor only through
:class:`PreemptionCallbacks`.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from airflow_ai_scheduler.airflow.ledger import Entry

log = logging.getLogger(__name__)

#: how long to wait before asking the spot policy again after a "wait" or a full tier
RETRY_DECISION_SECONDS = 2.0


@dataclass(frozen=True)
class FleetOption:
    """A fleet a relaunch could go to, as it stands now."""

    name: str
    tier: str
    free_slots: int
    spot_available: bool = True
    fits: bool = True  #: the task's resources and allow-lists fit it
    location: str = ""
    price_per_hour: float = 0.0  #: of the fleet's offer (0: unknown, the fleets' order decides)


@dataclass(frozen=True)
class PreemptionCallbacks:
    """Everything the handler may ask of the executor."""

    #: fail the task to Airflow (its own retries take over)
    fail: Callable[[Any, str], None]
    #: (entry) → Future[(workload | None, put back to QUEUED?)], run off the scheduler loop
    requeue: Callable[[Entry], Future]
    #: re-plan the run's unfinished tasks
    replan: Callable[[str, str], None]
    #: an audit-log event on the task (its Event Log in the UI)
    event: Callable[[Any, str, str], None]
    #: the manifest job of the task (None when its run has no plan)
    job: Callable[[Any], Any]
    #: the deadline that binds the task (its own, or earlier for a dependent's), None for none
    deadline: Callable[[Any, Any], datetime | None]
    #: the fleets a relaunch of this job could use
    fleets: Callable[[Any], Sequence[FleetOption]]


class PreemptionHandler:
    """``policy``: the configured spot policy; each preempted task decides with its own copy of it (a
    learning policy such as ``adaptive_slack`` follows one job's timeline: tasks taking turns would reset
    what it learned at every call)."""

    def __init__(self, policy: Any, retries: int, callbacks: PreemptionCallbacks) -> None:
        self.policy = policy
        self.retries = retries
        self.cb = callbacks

    def on_preempted(self, entry: Entry, info: Any) -> bool:
        """Update ``entry`` for a relaunch; False when the budget is spent (the task was failed)."""
        now = datetime.now(timezone.utc)
        key = entry.key
        started = entry.launched_at or now
        entry.preemptions += 1
        entry.first_start = entry.first_start or started
        entry.ran_hours += (now - started).total_seconds() / 3600
        entry.previous_fleet = entry.fleet
        n = entry.preemptions
        self.cb.event(key, "ai_scheduler.preempted", f"{info}; preemption {n} of at most {self.retries}")
        if n > self.retries or (entry.workload is None and not entry.adopted):
            log.warning("%s preempted %d times (budget %d): failing it to Airflow's own retries", key, n, self.retries)
            self.cb.fail(key, f"preempted {n} times (preemption_retries {self.retries})")
            return False
        entry.pending = self.cb.requeue(entry)
        entry.next_decision = 0.0
        self.cb.replan(*entry.run)
        log.info("%s lost its spot capacity (%s); relaunch %d of %d pending", key, info, n, self.retries)
        return True

    def state(self, entry: Entry, job: Any) -> Any:
        from airflow_ai_scheduler.recovery import ProgressState

        total = job.estimated_duration_hours if job else max(entry.ran_hours, 1e-3)
        c = (job.checkpoint_interval_hours or 0.25) if job and job.is_checkpointable else None
        done = max(0.0, entry.ran_hours - c) if c is not None else 0.0
        first = entry.first_start or datetime.now(timezone.utc)
        deadline = math.inf
        due = self.cb.deadline(entry.key, job) if job is not None else None
        if due is not None:
            deadline = (due - first).total_seconds() / 3600
        spot_up = any(o.tier == "spot" and o.spot_available and o.fits for o in self.cb.fleets(job))
        return ProgressState(
            elapsed_hours=(datetime.now(timezone.utc) - first).total_seconds() / 3600,
            work_done_hours=min(done, total), work_total_hours=total, deadline_hours=deadline,
            restart_overhead_hours=(job.restart_overhead_hours or 0.05) if job else 0.05,
            step_hours=1 / 60, spot_available=spot_up, current="none")

    def decide(self, entry: Entry) -> str | None:
        """The fleet to relaunch ``entry`` on now, or None to ask again shortly (the policy waits for spot,
        or the chosen tier has no free slot)."""
        now = time.monotonic()
        if now < entry.next_decision:
            return None
        job = self.cb.job(entry.key)
        state = self.state(entry, job)
        if entry.spot_policy is None:  # the configured policy, as configured, fresh for this task
            entry.spot_policy = copy.deepcopy(self.policy)
        decision = entry.spot_policy.decide(state)
        fleet = choose_fleet(decision, job, entry.previous_fleet, self.cb.fleets(job), hours=state.remaining)
        if fleet is None:
            entry.next_decision = now + RETRY_DECISION_SECONDS
            return None
        log.info("relaunching %s on fleet %s (policy: %s)", entry.key, fleet, decision)
        return fleet


def effective_deadline(manifest: Any, job: Any) -> datetime | None:
    """The deadline that binds ``job`` for recovery: its own, or earlier when a dependent's deadline needs it
    (it must finish in time for the dependent's runtime, restart overhead and one decision step)."""
    if job is None:
        return None
    if manifest is None:
        return job.deadline
    from airflow_ai_scheduler.planning.greedy import effective_deadlines

    try:
        return effective_deadlines(manifest, manifest.offers, margin_hours=1 / 60).get(job.job_id, job.deadline)
    except Exception:  # a manifest that cannot be scored: the job's own deadline
        log.debug("no effective deadline for %s", job.job_id, exc_info=True)
        return job.deadline


def choose_fleet(decision: str, job: Any, previous: str | None, options: Sequence[FleetOption], hours: float = 1.0,
                 egress: Any = None) -> str | None:
    """A fleet of the decided tier that the job may use and that has a free slot, or None to wait.

    Multi-region recovery: any spot pool the job may use counts as spot capacity (the policy sees spot as
    available when one has it), so a lost pool is replaced by spot elsewhere before on-demand. Among the
    free ones — the pool just lost last, as SkyPilot's EAGER_NEXT_REGION does — the cheapest for the work
    left: ``price_per_hour · hours`` plus the egress of the job's input (``input_data_size_gb``) from where
    it last ran to the fleet's location (``egress``: the manifest's :class:`~airflow_ai_scheduler.models.Egress`,
    list prices by default). Options of equal cost keep their order."""
    if decision == "wait":
        return None
    tier = "spot" if decision == "spot" else "on-demand"
    if job is not None and job.allowed_tiers and tier not in job.allowed_tiers:
        tier = job.allowed_tiers[0]  # the author's restriction wins over the policy
    allowed = [o for o in options if o.tier == tier and o.fits]
    if not allowed and tier == "on-demand":  # the job fits no on-demand fleet: any one keeps it alive
        allowed = [o for o in options if o.tier == "on-demand"]
    free = [o for o in allowed if o.free_slots > 0 and (o.tier != "spot" or o.spot_available)]
    if not free:
        return None
    origin = next((o.location for o in options if o.name == previous), "")
    gb = float(getattr(job, "input_data_size_gb", 0.0) or 0.0)
    if gb > 0 and origin and egress is None:
        from airflow_ai_scheduler.models import Egress

        egress = Egress.model_validate({})  # list prices

    def cost(o: FleetOption) -> float:
        move = 0.0
        if gb > 0 and origin and o.location and o.location != origin:
            from airflow_ai_scheduler.planning.objective import egress_rate

            move = gb * egress_rate(egress, origin, o.location)
        return o.price_per_hour * max(hours, 0.0) + move

    return min(free, key=lambda o: (o.name == previous, cost(o))).name
