"""The repository of plans and history: one place for every read and write of our tables.

Used by the executor's background thread, the CLI and the UI. ``session_scope`` is a callable returning a
context manager that yields a SQLAlchemy session and commits on exit (Airflow's ``create_session``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update

from airflow_ai_scheduler.history import outcomes
from airflow_ai_scheduler.history.estimates import mean_std
from airflow_ai_scheduler.history.tables import (
    llm_exchange,
    next_run,
    placement,
    plan,
    plan_approval,
    plan_claim,
    task_history,
)
from airflow_ai_scheduler.models import Manifest, Plan

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredPlan:
    id: int
    dag_id: str
    run_id: str
    plan: Plan
    created_at: datetime
    on_demand_cost: float | None
    llm_exchange_id: int | None


class HistoryStore:
    def __init__(self, session_scope: Callable[[], Any]) -> None:
        self.session_scope = session_scope

    # -- plans ---------------------------------------------------------------------------------------
    def save_plan(self, dag_id: str, run_id: str, p: Plan, manifest: Manifest | None = None,
                  llm_exchange_id: int | None = None, on_demand_cost: float | None = None) -> int:
        """Store a run's plan (earlier plans of the run become superseded); returns its id."""
        o = p.objective
        with self.session_scope() as s:
            s.execute(update(plan).where(plan.c.dag_id == dag_id, plan.c.run_id == run_id,
                                         plan.c.superseded.is_(False)).values(superseded=True))
            plan_id = s.execute(insert(plan).values(
                dag_id=dag_id, run_id=run_id, planner=p.planner, status=p.status, objective_cost=o.cost,
                objective_tardiness=o.tardiness, objective_risk=o.risk, objective_total=o.total,
                lower_bound=p.lower_bound, gap=p.gap, planning_seconds=p.planning_seconds,
                manifest_hash=p.manifest_hash, manifest_json=manifest.model_dump_json() if manifest else None,
                plan_json=p.model_dump_json(), on_demand_cost=on_demand_cost, superseded=False,
                llm_exchange_id=llm_exchange_id, created_at=datetime.now(timezone.utc),
                objective_co2e_kg=o.co2e_kg, objective_delay_cost=o.delay_cost,
            )).inserted_primary_key[0]
            if p.placements:
                s.execute(insert(placement), [dict(
                    plan_id=plan_id, dag_id=dag_id, run_id=run_id, job_id=x.job_id, offer_id=x.offer_id,
                    provider=x.provider, region=x.region, instance_type=x.instance_type, tier=x.tier,
                    planned_start=x.start_time, planned_end=x.expected_end_time, planned_cost=x.estimated_cost,
                    rationale=x.rationale, planned_co2e_kg=x.estimated_co2e_kg, commitment=x.commitment)
                    for x in p.placements])
        return int(plan_id)

    def latest_plan(self, dag_id: str, run_id: str) -> StoredPlan | None:
        with self.session_scope() as s:
            row = s.execute(select(plan).where(plan.c.dag_id == dag_id, plan.c.run_id == run_id)
                            .order_by(plan.c.superseded.asc(), plan.c.id.desc()).limit(1)).mappings().first()
        if row is None:
            return None
        return StoredPlan(id=row["id"], dag_id=dag_id, run_id=run_id, plan=Plan.model_validate_json(row["plan_json"]),
                          created_at=row["created_at"], on_demand_cost=row["on_demand_cost"],
                          llm_exchange_id=row["llm_exchange_id"])

    def recent_plans(self, dag_id: str | None = None, limit: int = 50, *, offset: int = 0,
                     dag_ids: set[str] | None = None) -> list[dict[str, Any]]:
        """The runs' plans in force, newest first; ``dag_ids`` (the DAGs a user may read) filters them."""
        q = select(plan.c.id, plan.c.dag_id, plan.c.run_id, plan.c.planner, plan.c.status, plan.c.objective_cost,
                   plan.c.on_demand_cost, plan.c.created_at).where(*self._plan_filter(dag_id, dag_ids))
        with self.session_scope() as s:
            return [dict(r) for r in s.execute(q.order_by(plan.c.id.desc()).offset(offset).limit(limit)).mappings()]

    def count_plans(self, dag_id: str | None = None, *, dag_ids: set[str] | None = None) -> int:
        with self.session_scope() as s:
            return int(s.execute(select(func.count()).select_from(plan).where(
                *self._plan_filter(dag_id, dag_ids))).scalar_one())

    @staticmethod
    def _plan_filter(dag_id: str | None, dag_ids: set[str] | None) -> list[Any]:
        out = [plan.c.superseded.is_(False)]
        if dag_id:
            out.append(plan.c.dag_id == dag_id)
        if dag_ids is not None:
            out.append(plan.c.dag_id.in_(sorted(dag_ids)))
        return out

    def manifest_json(self, plan_id: int) -> str | None:
        """The manifest a plan was made from (None for a plan made outside the executor, e.g. by the operator)."""
        with self.session_scope() as s:
            return s.execute(select(plan.c.manifest_json).where(plan.c.id == plan_id)).scalar_one_or_none()

    # -- task history -------------------------------------------------------------------------------
    def record(self, row: Mapping[str, Any]) -> None:
        """One finished try (or preempted attempt). Raises on a database error: see ResilientHistoryWriter.

        A try that is still open (deferred, between two pokes, awaiting input: :mod:`.outcomes`) has one
        row; the next segment of the same try is added to it (fleet time and cost summed, end and outcome
        the segment's) instead of a second row. A preempted attempt always gets a row of its own."""
        now = datetime.now(timezone.utc)
        with self.session_scope() as s:
            open_row = None
            if row.get("outcome") != outcomes.PREEMPTED:
                t = task_history.c
                open_row = s.execute(select(task_history).where(
                    t.dag_id == row["dag_id"], t.task_id == row["task_id"], t.run_id == row["run_id"],
                    t.map_index == row.get("map_index", -1), t.try_number == row["try_number"],
                    t.outcome.in_(sorted(outcomes.OPEN))).order_by(t.id.desc()).limit(1)).mappings().first()
            if open_row is None:
                s.execute(insert(task_history).values(**{**row, "recorded_at": now}))
                return
            s.execute(update(task_history).where(task_history.c.id == open_row["id"])
                      .values(**merge_segment(open_row, row), recorded_at=now))

    def history(self, dag_id: str, task_id: str | None = None, run_id: str | None = None,
                limit: int = 50, *, offset: int = 0) -> list[dict[str, Any]]:
        """Recorded tries, newest first."""
        q = select(task_history).where(*self._history_filter(dag_id, task_id, run_id))
        with self.session_scope() as s:
            return [dict(r) for r in s.execute(q.order_by(task_history.c.id.desc()).offset(offset).limit(limit))
                    .mappings()]

    def count_history(self, dag_id: str, task_id: str | None = None, run_id: str | None = None) -> int:
        with self.session_scope() as s:
            return int(s.execute(select(func.count()).select_from(task_history).where(
                *self._history_filter(dag_id, task_id, run_id))).scalar_one())

    @staticmethod
    def _history_filter(dag_id: str, task_id: str | None, run_id: str | None) -> list[Any]:
        out = [task_history.c.dag_id == dag_id]
        if task_id:
            out.append(task_history.c.task_id == task_id)
        if run_id:
            out.append(task_history.c.run_id == run_id)
        return out

    def tries_between(self, since: datetime, until: datetime, dag_ids: Sequence[str] | None = None
                      ) -> list[dict[str, Any]]:
        """The tries that started in [since, until) — what the demand forecast reads."""
        q = select(task_history.c.dag_id, task_history.c.task_id, task_history.c.run_id, task_history.c.map_index,
                   task_history.c.fleet, task_history.c.outcome, task_history.c.actual_start,
                   task_history.c.actual_end, task_history.c.actual_cost).where(
            task_history.c.actual_start >= since, task_history.c.actual_start < until)
        if dag_ids is not None:
            q = q.where(task_history.c.dag_id.in_(list(dag_ids)))
        with self.session_scope() as s:
            return [dict(r) for r in s.execute(q.order_by(task_history.c.actual_start)).mappings()]

    def runtime_estimates(self, dag_id: str, task_ids: Sequence[str], lookback: int = 20
                          ) -> dict[str, tuple[float, float, int]]:
        """Runtime μ and σ (hours) of each task's last ``lookback`` successful tries (map indexes pooled)."""
        out: dict[str, tuple[float, float, int]] = {}
        with self.session_scope() as s:
            for task_id in task_ids:
                secs = s.execute(select(task_history.c.runtime_seconds).where(
                    task_history.c.dag_id == dag_id, task_history.c.task_id == task_id,
                    task_history.c.outcome == "success", task_history.c.runtime_seconds.is_not(None))
                    .order_by(task_history.c.id.desc()).limit(lookback)).scalars().all()
                if secs:
                    mu, sd, n = mean_std(x / 3600.0 for x in secs)
                    out[task_id] = (mu, sd, n)
        return out

    def interruption_stats(self, lookback_days: float = 7.0) -> dict[tuple[str, str, str], tuple[int, float]]:
        """Per spot pool (provider, region, instance type): (preemptions, hours run) in the window."""
        since = datetime.now(timezone.utc) - timedelta(days=lookback_days)
        key = (task_history.c.provider, task_history.c.region, task_history.c.instance_type)
        q = (select(*key, func.sum(func.coalesce(task_history.c.runtime_seconds, 0.0)),
                    func.count().filter(task_history.c.outcome == "preempted"))
             .where(and_(task_history.c.tier == "spot", task_history.c.recorded_at >= since))
             .group_by(*key))
        with self.session_scope() as s:
            return {(r[0], r[1], r[2]): (int(r[4] or 0), float(r[3] or 0.0) / 3600.0) for r in s.execute(q)}

    def actual_costs(self, runs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], float]:
        """USD of the recorded tries of each (dag_id, run_id)."""
        dag_ids = sorted({d for d, _ in runs})
        run_ids = sorted({r for _, r in runs})
        q = (select(task_history.c.dag_id, task_history.c.run_id,
                    func.coalesce(func.sum(task_history.c.actual_cost), 0.0))
             .where(task_history.c.dag_id.in_(dag_ids), task_history.c.run_id.in_(run_ids))
             .group_by(task_history.c.dag_id, task_history.c.run_id))
        wanted = set(runs)
        with self.session_scope() as s:
            return {(d, r): float(c) for d, r, c in s.execute(q) if (d, r) in wanted}

    def recent_runs(self, dag_id: str, limit: int = 5) -> list[dict[str, Any]]:
        """The latest runs' planned vs actual cost (actual: sum over recorded tries)."""
        plans = self.recent_plans(dag_id, limit=limit)
        with self.session_scope() as s:
            for p in plans:
                p["actual_cost"] = s.execute(select(func.coalesce(func.sum(task_history.c.actual_cost), 0.0)).where(
                    task_history.c.dag_id == dag_id, task_history.c.run_id == p["run_id"])).scalar_one()
        return plans

    # -- LLM exchanges ------------------------------------------------------------------------------
    def save_exchange(self, ex: Any, dag_id: str | None = None, run_id: str | None = None) -> int:
        """Store an :class:`~airflow_ai_scheduler.planning.llm.schema.LLMExchange` (already scrubbed)."""
        response = ex.response_text
        if response is None and ex.response_json is not None:
            response = json.dumps(ex.response_json)
        return self.save_llm_exchange(
            dag_id=dag_id, run_id=run_id, model=ex.model, prompt_hash=ex.prompt_hash, prompt=ex.prompt,
            response=response, latency_seconds=ex.latency_seconds, input_tokens=ex.input_tokens,
            output_tokens=ex.output_tokens, outcome=ex.outcome, reason=ex.reason, attempts=ex.attempts,
            repair=ex.repair.model_dump_json())

    def planning_history(self, dag_id: str, task_ids: Sequence[str], lookback: int = 20,
                         recent: int = 5) -> Any:
        """What the LLM planner is shown of the past: runtimes per task, interruptions per spot pool
        (``provider:region:instance_type``), recent runs' planned vs actual cost."""
        from airflow_ai_scheduler.planning.llm.schema import PlanningHistory, RunCost, TaskStats

        runtimes = {t: TaskStats(mean_hours=mu, std_hours=sd, n=n)
                    for t, (mu, sd, n) in self.runtime_estimates(dag_id, task_ids, lookback).items()}
        pools = {":".join(str(x) for x in k): n for k, (n, _hours) in self.interruption_stats().items()}
        runs = [RunCost(run_id=r["run_id"], planned_usd=float(r["objective_cost"] or 0.0),
                        actual_usd=float(r["actual_cost"] or 0.0)) for r in self.recent_runs(dag_id, recent)]
        return PlanningHistory(task_runtimes=runtimes, pool_interruptions=pools, recent_runs=runs)

    def save_llm_exchange(self, **fields: Any) -> int:
        with self.session_scope() as s:
            return int(s.execute(insert(llm_exchange).values(
                **{**fields, "created_at": datetime.now(timezone.utc)})).inserted_primary_key[0])

    def llm_exchange(self, exchange_id: int) -> dict[str, Any] | None:
        with self.session_scope() as s:
            row = s.execute(select(llm_exchange).where(llm_exchange.c.id == exchange_id)).mappings().first()
        if not row:
            return None
        out = dict(row)
        out["repair"] = json.loads(out["repair"]) if out.get("repair") else None
        return out

    # -- plan approval (see history/approval.py for the contract) -----------------------------------
    def approval_status(self, dag_id: str, run_id: str, now: datetime | None = None) -> Any:
        """``pending | approved | rejected | not_required`` (+ reason) of the run's plan: one read, no write."""
        from airflow_ai_scheduler.history import approval

        return approval.approval_status(self.session_scope, dag_id, run_id, now)

    def request_approval(self, dag_id: str, run_id: str, **kwargs: Any) -> Any:
        from airflow_ai_scheduler.history import approval

        return approval.request(self.session_scope, dag_id, run_id, **kwargs)

    def decide_approval(self, dag_id: str, run_id: str, decision: str, **kwargs: Any) -> Any:
        from airflow_ai_scheduler.history import approval

        return approval.decide(self.session_scope, dag_id, run_id, decision, **kwargs)

    def pending_approvals(self, dag_ids: set[str] | None = None, limit: int = 100) -> list[dict[str, Any]]:
        from airflow_ai_scheduler.history import approval

        return approval.pending(self.session_scope, dag_ids, limit)

    # -- plan claims (several schedulers: one plans a run) ----------------------------------------
    def claim_plan(self, dag_id: str, run_id: str, owner: str,
                   owner_alive: Callable[[str], bool] | None = None) -> str:
        """Claim the planning of a run for ``owner``; returns who holds the claim afterwards (``owner``
        when this call won it). A claim whose holder is no longer alive (``owner_alive``) is taken over,
        with a compare-and-set so two schedulers cannot both take it."""
        from sqlalchemy.exc import IntegrityError

        now = datetime.now(timezone.utc)
        try:
            with self.session_scope() as s:
                s.execute(insert(plan_claim).values(dag_id=dag_id, run_id=run_id, claimed_by=owner, claimed_at=now))
            return owner
        except IntegrityError:
            pass  # someone holds it (the insert was rolled back)
        where = (plan_claim.c.dag_id == dag_id, plan_claim.c.run_id == run_id)
        with self.session_scope() as s:
            holder = s.scalar(select(plan_claim.c.claimed_by).where(*where))
            if holder is None or holder == owner:
                return owner if holder == owner else self.claim_plan(dag_id, run_id, owner, owner_alive)
            if owner_alive is not None and not owner_alive(holder):
                taken = s.execute(update(plan_claim).where(*where, plan_claim.c.claimed_by == holder)
                                  .values(claimed_by=owner, claimed_at=now)).rowcount
                if taken:
                    log.info("took over planning %s/%s from %s (no longer alive)", dag_id, run_id, holder)
                    return owner
                holder = s.scalar(select(plan_claim.c.claimed_by).where(*where)) or holder
        return str(holder)

    # -- settings for a DAG's next run (a what-if applied from the UI) --------------------------------
    def set_next_run(self, dag_id: str, settings: Mapping[str, Any], by: str | None = None) -> None:
        with self.session_scope() as s:
            s.execute(delete(next_run).where(next_run.c.dag_id == dag_id))
            s.execute(insert(next_run).values(dag_id=dag_id, settings_json=json.dumps(dict(settings)), set_by=by,
                                              set_at=datetime.now(timezone.utc)))

    def next_run(self, dag_id: str) -> dict[str, Any] | None:
        """``{settings, set_by, set_at}`` waiting for the DAG's next run, or None."""
        with self.session_scope() as s:
            row = s.execute(select(next_run).where(next_run.c.dag_id == dag_id)).mappings().first()
        return None if row is None else {"settings": json.loads(row["settings_json"]), "set_by": row["set_by"],
                                         "set_at": row["set_at"]}

    def take_next_run(self, dag_id: str) -> dict[str, Any] | None:
        """The next-run settings, removed in the same transaction: exactly one run is planned with them."""
        with self.session_scope() as s:
            row = s.execute(delete(next_run).where(next_run.c.dag_id == dag_id).returning(
                next_run.c.settings_json, next_run.c.set_by)).first()
        return None if row is None else {"settings": json.loads(row[0]), "set_by": row[1]}

    def clear_next_run(self, dag_id: str) -> bool:
        with self.session_scope() as s:
            return bool(s.execute(delete(next_run).where(next_run.c.dag_id == dag_id)).rowcount)

    def purge_run(self, dag_id: str, run_id: str) -> None:
        with self.session_scope() as s:
            s.execute(delete(plan_claim).where(plan_claim.c.dag_id == dag_id, plan_claim.c.run_id == run_id))
            s.execute(delete(task_history).where(task_history.c.dag_id == dag_id, task_history.c.run_id == run_id))
            s.execute(delete(plan_approval).where(plan_approval.c.dag_id == dag_id, plan_approval.c.run_id == run_id))
            s.execute(delete(plan).where(plan.c.dag_id == dag_id, plan.c.run_id == run_id))


