"""What the executor does when a fleet reports that a task lost its spot capacity.

A preemption is not the task's failure (Airflow #21701): it has a retry budget of its own
(``[ai_scheduler] preemption_retries``) and does not use the task's ``retries``. The try is recorded in
history as ``preempted``; the task instance is put back to QUEUED (the Execution API only starts a task
from QUEUED) and relaunched with a fresh token on the fleet the spot policy picks — spot again (the same
or another pool), on-demand, or later ("wait") — and its run is re-planned so dependents move with it.
When the budget is spent the executor reports a failure and Airflow's own retries take over.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class Relaunch:
    workload: Any
    first_start: datetime
    ran_hours: float
    preemptions: int
    requeued: Any = None  # Future of the DB reset
    previous_fleet: str | None = None
    next_decision: float = field(default_factory=time.monotonic)
    since: float = field(default_factory=time.monotonic)  # put back to QUEUED then (kept fresh while it waits)


class PreemptionHandler:
    def __init__(self, executor: Any, policy: Any, retries: int) -> None:
        self.ex = executor
        self.policy = policy
        self.retries = retries
        self.pending: dict[Any, Relaunch] = {}
        self.count: dict[Any, int] = {}
        self.first_start: dict[Any, datetime] = {}
        self.ran_hours: dict[Any, float] = {}

    def on_preempted(self, key: Any, launch: dict[str, Any], workload: Any, info: Any) -> None:
        now = datetime.now(timezone.utc)
        n = self.count[key] = self.count.get(key, 0) + 1
        first = self.first_start.setdefault(key, launch["start"])
        ran = self.ran_hours[key] = self.ran_hours.get(key, 0.0) + (now - launch["start"]).total_seconds() / 3600
        self.ex.record_event(key, "ai_scheduler.preempted", f"{info}; preemption {n} of at most {self.retries}")
        if n > self.retries or workload is None:
            log.warning("%s preempted %d times (budget %d): failing it to Airflow's own retries", key, n, self.retries)
            self.ex.fail(key, info=f"preempted {n} times")
            return
        from airflow_ai_scheduler.airflow.executor import _requeue_ti

        fut = self.ex.planning.submit(_requeue_ti, workload.ti.id)
        self.pending[key] = Relaunch(workload, first, ran, n, requeued=fut, previous_fleet=launch.get("fleet"))
        self.ex.planning.request(key.dag_id, key.run_id, replan=True)
        log.info("%s lost its spot capacity (%s); relaunch %d of %d pending", key, info, n, self.retries)

    def state(self, key: Any, r: Relaunch) -> Any:
        from airflow_ai_scheduler.recovery import ProgressState

        job = self._job(key)
        total = job.estimated_duration_hours if job else max(r.ran_hours, 1e-3)
        c = (job.checkpoint_interval_hours or 0.25) if job and job.is_checkpointable else None
        done = max(0.0, r.ran_hours - c) if c is not None else 0.0
        deadline = math.inf
        due = self._deadline(key, job)
        if due is not None:
            deadline = (due - r.first_start).total_seconds() / 3600
        spot_up = any(f.spec.tier == "spot" and getattr(f, "spot_available", lambda: True)()
                      for f in self.ex.fleets.values())
        return ProgressState(
            elapsed_hours=(datetime.now(timezone.utc) - r.first_start).total_seconds() / 3600,
            work_done_hours=min(done, total), work_total_hours=total, deadline_hours=deadline,
            restart_overhead_hours=(job.restart_overhead_hours or 0.05) if job else 0.05,
            step_hours=1 / 60, spot_available=spot_up, current="none")

    def _deadline(self, key: Any, job: Any) -> datetime | None:
        """The job's own deadline, or earlier when a dependent's deadline needs it (effective_deadlines)."""
        if job is None:
            return None
        rp = self.ex.planning.get(key.dag_id, key.run_id)
        try:
            from airflow_ai_scheduler.planning.greedy import effective_deadlines

            return effective_deadlines(rp.manifest, rp.manifest.offers, margin_hours=1 / 60).get(job.job_id, job.deadline)
        except Exception:  # a manifest that cannot be scored: fall back to the job's own deadline
            log.debug("no effective deadline for %s", key, exc_info=True)
            return job.deadline

    def _job(self, key: Any) -> Any:
        from airflow_ai_scheduler.airflow.manifest import job_id_for

        rp = self.ex.planning.get(key.dag_id, key.run_id)
        if rp is None or rp.manifest is None:
            return None
        jobs = rp.manifest.job_map
        return jobs.get(job_id_for(key.task_id, key.map_index)) or jobs.get(key.task_id)

    def relaunch_due(self) -> list[tuple[Any, Any, str]]:
        """(key, workload, fleet) to launch now; called from sync()."""
        out = []
        now = time.monotonic()
        for key, r in list(self.pending.items()):
            if r.requeued is not None and not r.requeued.done():
                continue
            if r.requeued is not None and r.requeued.exception() is None and r.requeued.result() is False:
                # the task had finished (or was stopped) before its capacity went: do not run it again
                del self.pending[key]
                log.info("%s was no longer running when its capacity was lost; not relaunched", key)
                continue
            if now < r.next_decision:
                continue
            decision = self.policy.decide(self.state(key, r))
            fleet = self._fleet_for(decision, self._job(key), r.previous_fleet)
            if fleet is None:  # "wait", or no slot on the chosen tier: decide again shortly
                r.next_decision = now + 2.0
                continue
            del self.pending[key]
            out.append((key, r.workload, fleet))
            log.info("relaunching %s on fleet %s (policy: %s)", key, fleet, decision)
        return out

    def _fleet_for(self, decision: str, job: Any, previous: str | None) -> str | None:
        """A fleet of the decided tier that the job may use and that has a free slot — another spot pool
        before the one just lost (as SkyPilot's EAGER_NEXT_REGION does) — or None to wait."""
        from airflow_ai_scheduler.planning.candidates import fit_problem

        if decision == "wait":
            return None
        tier = "spot" if decision == "spot" else "on-demand"
        if job is not None and job.allowed_tiers and tier not in job.allowed_tiers:
            tier = job.allowed_tiers[0]  # the author's restriction wins over the policy
        allowed = [name for name, f in self.ex.fleets.items() if f.spec.tier == tier and (
            job is None or fit_problem(job, self.ex.offer_map[name]) is None)]
        if not allowed and tier == "on-demand":  # the job fits no on-demand fleet: any one keeps it alive
            allowed = [name for name, f in self.ex.fleets.items() if f.spec.tier == "on-demand"]
        allowed.sort(key=lambda name: name == previous)
        free = [name for name in allowed if self.ex.fleets[name].free_slots() > 0]
        return free[0] if free else None
