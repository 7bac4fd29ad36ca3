"""Plans DAG runs in a background thread of the scheduler, so a planner call never blocks its loop.

For a run it first publishes the fast greedy plan (milliseconds), then the configured planner's
(CP-SAT or LLM) when it is done; a plan already stored for the run (a scheduler restart, or one made by
``PlanPlacementOperator``) is reused instead. It also writes history rows off the loop. Every database
call here runs in this thread with its own session; errors are logged, never raised into the scheduler.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from airflow_ai_scheduler.models import Manifest, Offer, Placement, Plan, Weights

log = logging.getLogger(__name__)


@dataclass
class RunPlan:
    plan: Plan
    final: bool
    published: float = field(default_factory=time.monotonic)
    placements: dict[str, Placement] = field(default_factory=dict)
    manifest: Manifest | None = None
    source: str = "executor"  # executor | operator | stored
    jobs: dict[str, Any] = field(default_factory=dict)  # job_id → Job, across re-plans
    on_demand_cost: float | None = None  # the whole run all on-demand, from its first plan

    def __post_init__(self) -> None:
        self.placements = self.plan.placement_map
        if self.manifest is not None:
            self.jobs = {**self.jobs, **self.manifest.job_map}


def merge_plans(previous: Plan | None, new: Plan) -> Plan:
    """A re-plan covers only the run's unfinished tasks: keep the earlier placements of the others, so
    the run's plan stays complete (its objective adds their expected cost)."""
    if previous is None:
        return new
    fresh = {p.job_id for p in new.placements}
    kept = [p for p in previous.placements if p.job_id not in fresh]
    if not kept:
        return new
    extra = sum(p.estimated_cost for p in kept)
    o = new.objective
    objective = o.model_copy(update={"cost": round(o.cost + extra, 6),
                                     "total": round(o.total + extra * 1.0, 6)})
    return new.model_copy(update={"placements": [*kept, *new.placements], "objective": objective,
                                  "notes": [*new.notes, f"re-planned {len(fresh)} unfinished task(s); kept "
                                                        f"{len(kept)} earlier placement(s)"]})


