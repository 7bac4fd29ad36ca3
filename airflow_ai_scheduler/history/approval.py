"""The plan approval gate's state: one row per DAG run whose plan needs a person's approval.

The contract the executor relies on is :func:`approval_status` (through ``HistoryStore.approval_status``):
a cheap, pure read (one indexed select, no write) answering ``not_required`` for a run without a row,
``pending`` while nobody decided, and ``approved`` / ``rejected`` with a reason. A pending request whose
timeout passed answers as its timeout policy says (``approve`` or ``reject``) with the reason, without
writing; :func:`decide` records a person's decision (or the timeout's, when one acts on an expired request).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import insert, select, update

from airflow_ai_scheduler.exceptions import AiSchedulerError
from airflow_ai_scheduler.history.tables import plan_approval

PENDING, APPROVED, REJECTED, NOT_REQUIRED = "pending", "approved", "rejected", "not_required"
POLICIES = ("approve", "reject")


class ApprovalError(AiSchedulerError, ValueError):
    """An approval request or decision that cannot be made (unknown run, already decided, bad policy)."""


@dataclass(frozen=True)
class ApprovalStatus:
    state: str  # pending | approved | rejected | not_required
    reason: str
    plan_id: int | None = None
    requested_at: datetime | None = None
    timeout_at: datetime | None = None
    on_timeout: str | None = None
    decided_at: datetime | None = None
    decided_by: str | None = None

    @property
    def blocks(self) -> bool:
        """Tasks must wait (pending) — a rejected run is failed instead, an approved one runs."""
        return self.state == PENDING

    def as_dict(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(self).items()}


def _row(session: Any, dag_id: str, run_id: str) -> Any:
    return session.execute(select(plan_approval).where(plan_approval.c.dag_id == dag_id,
                                                       plan_approval.c.run_id == run_id)).mappings().first()


def status_of(row: Any, now: datetime | None = None) -> ApprovalStatus:
    if row is None:
        return ApprovalStatus(NOT_REQUIRED, "the DAG does not ask for plan approval")
    now = now or datetime.now(timezone.utc)
    common = dict(plan_id=row["plan_id"], requested_at=row["requested_at"], timeout_at=row["timeout_at"],
                  on_timeout=row["on_timeout"], decided_at=row["decided_at"], decided_by=row["decided_by"])
    state = row["state"]
    if state == PENDING and row["timeout_at"] is not None and now >= row["timeout_at"]:
        waited = (row["timeout_at"] - row["requested_at"]).total_seconds() / 60
        decided = APPROVED if row["on_timeout"] == "approve" else REJECTED
        return ApprovalStatus(decided, f"nobody decided within {waited:g} min: the timeout policy "
                                       f"{row['on_timeout']}s the plan", **{**common, "decided_by": "timeout"})
    if state == PENDING:
        until = f" until {row['timeout_at']:%Y-%m-%d %H:%M} UTC, then {row['on_timeout']}" if row["timeout_at"] else ""
        return ApprovalStatus(PENDING, f"waiting for a person to approve the plan{until}", **common)
    who = row["decided_by"] or "someone"
    why = f": {row['reason']}" if row["reason"] else ""
    return ApprovalStatus(state, f"plan {state} by {who}{why}", **common)


def approval_status(session_scope: Any, dag_id: str, run_id: str, now: datetime | None = None) -> ApprovalStatus:
    with session_scope() as s:
        return status_of(_row(s, dag_id, run_id), now)


def request(session_scope: Any, dag_id: str, run_id: str, *, plan_id: int | None = None,
            timeout_minutes: float | None = None, on_timeout: str = "reject") -> ApprovalStatus:
    """Ask for approval of the run's plan (idempotent: a second call only points a pending request at a newer
    plan; a decided one is left alone)."""
    if on_timeout not in POLICIES:
        raise ApprovalError(f"DAG {dag_id!r}: ai_scheduler_approval_on_timeout must be one of {POLICIES}, "
                            f"got {on_timeout!r}")
    if timeout_minutes is not None and timeout_minutes <= 0:
        raise ApprovalError(f"DAG {dag_id!r}: ai_scheduler_approval_timeout_minutes must be > 0, "
                            f"got {timeout_minutes!r}")
    now = datetime.now(timezone.utc)
    with session_scope() as s:
        row = _row(s, dag_id, run_id)
        if row is None:
            s.execute(insert(plan_approval).values(
                dag_id=dag_id, run_id=run_id, plan_id=plan_id, state=PENDING, requested_at=now,
                timeout_at=now + timedelta(minutes=timeout_minutes) if timeout_minutes else None,
                on_timeout=on_timeout))
        elif row["state"] == PENDING and plan_id is not None and row["plan_id"] != plan_id:
            s.execute(update(plan_approval).where(plan_approval.c.id == row["id"]).values(plan_id=plan_id))
        return status_of(_row(s, dag_id, run_id), now)


def decide(session_scope: Any, dag_id: str, run_id: str, decision: str, *, by: str, reason: str = "",
           plan_id: int | None = None) -> ApprovalStatus:
    """Record a person's decision on a pending request (``plan_id``: the plan approved, e.g. an edited one)."""
    if decision not in (APPROVED, REJECTED):
        raise ApprovalError(f"decision must be 'approved' or 'rejected', got {decision!r}")
    now = datetime.now(timezone.utc)
    with session_scope() as s:
        row = _row(s, dag_id, run_id)
        if row is None:
            raise ApprovalError(f"DAG {dag_id!r}, run {run_id!r} does not wait for a plan approval")
        current = status_of(row, now)
        if current.state != PENDING:
            raise ApprovalError(f"DAG {dag_id!r}, run {run_id!r}: the plan was already {current.reason}")
        values: dict[str, Any] = dict(state=decision, decided_at=now, decided_by=by[:250], reason=reason or None)
        if plan_id is not None:
            values["plan_id"] = plan_id
        s.execute(update(plan_approval).where(plan_approval.c.id == row["id"]).values(**values))
        return status_of(_row(s, dag_id, run_id), now)


def pending(session_scope: Any, dag_ids: set[str] | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Requests still waiting for a person, oldest first (expired ones included: the page says so)."""
    q = select(plan_approval).where(plan_approval.c.state == PENDING)
    if dag_ids is not None:
        q = q.where(plan_approval.c.dag_id.in_(sorted(dag_ids)))
    with session_scope() as s:
        return [dict(r) for r in s.execute(q.order_by(plan_approval.c.requested_at).limit(limit)).mappings()]
