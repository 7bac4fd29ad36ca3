"""The outcome of a history row: what became of one try (or one attempt of it) of a task instance.

Every Airflow task-instance state maps to an outcome of its own — none is quietly called ``failed``:

=====================  ===================  ==========================================================
state when the         outcome              meaning
workload ended
=====================  ===================  ==========================================================
success                ``success``          the try succeeded
failed                 ``failed``           the try failed, no retry left
up_for_retry           ``failed``           the try failed; Airflow retries it as the next try (as
                                            Airflow's own try history records it)
skipped                ``skipped``          the task ran and skipped itself (AirflowSkipException)
upstream_failed        ``upstream_failed``  never ran: an upstream task failed (cost 0; the plan's)
removed                ``removed``          the task left the DAG while it ran
restarting             ``cleared``          cleared while it ran: Airflow stops it, runs a new try
deferred               ``deferred``         *not finished*: waits in the triggerer, then resumes
up_for_reschedule      ``up_for_reschedule`` *not finished*: a sensor between two pokes
awaiting_input         ``awaiting_input``   *not finished*: waits for a human (HITL)
=====================  ===================  ==========================================================

Rows written by the executor itself, whatever the state: ``preempted`` (the fleet lost the capacity
under the attempt; the same try goes on elsewhere) and ``reset`` (the scheduler that ran the try died and
its successor reset the task instance; Airflow runs it again as the next try).

The three *unfinished* outcomes are open rows: when the try goes on (resumed from the triggerer, the next
poke, the human's answer) the executor records that segment into the same row, so a try has one row; its
runtime and cost add up the time on a fleet only (not the wait in the triggerer), its end is the last
segment's, its outcome the try's final one. A task instance that never came back to an executor keeps
its open row.
"""

from __future__ import annotations

SUCCESS = "success"
FAILED = "failed"
SKIPPED = "skipped"
UPSTREAM_FAILED = "upstream_failed"
REMOVED = "removed"
CLEARED = "cleared"
DEFERRED = "deferred"
UP_FOR_RESCHEDULE = "up_for_reschedule"
AWAITING_INPUT = "awaiting_input"
PREEMPTED = "preempted"
RESET = "reset"
#: the task runner never reported a final state and Airflow had not settled it when we looked
UNKNOWN = "unknown"

#: task-instance state (when its workload ended) → outcome
BY_STATE: dict[str, str] = {
    "success": SUCCESS, "failed": FAILED, "up_for_retry": FAILED, "skipped": SKIPPED,
    "upstream_failed": UPSTREAM_FAILED, "removed": REMOVED, "restarting": CLEARED,
    "deferred": DEFERRED, "up_for_reschedule": UP_FOR_RESCHEDULE, "awaiting_input": AWAITING_INPUT,
}
#: states in which the try is not over: the row stays open for the next segment of the same try
OPEN: frozenset[str] = frozenset({DEFERRED, UP_FOR_RESCHEDULE, AWAITING_INPUT})
#: states that say nothing about how the try ended (the workload is gone but Airflow has not caught up)
UNSETTLED: frozenset[str | None] = frozenset({None, "None", "", "scheduled", "queued", "running"})
ALL: frozenset[str] = frozenset({*BY_STATE.values(), PREEMPTED, RESET, UNKNOWN})


def for_state(state: str | None, executor_failed: bool = False) -> str:
    """The outcome of a try whose workload ended with the task instance in ``state``."""
    if state in UNSETTLED:
        return FAILED if executor_failed else UNKNOWN
    return BY_STATE.get(str(state), UNKNOWN)
