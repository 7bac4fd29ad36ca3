"""Plans DAG runs off the scheduler loop, and hands the executor only plans that passed the validator.

Two pools, so a slow plan never holds up a fast one:

* **fast** (one thread): claim the run (several schedulers plan it once), read its task instances, build
  the manifest, plan it with greedy (milliseconds), validate, publish. A run's tasks can be routed as soon
  as this is done.
* **slow** (``planner_workers`` threads): the configured planner (CP-SAT, LLM), validated; published
  when valid, else the greedy plan stays — with the reason in the plan's notes.

Database chores of the executor (refreshes, requeues, history) are on a third thread
(:mod:`.bookkeeping`), so neither pool delays them.

What the executor reads (:meth:`PlanningService.get`) is a :class:`RunPlan`: the plan, whether it may
route tasks (``routable``: it passed the validator), and per task what could not be planned and why
(``unmet``). A task whose run has no routable plan still runs — on its safe default fleet — and the reason
is kept in the plan record. Several schedulers (Airflow's HA mode): the first to claim a run plans it and
stores the plan; the others route by the stored plan (re-read while they hold tasks of the run).
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

from airflow_ai_scheduler.models import Manifest, Placement, Plan
from airflow_ai_scheduler.planning.routing_rules import (  # noqa: F401 - merge_plans is imported from here too
    UNMET_SUFFIX,
    apply_next_run,
    merge_plans,
    noted,
    previous_placements,
    split_unmet,
    unmet_from_notes,
    violation_summary,
)

log = logging.getLogger(__name__)

#: how often a scheduler that does not plan a run re-reads that run's stored plan
FOLLOW_SECONDS = 3.0


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
    #: may tasks be routed by this plan? (it passed the validator)
    routable: bool = True
    #: why it may not (the validator's findings, or the planner's error)
    reason: str = ""
    #: job_id → why no configured fleet can meet the task's hints (it runs on its safe default fleet)
    unmet: dict[str, str] = field(default_factory=dict)
    #: task_id → Airflow owner (what dispatch policies share fleets by)
    owners: dict[str, str] = field(default_factory=dict)
    #: the plan-approval request of a run that asks for one (the approval gate holds its tasks until a
    #: person decides): {"timeout_minutes", "on_timeout"}
    approval: dict[str, Any] | None = None

    stored_id: int | None = None

    #: job_id → USD per hour its wait costs (the objective's delay cost; absent where it is free, e.g. a
    #: deadline bounds the job): the executor weighs it against a dearer free fleet when the planned one is full
    delay_rates: dict[str, float] = field(default_factory=dict)

    @property
    def needs_approval(self) -> bool:
        return self.approval is not None

    def __post_init__(self) -> None:
        self.placements = self.plan.placement_map
        if self.manifest is not None:
            from airflow_ai_scheduler.planning.objective import delay_rates

            self.jobs = {**self.jobs, **self.manifest.job_map}
            self.delay_rates = {**self.delay_rates, **delay_rates(self.manifest)}


class PlanningService:
    """Owns the plans of the runs this scheduler routes; all slow work happens on its pools."""

    def __init__(self, settings: Any, *, offers: list[Any] | None = None, store: Any | None = None,
                 session_scope: Callable[[], Any] | None = None, owner: str | None = None,
                 owner_alive: Callable[[str], bool] | None = None, planner_workers: int = 2, metrics: Any = None,
                 planner_overrides: dict[str, Any] | None = None) -> None:
        """``offers``: the fleets' offers (default: the settings'); ``planner_overrides``: constructor
        arguments given to every configured-planner call (an embedded model object, say)."""
        self.settings = settings
        self.offers = list(offers if offers is not None else settings.offers)
        self.planner_overrides = dict(planner_overrides or {})
        self.store = store
        self._session_scope = session_scope
        self.owner = owner  # this scheduler's identity in plan claims (its job id); None: no claims
        self.owner_alive = owner_alive
        self.metrics = metrics
        self._plans: dict[tuple[str, str], RunPlan] = {}
        self._pending: dict[tuple[str, str], Future] = {}
        self._failed: dict[tuple[str, str], str] = {}
        self._followed: dict[tuple[str, str], float] = {}  # run → next time its stored plan is re-read
        self._launched: dict[tuple[str, str], dict[str, Placement]] = {}  # run → job → placement it ran by
        self._next_run_notes: dict[tuple[str, str], str] = {}  # run → the UI's next-run settings it took
        self._lock = threading.Lock()
        self._slow_running: set[Future] = set()
        self._fast = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ai-scheduler-plan-fast")
        self._slow = ThreadPoolExecutor(max_workers=max(1, planner_workers), thread_name_prefix="ai-scheduler-planner")

    # -- called from the scheduler loop: cheap and non-blocking -------------------------------------
    def get(self, dag_id: str, run_id: str) -> RunPlan | None:
        with self._lock:
            return self._plans.get((dag_id, run_id))

    def failed(self, dag_id: str, run_id: str) -> str | None:
        """Why planning this run failed (its tasks go to their safe default fleet), or None."""
        return self._failed.get((dag_id, run_id))

    def request(self, dag_id: str, run_id: str, *, replan: bool = False) -> None:
        key = (dag_id, run_id)
        with self._lock:
            if key in self._pending and not self._pending[key].done():
                return
            if key in self._plans and not replan:
                return
            self._pending[key] = self._fast.submit(self._plan_run, dag_id, run_id, replan)

    def follow_due(self, active: set[tuple[str, str]]) -> None:
        """Re-read the stored plans of runs another scheduler plans (those this one holds tasks of)."""
        now = time.monotonic()
        for run, due in list(self._followed.items()):
            if run in active and now >= due:
                self._followed[run] = now + FOLLOW_SECONDS
                self._fast.submit(self._read_stored, *run)

    def reload_stored(self, dag_id: str, run_id: str) -> None:
        """Load the run's stored plan if it is newer than the one in force (e.g. an edited plan a person
        approved in the UI), in the background."""
        self._fast.submit(self._read_stored, dag_id, run_id)

    def note_launched(self, dag_id: str, run_id: str, job_id: str, placement: Placement) -> None:
        """A task was launched by ``placement``: a later plan of the run keeps it there (it already runs)."""
        with self._lock:
            self._launched.setdefault((dag_id, run_id), {})[job_id] = placement

    def adopt_operator_plan(self, dag_id: str, run_id: str) -> None:
        """Load the plan a PlanPlacementOperator pushed to XCom for this run (background)."""
        self._fast.submit(self._load_operator_plan, dag_id, run_id)

    def forget(self, runs: list[tuple[str, str]]) -> None:
        """Drop the state of runs that are over."""
        with self._lock:
            for run in runs:
                self._plans.pop(run, None)
                self._pending.pop(run, None)
                self._failed.pop(run, None)
                self._followed.pop(run, None)
                self._launched.pop(run, None)
                self._next_run_notes.pop(run, None)

    def known_runs(self) -> list[tuple[str, str]]:
        with self._lock:
            return list({*self._plans, *self._failed, *self._followed})

    def drain(self, timeout: float | None = None) -> None:
        """Wait until the planning queued so far is done, slow plans it started included (tests)."""
        from concurrent.futures import wait

        self._fast.submit(lambda: None).result(timeout=timeout)
        wait(list(self._slow_running), timeout=timeout)

    def shutdown(self) -> None:
        self._fast.shutdown(wait=False, cancel_futures=True)
        self._slow.shutdown(wait=False, cancel_futures=True)

    # -- worker threads ------------------------------------------------------------------------------
    def _publish(self, key: tuple[str, str], rp: RunPlan) -> None:
        with self._lock:
            current = self._plans.get(key)
            if current is None or rp.final or not current.final:
                if current is not None and rp.on_demand_cost is None:
                    rp.on_demand_cost = current.on_demand_cost
                self._plans[key] = rp
            self._failed.pop(key, None)

    def _fail(self, key: tuple[str, str], reason: str) -> None:
        with self._lock:
            self._failed[key] = reason

    def _plan_run(self, dag_id: str, run_id: str, replan: bool) -> None:
        started = time.monotonic()
        try:
            self._plan_run_inner(dag_id, run_id, replan)
        except Exception as exc:  # never let planning take the scheduler down; tasks go to their safe fleet
            log.exception("planning DAG run %s/%s failed", dag_id, run_id)
            self._fail((dag_id, run_id), f"planning failed: {exc}")
        finally:
            self._timing("plan_fast", started)

    def _timing(self, what: str, started: float, **tags: str) -> None:
        if self.metrics is not None:
            self.metrics.timing(f"ai_scheduler.{what}", time.monotonic() - started, **tags)

    def _claimed(self, dag_id: str, run_id: str) -> bool:
        """Is this scheduler the one that plans the run? (True without a store or an identity.)"""
        if self.store is None or self.owner is None:
            return True
        holder = self._safe(lambda: self.store.claim_plan(dag_id, run_id, self.owner, self.owner_alive))
        return holder is None or holder == self.owner

    def _read_stored(self, dag_id: str, run_id: str) -> bool:
        """Publish the run's stored plan if there is one newer than ours; True when one exists."""
        if self.store is None:
            return False
        stored = self._safe(lambda: self.store.latest_plan(dag_id, run_id))
        if stored is None:
            return False
        current = self.get(dag_id, run_id)
        if current is not None and current.stored_id == stored.id:
            return True
        plan = getattr(stored, "plan", stored)
        self._publish((dag_id, run_id), RunPlan(
            plan=plan, final=True, source="stored", routable=plan.is_valid,
            reason="" if plan.is_valid else violation_summary(plan), on_demand_cost=stored.on_demand_cost,
            stored_id=stored.id, unmet=unmet_from_notes(plan)))
        return True

    def _plan_run_inner(self, dag_id: str, run_id: str, replan: bool) -> None:
        key = (dag_id, run_id)
        t0 = time.monotonic()
        if not replan:
            if not self._claimed(dag_id, run_id):
                log.info("another scheduler plans %s/%s: routing by its stored plan", dag_id, run_id)
                self._followed[key] = time.monotonic() + FOLLOW_SECONDS
                self._read_stored(dag_id, run_id)
                return
            if self._read_stored(dag_id, run_id):
                log.info("using the stored plan of %s/%s", dag_id, run_id)
                return
        t1 = time.monotonic()
        collected = self._collect(dag_id, run_id)
        if collected is None:
            return
        manifest, run = collected
        if not replan:
            manifest, run = self._with_next_run(key, manifest, run)
        t2 = time.monotonic()
        published = self._plan_collected(key, manifest, run)
        t3 = time.monotonic()
        log.debug("fast planning of %s/%s: claim %.3f s, collect %.3f s, plan and publish %.3f s, store %.3f s",
                  *key, t1 - t0, t2 - t1, published - t2, t3 - published)

    def _with_next_run(self, key: tuple[str, str], manifest: Manifest, run: Any) -> tuple[Manifest, Any]:
        """A run's first plan takes the settings someone chose in the UI for the DAG's next run (a what-if
        applied): planner, weights, allowed tiers / providers / regions; taken once."""
        if self.store is None or self.get(*key) is not None:
            return manifest, run
        nxt = self._safe(lambda: self.store.take_next_run(key[0]))
        if not nxt:
            return manifest, run
        manifest, _offers, options, note = apply_next_run(manifest, list(manifest.offers or self.offers),
                                                          dict(run.options), nxt)
        log.info("%s/%s: %s", *key, note)
        self._next_run_notes[key] = note
        return manifest, replace(run, options=options)

    def _plan_collected(self, key: tuple[str, str], manifest: Manifest, run: Any) -> float:
        """Plan with greedy, validate, publish (tasks may route from here on), store; the slow planner
        follows on its own pool. Returns the monotonic time the plan was published."""
        from airflow_ai_scheduler.planning.greedy import GreedyPlanner
        from airflow_ai_scheduler.planning.validate import check

        name, kwargs = self.settings.planner_call(run.options)
        kwargs.update(self.planner_overrides if name != "greedy" else {})
        approval = self.settings.approval_for(run.options)
        if approval is not None and self.store is not None:  # before any plan is published: tasks wait for it
            self._safe(lambda: self.store.request_approval(*key, **approval))
        before = self.get(*key)
        prev_plan, prev_jobs = (before.plan, before.jobs) if before else (None, {})
        owners = getattr(run, "owners", {}) or {}
        plannable, unmet = split_unmet(manifest, list(manifest.offers or self.offers))
        notes = [f"{job}: {why}{UNMET_SUFFIX}" for job, why in sorted(unmet.items())]
        greedy = self._annotate(self._greedy(plannable, check, GreedyPlanner, notes), plannable, run)
        merged = merge_plans(prev_plan, greedy, manifest.weights)
        rp = RunPlan(plan=merged, final=name == "greedy" or not plannable.jobs, manifest=manifest, jobs=prev_jobs,
                     routable=greedy.is_valid, reason="" if greedy.is_valid else violation_summary(greedy),
                     unmet=unmet, owners=owners, approval=approval)
        if self.store is not None and (before is None or before.on_demand_cost is None):
            from airflow_ai_scheduler.planning.reference import on_demand_reference

            rp.on_demand_cost = self._safe(lambda: on_demand_reference(manifest, self.offers))
        self._publish(key, rp)
        published = time.monotonic()
        rp.stored_id = self._save(key, merged, manifest, rp.on_demand_cost, None)
        self._point_approval(key, approval, rp.stored_id)
        if not rp.routable:
            log.warning("the greedy plan of %s/%s is invalid (%s): its tasks run on their safe default fleets",
                        *key, rp.reason)
        if name != "greedy" and plannable.jobs:
            future = self._slow.submit(self._plan_slow, key, name, kwargs, plannable, manifest, run, greedy, rp)
            self._slow_running.add(future)
            future.add_done_callback(self._slow_running.discard)
        log.info("planned %s/%s with greedy: %d placements, expected cost $%.4f%s", *key, len(greedy.placements),
                 greedy.objective.cost, "" if name == "greedy" else f"; {name} planning")
        return published

    @staticmethod
    def _greedy(manifest: Manifest, check: Any, greedy_cls: Any, notes: list[str]) -> Plan:
        if not manifest.jobs:
            from airflow_ai_scheduler.models import Objective

            return Plan(planner="greedy", placements=[], objective=Objective(cost=0, tardiness=0, risk=0, total=0),
                        notes=notes, manifest_hash=manifest.content_hash())
        plan = check(manifest, greedy_cls().plan(manifest, list(manifest.offers or [])), list(manifest.offers or []))
        return plan.model_copy(update={"notes": [*plan.notes, *notes]}) if notes else plan

    def _plan_slow(self, key: tuple[str, str], name: str, kwargs: dict[str, Any], plannable: Manifest,
                   manifest: Manifest, run: Any, greedy: Plan, fast: RunPlan) -> None:
        from airflow_ai_scheduler.planning.base import run_planner

        started = time.monotonic()
        exchange = None
        if name == "llm":
            kwargs.setdefault("job_docs", run.docs)
            if self.store is not None:
                task_ids = sorted({t.task_id for t in run.tasks})
                kwargs.setdefault("history", self._safe(lambda: self.store.planning_history(
                    key[0], task_ids, lookback=self.settings.history_lookback_runs)))
                if kwargs["history"] is not None and getattr(run, "usage", None):  # the prompt's top offers
                    kwargs["history"] = replace(kwargs["history"], evidence=_evidence(run))
        try:
            result = run_planner(name, plannable, list(plannable.offers or self.offers), **kwargs)
            plan, exchange = result.plan, result.exchange
        except Exception as exc:
            log.warning("planner %s failed for %s/%s (%s); keeping the greedy plan", name, *key, exc)
            plan = greedy.model_copy(update={"notes": [*greedy.notes, f"{name} failed: {exc}; kept the greedy plan"]})
        else:
            if not plan.is_valid:
                log.warning("planner %s gave an invalid plan for %s/%s (%s); keeping the greedy plan", name, *key,
                            violation_summary(plan))
                plan = greedy.model_copy(update={"notes": [
                    *greedy.notes, f"{name}'s plan was invalid ({violation_summary(plan)}); kept the greedy plan"]})
            else:
                plan = self._annotate(self._keep_launched(key, plannable, plan, greedy, name), plannable, run)
                if fast.unmet:
                    plan = plan.model_copy(update={"notes": [*plan.notes,
                                                             *(n for n in greedy.notes if n not in plan.notes)]})
        finally:
            self._timing("plan", started, planner=name)
        prev = self.get(*key)
        if prev is not fast and prev is not None and prev.source != "executor":
            return  # an operator's plan or a newer one arrived meanwhile: it wins
        merged = merge_plans(previous_placements(fast.plan, set(fast.manifest.job_map) if fast.manifest else set()), plan, manifest.weights)
        rp = RunPlan(plan=merged, final=True, manifest=manifest, jobs=fast.jobs, routable=plan.is_valid,
                     reason="" if plan.is_valid else violation_summary(plan), unmet=fast.unmet, owners=fast.owners,
                     on_demand_cost=fast.on_demand_cost, approval=fast.approval)
        self._publish(key, rp)
        exchange_id = self._safe(lambda: self.store.save_exchange(exchange, *key)) if exchange and self.store else None
        rp.stored_id = self._save(key, merged, manifest, rp.on_demand_cost, exchange_id)
        self._point_approval(key, rp.approval, rp.stored_id)
        log.info("planned %s/%s with %s: %d placements, expected cost $%.4f", *key, plan.planner,
                 len(plan.placements), plan.objective.cost)

    def _keep_launched(self, key: tuple[str, str], manifest: Manifest, plan: Plan, greedy: Plan, name: str) -> Plan:
        """``plan`` with the tasks launched meanwhile (by the greedy plan) kept where and when they started,
        re-timed and re-validated; the greedy plan (noted) when no valid plan keeps them."""
        from airflow_ai_scheduler.planning.base import Choice
        from airflow_ai_scheduler.planning.greedy import build_plan
        from airflow_ai_scheduler.planning.validate import check

        with self._lock:
            launched = dict(self._launched.get(key, {}))
        mine = plan.placement_map
        pins = {j: p for j, p in launched.items() if j in mine and (
            p.offer_id != mine[j].offer_id or abs((p.start_time - mine[j].start_time).total_seconds()) > 60)}
        if not pins:
            return plan
        offers = list(manifest.offers or self.offers)
        for exact in (True, False):
            choices = {j: Choice(p.offer_id, manifest.hours(p.start_time) if exact else None)
                       for j, p in mine.items() if j not in pins}
            choices.update({j: Choice(p.offer_id, manifest.hours(p.start_time)) for j, p in pins.items()})
            kept = check(manifest, build_plan(manifest, offers, choices, planner=plan.planner), offers)
            if kept.is_valid:
                total = kept.objective.total
                gap = (total - plan.lower_bound) / total if plan.lower_bound is not None and total > 0 else None
                return kept.model_copy(update={
                    "status": plan.status, "lower_bound": plan.lower_bound, "gap": gap,
                    "planning_seconds": plan.planning_seconds, "notes": [
                        *plan.notes, f"{len(pins)} task(s) had started by the greedy plan before {name} finished: "
                                     f"kept where they run ({', '.join(sorted(pins)[:5])})"]})
        return greedy.model_copy(update={"notes": [
            *greedy.notes, f"{name}'s plan conflicts with the {len(pins)} task(s) already started by the greedy "
                           "plan; kept the greedy plan"]})

    def _point_approval(self, key: tuple[str, str], approval: dict[str, Any] | None, plan_id: int | None) -> None:
        """Point a run's pending approval request at the plan now in force (the one a person approves)."""
        if approval is not None and plan_id is not None and self.store is not None:
            self._safe(lambda: self.store.request_approval(*key, plan_id=plan_id, **approval))

    def _annotate(self, plan: Plan, manifest: Manifest, run: Any) -> Plan:
        note = self._next_run_notes.get((getattr(run, "dag_id", None), getattr(run, "run_id", None)))
        return noted(self._rank(plan, manifest, run), note)

    def _rank(self, plan: Plan, manifest: Manifest, run: Any) -> Plan:
        """Each placement's rationale says how its offer ranks for the job (tasks with history only)."""
        if not getattr(run, "usage", None) or not plan.placements:
            return plan
        try:
            from airflow_ai_scheduler.planning.suitability import annotate_plan

            return annotate_plan(plan, manifest, self.offers, _evidence(run))
        except Exception as exc:  # a rationale is an aid: keep the plan as it is
            log.warning("could not rank the offers of %s/%s: %s", run.dag_id, run.run_id, exc)
            return plan

    def _save(self, key: tuple[str, str], plan: Plan, manifest: Manifest | None, on_demand: float | None,
              exchange_id: int | None) -> int | None:
        if self.store is None:
            return None
        return self._safe(lambda: self.store.save_plan(*key, plan, manifest, on_demand_cost=on_demand,
                                                       llm_exchange_id=exchange_id))

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
            if not plan.is_valid:  # the operator validated it; a hand-edited XCom may not be
                log.warning("the PlanPlacementOperator's plan for %s/%s is invalid (%s); keeping the executor's",
                            dag_id, run_id, violation_summary(plan))
                return
            rp = RunPlan(plan=plan, final=True, source="operator")
            self._publish((dag_id, run_id), rp)
            if self.store is not None:
                exchange_id = None
                if rows.get(EXCHANGE_XCOM_KEY) is not None:
                    from airflow_ai_scheduler.planning.llm.schema import LLMExchange

                    value = rows[EXCHANGE_XCOM_KEY]
                    ex = (LLMExchange.model_validate_json(value) if isinstance(value, (str, bytes))
                          else LLMExchange.model_validate(value))
                    exchange_id = self._safe(lambda: self.store.save_exchange(ex, dag_id, run_id))
                rp.stored_id = self._save((dag_id, run_id), plan, None, None, exchange_id)
            log.info("routing %s/%s by the PlanPlacementOperator's plan (%s)", dag_id, run_id, plan.planner)
        except Exception:
            log.exception("could not load the operator's plan for %s/%s", dag_id, run_id)

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
            from airflow_ai_scheduler.history.usage_queries import task_tries

            task_ids = sorted({t.task_id for t in run.tasks})
            estimates = self._safe(lambda: self.store.runtime_estimates(
                dag_id, task_ids, lookback=self.settings.history_lookback_runs)) or {}
            run.usage = self._safe(lambda: task_tries(self.store, dag_id, task_ids,
                                                      lookback=self.settings.history_lookback_runs)) or {}
        from airflow_ai_scheduler.usage.rightsize import profile

        measured = {t: profile(rows) for t, rows in run.usage.items()}
        try:
            manifest = build_manifest(run, now=datetime.now(timezone.utc), offers=self.offers, estimates=estimates,
                                      default_duration_hours=self.settings.default_duration_hours,
                                      weights=self.settings.weights, measured=measured,
                                      defaults=self.settings.manifest_defaults)
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
