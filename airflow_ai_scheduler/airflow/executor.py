"""``AiSchedulerExecutor``: routes each task instance to the fleet its run's plan names, at the planned time.

Set it in airflow.cfg::

    [core]
    executor = airflow_ai_scheduler.airflow.executor.AiSchedulerExecutor

Where a task is at any moment is in one place: the :class:`~.ledger.Ledger` (``planning`` → ``held`` →
``due`` → ``launched``, and ``relaunching`` after a preemption; ``kill -USR2`` the scheduler to print it).
What a fleet backend must implement is in :mod:`airflow_ai_scheduler.fleets.base`.

How a queued task instance moves (the scheduler loop only reads memory; nothing here blocks on the
database, the network or a solver):

1. ``queue_workload`` — Airflow hands over the workload; it enters the ledger and its run's plan is
   requested from :mod:`.planning_service` (fast pool: greedy in milliseconds; slow pool: the configured
   planner), never awaited here.
2. ``order_queued_tasks_by_priority`` — :class:`~.routing.Router` decides each task: its run's plan routes
   it only if the plan passed the validator; otherwise (no plan, an invalid plan, a task no fleet can run,
   a task the plan does not know) it runs on its safe default fleet, with the reason in the ledger, the log
   and the task's Event Log. A planned start in a cheaper price window holds it; a dispatch gate (an
   approval, a budget: :mod:`.gates`) may hold or fail it. Due tasks beyond a fleet's free slots are
   ordered by the fleet's dispatch policy.
3. ``_process_workloads`` — the workload goes to its fleet, with a fresh token if it was held long.
4. ``sync`` — fleet reports are turned into Airflow events; a preempted task is relaunched within its
   preemption budget (:mod:`.preemption`); database chores — keeping held task instances' ``queued_dttm``
   fresh, requeues, history rows, events — go to the bookkeeping thread (:mod:`.bookkeeping`).

Capacity and throughput: a fleet's ``slots`` cap what runs on it. Launched workloads are not counted in
``self.running`` (LocalExecutor does not count them either), so ``[core] parallelism`` bounds what the
scheduler hands the executor per loop. Each heartbeat polls the fleets *before* handing out workloads, so a
slot freed since the last loop is refilled in this one.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future
from contextlib import suppress
from datetime import datetime, timezone
from typing import Any

from airflow.executors.base_executor import BaseExecutor

from airflow_ai_scheduler.airflow.ledger import Entry, Ledger, Stage
from airflow_ai_scheduler.fleets.base import FleetReport, FleetStatus

log = logging.getLogger(__name__)
#: how often runs that are over are looked for (their per-run state is dropped)
PRUNE_SECONDS = 120.0


class AiSchedulerExecutor(BaseExecutor):
    is_local: bool = True
    serve_logs: bool = True
    supports_callbacks: bool = True
    supports_connection_test: bool = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ledger = Ledger()
        self.fleets: dict[str, Any] = {}
        self.planning: Any = None
        self.preemption: Any = None
        self.router: Any = None
        self.bookkeeper: Any = None
        self.gates: list[Any] = []
        self.settings: Any = None
        self.offer_map: dict[str, Any] = {}
        self._jwt: Any = None
        self._operator_runs: set[tuple[str, str]] = set()  # runs planned by a PlanPlacementOperator
        self._last_refresh = self._last_gate_refresh = 0.0
        self._last_prune = time.monotonic()
        self._prune: Future | None = None
        self._gate_refresh: Future | None = None
        self._announced: dict[Any, str] = {}  # key → the hold/fallback reason last written to its Event Log
        self.orphans: Any = None  # records the tries of a dead scheduler (airflow.orphans)

    # -- configuration ------------------------------------------------------------------------------
    def start(self) -> None:
        from airflow.executors.base_executor import get_execution_api_server_url

        from airflow_ai_scheduler.airflow.bookkeeping import store_external_id
        from airflow_ai_scheduler.fleets.base import FleetContext, make_backend
        from airflow_ai_scheduler.settings import load_settings

        settings = load_settings(self.conf)  # ConfigError naming the option: the scheduler does not start
        try:
            self._jwt = self.jwt_generator  # built once: fleets re-mint tokens from their own threads
        except Exception as exc:  # no signing key configured: workloads keep the scheduler's token
            self.log.warning("cannot mint fresh workload tokens: %s", exc)
        context = FleetContext(server=get_execution_api_server_url(self.conf), mint=self._mint,
                               record_external_id=store_external_id, team_name=self.team_name)
        fleets = {s.name: make_backend(s, context) for s in settings.fleets}
        history, writer = self._make_history()
        self.assemble(settings, fleets, history=history, history_writer=writer)
        for fleet in self.fleets.values():
            fleet.start()
        self.log.info("AiSchedulerExecutor started: fleets %s; planner %s; dispatch %s%s",
                      ", ".join(f"{s.name}({s.tier}, {s.slots} slots, {s.backend})" for s in settings.fleets),
                      settings.planner, settings.dispatch_policy,
                      f"; gates {', '.join(g.name for g in self.gates)}" if self.gates else "")

    def assemble(self, settings: Any, fleets: dict[str, Any], *, history: Any = None, history_writer: Any = None,
                 planning: Any = None, bookkeeper: Any = None, gates: list[Any] | None = None) -> None:
        """Wire the parts (``start`` does it from the config; tests give their own fleets and planning)."""
        from airflow.configuration import conf

        from airflow_ai_scheduler.airflow.bookkeeping import Bookkeeper, session_scope
        from airflow_ai_scheduler.airflow.gates import load_gates
        from airflow_ai_scheduler.airflow.metrics import Metrics
        from airflow_ai_scheduler.airflow.planning_service import PlanningService
        from airflow_ai_scheduler.airflow.preemption import PreemptionCallbacks, PreemptionHandler
        from airflow_ai_scheduler.airflow.routing import Router
        from airflow_ai_scheduler.dispatch import get_policy as dispatch_policy
        from airflow_ai_scheduler.recovery import get_policy as spot_policy

        self.settings = settings
        self.metrics = Metrics(executor="AiSchedulerExecutor", team_name=self.team_name)
        self.offer_map = {o.offer_id: o for o in settings.offers}
        self.fleets = fleets
        self.queued_timeout = conf.getfloat("scheduler", "task_queued_timeout", fallback=600.0)
        self.history, self.history_writer = history, history_writer
        job_id = getattr(self, "job_id", None)
        self.planning = planning or PlanningService(
            settings, store=history, session_scope=session_scope, metrics=self.metrics,
            owner=f"scheduler-job-{job_id}" if job_id is not None else None, owner_alive=_scheduler_alive)
        self.bookkeeper = bookkeeper or Bookkeeper(history_writer, self.planning, settings.fleet_map)
        policies = {s.name: dispatch_policy(s.dispatch_policy or settings.dispatch_policy,
                                            **settings.dispatch_options_for(s)) for s in settings.fleets}
        self.router = Router(self.fleets, self.offer_map, plan_wait=settings.plan_wait_seconds,
                             max_hold=settings.max_hold_seconds, policies=policies)
        self.preemption = PreemptionHandler(spot_policy(settings.spot_policy), settings.preemption_retries,
                                            PreemptionCallbacks(
                                                fail=self._fail_entry, requeue=self._requeue, replan=self._replan,
                                                event=self.record_event, job=self._job, deadline=self._deadline,
                                                fleets=self._fleet_options))
        self.gates = load_gates(settings) if gates is None else gates
        for gate in self.gates:  # the approval gate loads an edited plan a person approved
            if hasattr(gate, "reload_plan") and gate.reload_plan is None:
                gate.reload_plan = self.planning.reload_stored
        if history_writer is not None:
            from airflow_ai_scheduler.airflow.orphans import OrphanRecorder

            self.orphans = OrphanRecorder.for_executor(self, session_scope)

    @property
    def fleet_specs(self) -> dict[str, Any]:
        return self.settings.fleet_map if self.settings is not None else {}

    def _make_history(self) -> tuple[Any, Any]:
        try:
            from airflow_ai_scheduler.airflow.bookkeeping import session_scope
            from airflow_ai_scheduler.history.store import HistoryStore, ResilientHistoryWriter

            store = HistoryStore(session_scope)
            return store, ResilientHistoryWriter(store)
        except Exception as exc:  # history is an aid, never a requirement
            self.log.warning("history store unavailable: %s", exc)
            return None, None

    # -- the scheduler's calls ----------------------------------------------------------------------
    def heartbeat(self) -> None:
        self._poll_fleets()  # free the slots of tasks finished since the last loop before filling them
        super().heartbeat()

    def queue_workload(self, workload: Any, session: Any) -> None:
        super().queue_workload(workload, session)
        ti = getattr(workload, "ti", None)
        planner_task = _is_planner_task(ti)
        self.ledger.add(workload.key, workload, planner_task=planner_task)
        if ti is not None and hasattr(ti, "run_id"):
            if planner_task:
                self._operator_runs.add((ti.dag_id, ti.run_id))
            if self.planning is not None:
                self.planning.request(ti.dag_id, ti.run_id)

    def order_queued_tasks_by_priority(self) -> list[tuple[Any, Any]]:
        ordered = super().order_queued_tasks_by_priority()
        if self.router is None:
            return ordered
        from airflow_ai_scheduler.airflow.routing import now_utc

        now = now_utc()
        due: dict[str, list[Entry]] = {}
        for key, workload in ordered:
            entry = self.ledger.get(key) or self.ledger.add(key, workload)
            route = self.router.decide(entry, self.planning, self._operator_runs, now)
            if route.fleet is not None:
                route = self._gate(entry, route)
            self.ledger.move(key, route.stage, fleet=route.fleet or entry.fleet, reason=route.reason)
            if route.reason:
                self._announce(entry, route)
            if route.fleet is not None and route.stage is Stage.DUE:
                due.setdefault(route.fleet, []).append(entry)
        running = self._launched_by_fleet()
        free = {name: fleet.free_slots() for name, fleet in self.fleets.items()}
        out, left = [], []
        for name, entries in due.items():
            chosen = self.router.order(name, entries, self.planning, running, now, max(free[name], 0))
            free[name] -= len(chosen)
            out += [(e.key, e.workload) for e in chosen]
            taken = {id(e) for e in chosen}
            left += [e for e in entries if id(e) not in taken]
        # planned fleet full: a free fleet that fits, when waiting costs more than its extra price or the
        # planned start is long past
        ahead = {name: len(self.fleets[name].waiting()) for name in due}
        for entry in left:
            moved = self.router.queue_move(entry, self.planning, ahead[entry.fleet], free)
            if moved is None:
                placement = self.router.slipped(entry, self.planning, now)
                target = self.router.move(entry, self.planning, free) if placement is not None else None
                if target is not None:
                    late = (now - placement.start_time).total_seconds()
                    moved = target, (f"moved: planned on {entry.fleet} to start {late:.0f} s ago, {entry.fleet} is "
                                     f"full; {target} had a free slot")
            if moved is None:
                ahead[entry.fleet] += 1
                continue
            target, reason = moved
            self.ledger.move(entry.key, Stage.DUE, fleet=target, reason=reason)
            self.metrics.incr("moved", fleet=target)
            free[target] -= 1
            out.append((entry.key, entry.workload))
        return out

    def _gate(self, entry: Entry, route: Any) -> Any:
        """A due task through the dispatch gates (approval, budget): a hold keeps it queued, a failure ends it."""
        if not self.gates or not entry.is_task:
            return route
        from airflow_ai_scheduler.airflow.gates import first_verdict
        from airflow_ai_scheduler.airflow.routing import Route

        verdict = first_verdict(self.gates, self._gate_input(entry, route.fleet))
        if verdict is None:
            return route
        if verdict.action == "fail":
            self.queued_tasks.pop(entry.key, None)
            self._fail_entry(entry.key, verdict.reason)
            self.ledger.pop(entry.key)
            self.record_event(entry.key, "ai_scheduler.failed", verdict.reason)
            return Route(None, Stage.HELD, verdict.reason)
        return Route(None, Stage.HELD, verdict.reason)

    def _gate_input(self, entry: Entry, fleet: str) -> Any:
        from airflow_ai_scheduler.airflow.gates import GateInput
        from airflow_ai_scheduler.airflow.manifest import job_id_for

        ti = entry.workload.ti
        rp = self.planning.get(ti.dag_id, ti.run_id)
        placement = rp.placements.get(job_id_for(ti.task_id, ti.map_index)) if rp is not None else None
        cost = placement.estimated_cost if placement is not None and placement.offer_id == fleet else None
        return GateInput(key=entry.key, dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id, fleet=fleet,
                         planned_cost=cost, owner=rp.owners.get(ti.task_id) if rp is not None else None, plan=rp)

    def _announce(self, entry: Entry, route: Any) -> None:
        """Say once per reason why a task waits or is not where its plan says: log and its Event Log."""
        if self._announced.get(entry.key) == route.reason or route.stage is Stage.PLANNING:
            return
        self._announced[entry.key] = route.reason
        if route.fallback:
            self.log.warning("%s runs on its safe default fleet %s: %s", entry.key, route.fleet, route.reason)
            self.metrics.incr("fallback", reason=route.reason.split(":")[1].strip()[:40] if ":" in route.reason else "")
            self.record_event(entry.key, "ai_scheduler.fallback", f"fleet {route.fleet}: {route.reason}")
        elif route.stage is Stage.HELD:
            self.log.info("%s held: %s", entry.key, route.reason)
            self.record_event(entry.key, "ai_scheduler.held", route.reason)

    def _process_workloads(self, workloads: Any) -> None:
        for workload in workloads:
            key = workload.key
            removed = (self.queued_tasks.pop(key, None) or self.queued_callbacks.pop(key, None)
                       or self.queued_connection_tests.pop(key, None))
            if removed is None:
                raise KeyError(f"Workload {key} was not found in any queue")
            entry = self.ledger.get(key) or self.ledger.add(key, workload)
            fleet = entry.fleet if entry.fleet in self.fleets else self.router.default_fleet
            held = time.monotonic() - entry.seen
            if held > 0.5 * self.queued_timeout:
                # the scheduler's token expires task_queued_timeout after queueing: give a fresh one
                workload = self._mint(workload)
            # not added to self.running, as LocalExecutor does not: the fleets' slots cap what runs, and
            # [core] parallelism bounds what the scheduler hands us per loop, not what runs
            self._launch(entry, workload, fleet)
            self._note_placement(entry, fleet)
            self.log.info("routed %s to fleet %s (held %.1f s%s)", key, fleet, held,
                          f"; {entry.reason}" if entry.reason else "")

    def _note_placement(self, entry: Entry, fleet: str) -> None:
        """Tell the planner where a task started by its run's plan, so a later (slower) plan keeps it there."""
        from airflow_ai_scheduler.airflow.manifest import job_id_for

        if not entry.is_task or entry.reason or not hasattr(entry.workload, "ti"):
            return
        ti = entry.workload.ti
        rp = self.planning.get(ti.dag_id, ti.run_id)
        job_id = job_id_for(ti.task_id, ti.map_index)
        placement = rp.placements.get(job_id) if rp is not None else None
        if placement is not None and placement.offer_id == fleet and not rp.final:
            self.planning.note_launched(ti.dag_id, ti.run_id, job_id, placement)

    def _launch(self, entry: Entry, workload: Any, fleet: str) -> None:
        now = datetime.now(timezone.utc)
        self.ledger.move(entry.key, Stage.LAUNCHED, workload=workload, fleet=fleet, launched_at=now,
                         price=self._price_now(fleet), first_start=entry.first_start or now, adopted=False)
        self._announced.pop(entry.key, None)
        self.fleets[fleet].submit(workload)
        self.metrics.incr("launched", fleet=fleet, tier=self.fleets[fleet].spec.tier)
        if self.gates and entry.is_task:
            for gate in self.gates:
                with suppress(Exception):
                    gate.launched(self._gate_input(entry, fleet))
        policy = self.router.policies.get(fleet)
        if policy is not None and entry.is_task and hasattr(entry.workload, "ti"):
            from airflow_ai_scheduler.airflow.routing import now_utc

            with suppress(Exception):
                policy.on_dispatch(self.router.candidate(entry, self.planning),
                                   self.router.fleet_view(fleet, {}, self.fleets[fleet].free_slots()), now_utc())

    def try_adopt_task_instances(self, tis: Any) -> Any:
        """Adopt a dead scheduler's tasks that still run somewhere: a TI whose ``external_executor_id`` names
        a fleet whose backend can adopt (:attr:`FleetBackend.adoptable`, e.g. Celery). A local fleet's tasks
        died with their scheduler's worker processes: those are returned, and Airflow resets them. An
        adopted task is tracked and costed like any other, from its TI's start; its workload (needed for a
        relaunch after a preemption) is rebuilt from the TI if it is preempted."""
        from airflow_ai_scheduler.fleets.base import fleet_of

        not_adopted = []
        for ti in tis:
            external_id = getattr(ti, "external_executor_id", None)
            name = fleet_of(external_id)
            fleet = self.fleets.get(name) if name else None
            if fleet is None or not fleet.adoptable or not fleet.adopt(ti.key, external_id):
                not_adopted.append(ti)
                continue
            start = ti.start_date or datetime.now(timezone.utc)
            self.ledger.add(ti.key, None, stage=Stage.LAUNCHED, fleet=name, launched_at=start, first_start=start,
                            price=self._price_now(name), planner_task=_is_planner_task(ti), adopted=True,
                            external_id=external_id)
            self.log.info("adopted %s on fleet %s (%s)", ti.key, name, external_id)
        if self.orphans is not None:  # Airflow resets these: their tries get a 'reset' history row
            self.orphans.reset(not_adopted)
        return not_adopted

    def revoke_task(self, *, ti: Any) -> None:
        """Airflow's answer to a task stuck in QUEUED past ``[scheduler] task_queued_timeout`` (it then puts
        the TI back to SCHEDULED, or fails it after ``num_stuck_in_queued_retries``): forget the task and take
        it back from its fleet. Tasks held on purpose have their ``queued_dttm`` refreshed and never get
        here; what does is a task that never started, e.g. a Celery message no worker consumes. As the
        BaseExecutor contract asks: no state change, no event, never raises."""
        key = ti.key
        try:
            self.queued_tasks.pop(key, None)
            entry = self.ledger.pop(key)
            fleet = self.fleets.get(entry.fleet) if entry is not None and entry.stage is Stage.LAUNCHED else None
            if fleet is not None:
                fleet.revoke(key)
            self.log.warning("%s was queued longer than task_queued_timeout%s: revoked", key,
                             f" on fleet {entry.fleet}" if fleet is not None and entry else "")
        except Exception:
            self.log.exception("AiSchedulerExecutor: revoking %s failed; continuing", key)

    def record_event(self, key: Any, event: str, extra: str) -> None:
        """A row in Airflow's audit log (the task's Event Log in the UI), written by the bookkeeping thread."""
        if self.bookkeeper is not None:
            self.bookkeeper.event(key, event, extra)

    # -- fleet reports ------------------------------------------------------------------------------
    def _poll_fleets(self) -> None:
        for name, fleet in self.fleets.items():
            try:
                reports = fleet.poll()
            except Exception:  # an exception here would kill the scheduler
                self.log.exception("AiSchedulerExecutor: polling fleet %s failed; continuing", name)
                continue
            for report in reports:
                try:
                    self._on_report(name, report)
                except Exception:
                    self.log.exception("AiSchedulerExecutor: handling %s from fleet %s failed", report, name)

    def _on_report(self, fleet: str, report: FleetReport) -> None:
        entry = self.ledger.get(report.key)
        if entry is not None and entry.stage in _BEFORE_LAUNCH:
            # the key was queued again (resumed after a deferral, a sensor's next poke) before its fleet
            # reported how the earlier workload ended: that report is not the new one's. Passed on, the
            # scheduler would take "success" for the queued resumption's and fail it as killed externally.
            self.log.info("%s: %s from fleet %s is its earlier workload's (it is queued again): not passed on",
                          report.key, report.status.value, fleet)
            return
        if report.status is FleetStatus.PREEMPTED:
            if entry is not None:
                self._preempted(entry, report.info)
            return
        workload = entry.workload if entry is not None else None
        if report.status in (FleetStatus.QUEUED, FleetStatus.RUNNING):  # info: the backend's id, kept by Airflow
            if entry is not None and report.info:
                entry.external_id = report.info
            state = _airflow_state(workload, report.status)
            if state is not None:
                self.change_state(report.key, state, report.info, remove_running=False)
            return
        self.change_state(report.key, _airflow_state(workload, report.status), report.info)
        self._finished(fleet, report)

    def _finished(self, fleet: str, report: FleetReport) -> None:
        if report.status is FleetStatus.FAILED:
            self.router.note_end(fleet, "failed")
        entry = self.ledger.pop(report.key)
        self._announced.pop(report.key, None)
        if entry is None or not entry.is_task:
            return
        if entry.planner_task:
            self.planning.adopt_operator_plan(*entry.run)
        end = datetime.now(timezone.utc)
        started = entry.launched_at or end
        hours = (end - started).total_seconds() / 3600
        spec = self.fleets[fleet].spec if fleet in self.fleets else None
        self.metrics.incr("actual_cost_microusd", int(hours * entry.price * 1e6), fleet=fleet,
                          tier=getattr(spec, "tier", None))
        policy = self.router.policies.get(fleet)
        if policy is not None:
            with suppress(Exception):
                policy.on_finish(entry.key, fleet, hours, report.status.value)
        self.bookkeeper.record_try(entry.key, _launch_record(entry, end))

    def _preempted(self, entry: Entry, info: Any) -> None:
        self.metrics.incr("preempted", fleet=entry.fleet)
        self.router.note_end(entry.fleet or "", "preempted")
        self.bookkeeper.record_try(entry.key, {**_launch_record(entry, datetime.now(timezone.utc)),
                                               "outcome": "preempted"})
        if self.preemption.on_preempted(entry, info):
            self.ledger.move(entry.key, Stage.RELAUNCHING, reason=f"preempted: {info}")
        else:
            self.metrics.incr("preemption_budget_spent", fleet=entry.fleet)
            self.ledger.pop(entry.key)

    # -- preemption callbacks (narrow: see PreemptionCallbacks) ---------------------------------------
    def _fail_entry(self, key: Any, info: str) -> None:
        self.fail(key, info=info)

    def _requeue(self, entry: Entry) -> Future:
        """Future[(workload, requeued)]: the TI back to QUEUED (and an adopted task's workload rebuilt)."""
        return self.bookkeeper.requeue(entry.workload, entry.key, self._jwt)

    def _replan(self, dag_id: str, run_id: str) -> None:
        self.planning.request(dag_id, run_id, replan=True)

    def _job(self, key: Any) -> Any:
        from airflow_ai_scheduler.airflow.manifest import job_id_for

        rp = self.planning.get(key.dag_id, key.run_id)
        if rp is None:
            return None
        return rp.jobs.get(job_id_for(key.task_id, key.map_index)) or rp.jobs.get(key.task_id)

    def _deadline(self, key: Any, job: Any) -> datetime | None:
        from airflow_ai_scheduler.airflow.preemption import effective_deadline

        rp = self.planning.get(key.dag_id, key.run_id)
        return effective_deadline(rp.manifest if rp is not None else None, job)

    def _fleet_options(self, job: Any) -> list[Any]:
        from airflow_ai_scheduler.airflow.preemption import FleetOption
        from airflow_ai_scheduler.planning.candidates import fit_problem

        return [FleetOption(name=n, tier=f.spec.tier, free_slots=f.free_slots(), spot_available=f.spot_available(),
                            fits=job is None or fit_problem(job, self.offer_map[n]) is None,
                            location=f.spec.location, price_per_hour=self.offer_map[n].price_per_hour)
                for n, f in self.fleets.items()]

    # -- the loop's other chores --------------------------------------------------------------------
    def sync(self) -> None:
        self._poll_fleets()
        try:
            self._relaunch_due()
            self._refresh_held()
            self._refresh_gates()
            self._prune_runs()
            self.planning.follow_due(self.ledger.active_runs())
            self._emit_gauges()
        except Exception:  # an exception here would kill the scheduler
            self.log.exception("AiSchedulerExecutor.sync failed; continuing")

    def _relaunch_due(self) -> None:
        for entry in self.ledger.entries(Stage.RELAUNCHING):
            if entry.pending is not None:
                if not entry.pending.done():
                    continue
                future, entry.pending = entry.pending, None
                try:
                    workload, requeued = future.result()
                except Exception as exc:
                    self.log.warning("%s could not be put back to QUEUED (%s): its preemption goes to Airflow's "
                                     "own retries", entry.key, exc)
                    workload, requeued = None, None
                if workload is None:
                    self._fail_entry(entry.key, f"preempted; could not be relaunched ({entry.reason})")
                    self.ledger.pop(entry.key)
                    continue
                if not requeued:
                    self.log.info("%s was no longer running when its capacity was lost; not relaunched", entry.key)
                    self.ledger.pop(entry.key)
                    continue
                entry.workload = workload
            fleet = self.preemption.decide(entry)
            if fleet is not None:
                self.metrics.incr("relaunched", fleet=fleet)
                self._launch(entry, self._mint(entry.workload), fleet)

    def _refresh_held(self) -> None:
        """Keep held task instances from being failed as 'stuck in queued' while they wait on purpose."""
        now = time.monotonic()
        if now - self._last_refresh < max(5.0, self.queued_timeout / 4):
            return
        self._last_refresh = now
        old = now - self.queued_timeout / 4
        ids = [e.workload.ti.id for e in self.ledger.entries(Stage.PLANNING, Stage.HELD, Stage.DUE, Stage.RELAUNCHING)
               if e.pending is None and hasattr(e.workload, "ti") and e.stage_since < old]
        for fleet in self.fleets.values():  # and those a fleet holds for its next free worker
            ids += [w.ti.id for w, since in fleet.waiting() if hasattr(w, "ti") and since < old]
        if ids:
            self.bookkeeper.touch_queued(ids)
        self.bookkeeper.periodic()  # rows kept while the database was down; upstream_failed sweeps
        if self.orphans is not None:
            self.orphans.tick(self.bookkeeper.sweep)

    def _refresh_gates(self) -> None:
        from airflow_ai_scheduler.airflow.gates import REFRESH_SECONDS

        if not self.gates or (self._gate_refresh is not None and not self._gate_refresh.done()):
            return
        now = time.monotonic()
        if now - self._last_gate_refresh < REFRESH_SECONDS:
            return
        self._last_gate_refresh = now
        runs = self.ledger.active_runs()
        self._gate_refresh = self.bookkeeper.submit(lambda: [g.refresh(runs) for g in self.gates])

    def _prune_runs(self) -> None:
        """Forget the plans and per-run state of runs that are over (nothing left in the ledger)."""
        from airflow_ai_scheduler.airflow.bookkeeping import finished_runs

        if self._prune is not None and self._prune.done():
            done = self._prune.result() if self._prune.exception() is None else []
            self._prune = None
            active = self.ledger.active_runs()
            done = [r for r in done if r not in active]
            self.planning.forget(done)
            self._operator_runs.difference_update(done)
            self.bookkeeper.forget(done)
        now = time.monotonic()
        if self._prune is None and now - self._last_prune > PRUNE_SECONDS:
            self._last_prune = now
            self.ledger.idle_runs(PRUNE_SECONDS)
            active = self.ledger.active_runs()
            candidates = [r for r in self.planning.known_runs() if r not in active]
            if candidates:
                self._prune = self.bookkeeper.sweep(finished_runs, self.bookkeeper.scope, candidates)

    def _emit_gauges(self) -> None:
        for reason, n in self.ledger.held_reasons().items():
            self.metrics.gauge("tasks_held", n, reason=reason)

    def _launched_by_fleet(self) -> dict[str, list[Entry]]:
        out: dict[str, list[Entry]] = {}
        for e in self.ledger.entries(Stage.LAUNCHED):
            out.setdefault(e.fleet or "", []).append(e)
        return out

    def _mint(self, workload: Any) -> Any:
        """The workload with a fresh token (its first one lives task_queued_timeout from queueing)."""
        if self._jwt is None or not hasattr(workload, "ti") or not workload.token:
            return workload
        return workload.model_copy(update={"token": type(workload).generate_token(str(workload.ti.id), self._jwt)})

    def _price_now(self, fleet: str) -> float:
        offer = self.offer_map.get(fleet)
        return offer.price_at(datetime.now(timezone.utc)) if offer else 0.0

    def debug_dump(self) -> None:
        """Called on SIGUSR2 by the scheduler: Airflow's queues, then where every task is and each fleet."""
        super().debug_dump()
        self.log.info("%s", self.debug_text())

    def debug_text(self) -> str:
        lines = [f"ai-scheduler ledger ({len(self.ledger)}):", self.ledger.dump()]
        for name, fleet in self.fleets.items():
            try:
                lines.append(f"fleet {name}: {fleet.debug_state()}")
            except Exception as exc:
                lines.append(f"fleet {name}: cannot say ({exc})")
        if self.planning is not None:
            lines.append(f"plans held for {len(self.planning.known_runs())} run(s)")
        return "\n".join(lines)

    def end(self) -> None:
        for fleet in self.fleets.values():
            with suppress(Exception):
                fleet.end()
        self.sync()
        self._shutdown(wait=True)

    def terminate(self) -> None:
        for fleet in self.fleets.values():
            with suppress(Exception):
                fleet.terminate()
        self._shutdown(wait=False)

    def _shutdown(self, wait: bool) -> None:
        if self.planning is not None:
            self.planning.shutdown()
        if self.bookkeeper is not None:
            self.bookkeeper.shutdown(wait=wait)