@dataclass
class PlanningSettings:
    planner: str = "optimal"
    time_limit_seconds: float = 10.0
    default_duration_hours: float = 0.1
    lookback_runs: int = 20
    weights: Weights = field(default_factory=Weights)
    planner_kwargs: dict[str, Any] = field(default_factory=dict)
    llm_conn_id: str | None = None
    llm_model: str | None = None
    llm_timeout_seconds: float = 60.0
    approval_timeout_minutes: float | None = None
    approval_on_timeout: str = "reject"

    def approval_for(self, options: dict[str, Any] | None) -> dict[str, Any] | None:
        """The approval request a run's options ask for (``ai_scheduler_require_approval``), or None."""
        options = options or {}
        wanted = options.get("ai_scheduler_require_approval")
        if isinstance(wanted, str):
            wanted = wanted.strip().lower() in ("1", "true", "yes", "on")
        if not wanted:
            return None
        timeout = options.get("ai_scheduler_approval_timeout_minutes", self.approval_timeout_minutes)
        return {"timeout_minutes": float(timeout) if timeout not in (None, "") else None,
                "on_timeout": str(options.get("ai_scheduler_approval_on_timeout") or self.approval_on_timeout)}

    def planner_for(self, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """(planner name, constructor kwargs) for a run; its DAG's params or conf may pick the planner
        (``ai_scheduler_planner``) and the LLM model (``ai_scheduler_llm_model``)."""
        options = options or {}
        name = str(options.get("ai_scheduler_planner") or self.planner)
        kwargs = dict(self.planner_kwargs)
        if name == "optimal":
            kwargs.setdefault("time_limit_seconds", self.time_limit_seconds)
        elif name == "llm":
            kwargs.setdefault("fallback_time_limit_seconds", self.time_limit_seconds)
            kwargs.setdefault("timeout_seconds", self.llm_timeout_seconds)
            if self.llm_conn_id and "model" not in kwargs:
                kwargs.setdefault("conn_id", self.llm_conn_id)
            model = options.get("ai_scheduler_llm_model") or self.llm_model
            if model:
                kwargs["model"] = str(model)
        return name, kwargs


class PlanningService:
    """Owns the plans of the runs this scheduler routes; all slow work happens on its worker thread."""

    def __init__(self, offers: list[Offer], settings: PlanningSettings,
                 session_scope: Callable[[], Any] | None = None, store: Any | None = None) -> None:
        self.offers = offers
        self.settings = settings
        self._session_scope = session_scope
        self.store = store
        self._plans: dict[tuple[str, str], RunPlan] = {}
        self._pending: dict[tuple[str, str], Future] = {}
        self._failed: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ai-scheduler-planner")

    # -- called from the scheduler loop: cheap and non-blocking -------------------------------------
    def get(self, dag_id: str, run_id: str) -> RunPlan | None:
        with self._lock:
            return self._plans.get((dag_id, run_id))

    def failed(self, dag_id: str, run_id: str) -> bool:
        """Planning this run failed: its tasks go to the default fleet rather than wait."""
        return (dag_id, run_id) in self._failed

    def request(self, dag_id: str, run_id: str, *, replan: bool = False) -> None:
        key = (dag_id, run_id)
        with self._lock:
            if key in self._pending and not self._pending[key].done():
                return
            if key in self._plans and not replan:
                return
            self._pending[key] = self._pool.submit(self._plan_run, dag_id, run_id, replan)

    def adopt_operator_plan(self, dag_id: str, run_id: str) -> None:
        """Load the plan a PlanPlacementOperator pushed to XCom for this run (background)."""
        self._pool.submit(self._load_operator_plan, dag_id, run_id)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Run other slow work (history writes) on the planner thread."""
        return self._pool.submit(fn, *args)

    def drain(self, timeout: float | None = None) -> None:
        """Wait until the work queued so far (plans, history writes) is done."""
        self._pool.submit(lambda: None).result(timeout=timeout)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- worker thread -------------------------------------------------------------------------------
    def _publish(self, key: tuple[str, str], rp: RunPlan) -> None:
        with self._lock:
            current = self._plans.get(key)
            if current is None or rp.final or not current.final:
                self._plans[key] = rp

    def _plan_run(self, dag_id: str, run_id: str, replan: bool) -> None:
        try:
            self._plan_run_inner(dag_id, run_id, replan)
        except Exception:  # never let planning take the scheduler down; tasks fall back to a default fleet
            log.exception("planning DAG run %s/%s failed", dag_id, run_id)
            self._failed.add((dag_id, run_id))

    def _plan_run_inner(self, dag_id: str, run_id: str, replan: bool) -> None:
        from airflow_ai_scheduler.planning.base import run_planner
        from airflow_ai_scheduler.planning.greedy import GreedyPlanner
        from airflow_ai_scheduler.planning.validate import check

        key = (dag_id, run_id)
        if not replan and self.store is not None:
            stored = self._safe(lambda: self.store.latest_plan(dag_id, run_id))
            if stored is not None:
                log.info("using the stored plan of %s/%s", dag_id, run_id)
                self._publish(key, RunPlan(plan=getattr(stored, "plan", stored), final=True, source="stored"))
                return
        collected = self._collect(dag_id, run_id)
        if collected is None:
            return
        manifest, run = collected
        approval = self.settings.approval_for(run.options)
        if approval is not None and self.store is not None:  # before any plan is published: tasks wait for it
            self._safe(lambda: self.store.request_approval(dag_id, run_id, **approval))
        name, kwargs = self.settings.planner_for(run.options)
        before = self.get(dag_id, run_id)
        prev_plan, prev_jobs = (before.plan, before.jobs) if before else (None, {})
        greedy = self._annotate(check(manifest, GreedyPlanner().plan(manifest, self.offers), self.offers),
                                manifest, run)
        self._publish(key, RunPlan(plan=merge_plans(prev_plan, greedy), final=name == "greedy",
                                   manifest=manifest, jobs=prev_jobs))
        plan, exchange = greedy, None
        if name != "greedy":
            if name == "llm":
                kwargs.setdefault("job_docs", run.docs)
                if self.store is not None:
                    task_ids = sorted({t.task_id for t in run.tasks})
                    kwargs.setdefault("history", self._safe(lambda: self.store.planning_history(
                        dag_id, task_ids, lookback=self.settings.lookback_runs)))
                    if kwargs["history"] is not None and run.usage:  # the prompt's top offers per task
                        kwargs["history"] = replace(kwargs["history"], evidence=_evidence(run))
            try:
                result = run_planner(name, manifest, self.offers, **kwargs)
                plan, exchange = result.plan, result.exchange
            except Exception as exc:
                log.warning("planner %s failed for %s/%s (%s); keeping the greedy plan", name, dag_id, run_id, exc)
                plan = greedy.model_copy(update={"notes": [*greedy.notes, f"{name} failed: {exc}"]})
            if not plan.is_valid:
                log.warning("planner %s gave an invalid plan for %s/%s; keeping the greedy plan", name, dag_id, run_id)
                plan = greedy
            plan = self._annotate(plan, manifest, run)
            self._publish(key, RunPlan(plan=merge_plans(prev_plan, plan), final=True, manifest=manifest,
                                       jobs=prev_jobs))
        if self.store is not None:
            from airflow_ai_scheduler.planning.reference import on_demand_reference

            od = on_demand_reference(manifest, self.offers)
            if before is not None and before.on_demand_cost is not None:
                od = before.on_demand_cost  # the run's reference is its first plan's, not the re-planned rest
            current = self.get(dag_id, run_id)
            if current is not None:
                current.on_demand_cost = od
            merged = merge_plans(prev_plan, plan)
            exchange_id = self._safe(lambda: self.store.save_exchange(exchange, dag_id, run_id)) if exchange else None
            plan_id = self._safe(lambda: self.store.save_plan(dag_id, run_id, merged, manifest, on_demand_cost=od,
                                                              llm_exchange_id=exchange_id))
            if approval is not None and plan_id is not None:  # point the request at the plan to approve
                self._safe(lambda: self.store.request_approval(dag_id, run_id, plan_id=plan_id, **approval))
        log.info("planned %s/%s with %s: %d placements, expected cost $%.4f", dag_id, run_id, plan.planner,
                 len(plan.placements), plan.objective.cost)

    def _load_operator_plan(self, dag_id: str, run_id: str) -> None:
        try:
            from airflow.models.xcom import XComModel
            from sqlalchemy import select

            from airflow_ai_scheduler.airflow.operator import EXCHANGE_XCOM_KEY, PLAN_XCOM_KEY
            from airflow_ai_scheduler.models import load_plan

            assert self._session_scope is not None
            with self._session_scope() as session:
                rows = dict(session.execute(select(XComModel.key, XComModel.value).where(
                    XComModel.dag_id == dag_id, XComModel.run_id == run_id,
                    XComModel.key.in_([PLAN_XCOM_KEY, EXCHANGE_XCOM_KEY]))).all())
            raw = rows.get(PLAN_XCOM_KEY)
            if raw is None:
                log.warning("no %s XCom for %s/%s; keeping the executor's plan", PLAN_XCOM_KEY, dag_id, run_id)
                return
            plan = load_plan(raw)  # a dict (Execution API writes JSON) or its JSON text
            self._publish((dag_id, run_id), RunPlan(plan=plan, final=True, source="operator"))
            if self.store is not None:
                exchange_id = None
                if rows.get(EXCHANGE_XCOM_KEY) is not None:
                    from airflow_ai_scheduler.planning.llm.schema import LLMExchange

                    value = rows[EXCHANGE_XCOM_KEY]
                    ex = (LLMExchange.model_validate_json(value) if isinstance(value, (str, bytes))
                          else LLMExchange.model_validate(value))
                    exchange_id = self._safe(lambda: self.store.save_exchange(ex, dag_id, run_id))
                self._safe(lambda: self.store.save_plan(dag_id, run_id, plan, None, llm_exchange_id=exchange_id))
            log.info("routing %s/%s by the PlanPlacementOperator's plan (%s)", dag_id, run_id, plan.planner)
        except Exception:
            log.exception("could not load the operator's plan for %s/%s", dag_id, run_id)

    def _annotate(self, plan: Plan, manifest: Manifest, run: Any) -> Plan:
        """Each placement's rationale says how its offer ranks for the job (tasks with history only)."""
        if not run.usage:
            return plan
        try:
            from airflow_ai_scheduler.planning.suitability import annotate_plan

            return annotate_plan(plan, manifest, self.offers, _evidence(run))
        except Exception as exc:  # a rationale is an aid: keep the plan as it is
            log.warning("could not rank the offers of %s/%s: %s", run.dag_id, run.run_id, exc)
            return plan

    def manifest_for(self, dag_id: str, run_id: str) -> Manifest | None:
        collected = self._collect(dag_id, run_id)
        return collected[0] if collected else None

    def _collect(self, dag_id: str, run_id: str) -> tuple[Manifest, Any] | None:
        """(the manifest of the run's unfinished tasks, the RunInfo it was built from)."""
        from airflow_ai_scheduler.airflow.manifest import build_manifest, collect_run

        if self._session_scope is None:
            return None
        with self._session_scope() as session:
            run = collect_run(dag_id, run_id, session)
        if run is None or not run.tasks:
            return None
        estimates: dict[str, tuple[float, float, int]] = {}
        if self.store is not None:
            task_ids = sorted({t.task_id for t in run.tasks})
            estimates = self._safe(lambda: self.store.runtime_estimates(dag_id, task_ids,
                                                                         lookback=self.settings.lookback_runs)) or {}
            from airflow_ai_scheduler.history.usage_queries import task_tries

            run.usage = self._safe(lambda: task_tries(self.store, dag_id, task_ids,
                                                      lookback=self.settings.lookback_runs)) or {}
        from airflow_ai_scheduler.usage.rightsize import profile

        measured = {t: profile(rows) for t, rows in run.usage.items()}
        try:
            manifest = build_manifest(run, now=datetime.now(timezone.utc), offers=self.offers, estimates=estimates,
                                      default_duration_hours=self.settings.default_duration_hours,
                                      weights=self.settings.weights, measured=measured)
        except ValueError as exc:  # e.g. every task already finished
            log.info("nothing to plan for %s/%s: %s", dag_id, run_id, exc)
            return None
        return manifest, run

    @staticmethod
    def _safe(fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except Exception as exc:  # history DB down: plan without it
            log.warning("history store unavailable: %s", exc)
            return None


def _evidence(run: Any) -> dict[str, Any]:
    from airflow_ai_scheduler.planning.suitability import TaskEvidence

    return {t: TaskEvidence.from_rows(rows) for t, rows in run.usage.items()}