def merge_segment(open_row: Mapping[str, Any], row: Mapping[str, Any]) -> dict[str, Any]:
    """The open row of a try with its next segment added (pure)."""
    merged = {k: v for k, v in row.items() if k not in ("actual_start", "planned_start", "planned_end",
                                                         "planned_cost")}
    merged["actual_start"] = open_row["actual_start"] or row.get("actual_start")
    merged["runtime_seconds"] = float(open_row["runtime_seconds"] or 0.0) + float(row.get("runtime_seconds") or 0.0)
    merged["actual_cost"] = round(float(open_row["actual_cost"] or 0.0) + float(row.get("actual_cost") or 0.0), 8)
    if open_row.get("co2e_kg") is not None or row.get("co2e_kg") is not None:
        merged["co2e_kg"] = round(float(open_row.get("co2e_kg") or 0.0) + float(row.get("co2e_kg") or 0.0), 8)
    for k in ("planned_start", "planned_end", "planned_cost"):
        merged[k] = open_row[k] if open_row[k] is not None else row.get(k)
    return merged


class ResilientHistoryWriter:
    """Writes history rows; a database error is logged and the row kept for a later ``flush()``.

    It never raises: a down history database never stops a task. The queue is bounded; when full the
    oldest row is dropped, with a warning.
    """

    def __init__(self, store: HistoryStore, max_pending: int = 10_000) -> None:
        self.store = store
        self.pending: deque[Mapping[str, Any]] = deque(maxlen=max_pending)
        self._lock = threading.RLock()  # the bookkeeping and the sweeps threads both write

    def record(self, row: Mapping[str, Any]) -> bool:
        with self._lock:
            if len(self.pending) == self.pending.maxlen:
                log.warning("history queue full: dropping the oldest unwritten row")
            self.pending.append(row)
            return self.flush()

    def flush(self) -> bool:
        """Write what is pending, oldest first; True when nothing is left."""
        with self._lock:
            return self._flush()

    def _flush(self) -> bool:
        while self.pending:
            row = self.pending[0]
            try:
                self.store.record(row)
            except Exception as exc:
                log.warning("history database unavailable (%s): %d row(s) kept for retry",
                            type(exc).__name__, len(self.pending))
                return False
            self.pending.popleft()
        return True