def _is_planner_task(ti: Any) -> bool:
    from airflow_ai_scheduler.airflow.operator import PLANNER_MARKER

    return bool(ti is not None and (getattr(ti, "executor_config", None) or {}).get(PLANNER_MARKER))


def _airflow_state(workload: Any, status: FleetStatus) -> Any:
    """What to tell Airflow: the workload's own state for ``status`` (a callback has its own states),
    Airflow's task states for an adopted task (no workload)."""
    attr = {FleetStatus.SUCCESS: "success_state", FleetStatus.FAILED: "failure_state",
            FleetStatus.RUNNING: "running_state"}.get(status)
    mine = getattr(workload, attr, None) if attr and workload is not None else None
    if mine is not None:
        return mine
    if workload is not None and status is FleetStatus.RUNNING:
        return None  # a workload without a running state (a connection test): nothing to say
    from airflow.utils.state import TaskInstanceState

    return {FleetStatus.SUCCESS: TaskInstanceState.SUCCESS, FleetStatus.FAILED: TaskInstanceState.FAILED,
            FleetStatus.RUNNING: TaskInstanceState.RUNNING, FleetStatus.QUEUED: TaskInstanceState.QUEUED}[status]


#: ledger stages of a workload not yet handed to a fleet: no fleet report can be about it
_BEFORE_LAUNCH = frozenset({Stage.PLANNING, Stage.HELD, Stage.DUE})


def _launch_record(entry: Entry, end: datetime) -> dict[str, Any]:
    """What the history row needs of an attempt."""
    return {"fleet": entry.fleet, "start": entry.launched_at or end, "end": end, "price": entry.price,
            "planner_task": entry.planner_task, "adopted": entry.adopted}


def _scheduler_alive(owner: str) -> bool:
    """Is the scheduler that claimed a run's planning (``scheduler-job-<id>``) still alive?"""
    from airflow.jobs.job import Job

    from airflow_ai_scheduler.airflow.bookkeeping import session_scope

    try:
        job_id = int(owner.rsplit("-", 1)[-1])
    except ValueError:
        return False
    with session_scope() as session:
        job = session.get(Job, job_id)
        return bool(job is not None and job.is_alive())
