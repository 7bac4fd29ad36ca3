"""Discrete-event simulator of fleets with slots, driven by a dispatch policy (pure; no Airflow).

Plays a :class:`~.dispatch_workload.Workload` forward: a run's tasks become due when it arrives and their
dependencies finish; each fleet runs at most its usable slots at once; whenever a fleet has free slots and
due tasks, its policy orders them (the same :class:`~airflow_ai_scheduler.dispatch.DispatchPolicy` call the
executor makes, with the same :class:`Candidate`/:class:`FleetView`) and the first ``free_slots`` start.

* Spot fleets: usable slots = nominal slots × (½ + ½ × instances in the trace / the trace's maximum), read
  from the bundled trace at the fleet's offset: a fleet of several pools loses at most half its slots when
  one pool's trace falls to zero. When they drop below what runs, the newest tries are preempted and
  their tasks due again from scratch (no checkpoint); after ``max_preemptions`` (3) a task goes to the
  on-demand fleet, as the executor's recovery policy falls back to on-demand.
* A try of a task with ``fail_tries`` left fails after ``fail_at`` of its runtime and is due again at once.
* Starvation: a task that has waited more than ``starvation_factor`` × its expected runtime (and at least
  ``starvation_floor_h``, 15 min) in one stretch counts once as starved.

:meth:`DispatchSimulator.run` plays a whole workload with a policy; :meth:`next_decision` /
:meth:`launch` let a caller (the reinforcement-learning environment) make the decisions one by one.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from airflow_ai_scheduler.dispatch.base import Candidate, DispatchPolicy, FleetView
from airflow_ai_scheduler.simulate.dispatch_workload import (
    FleetSpec,
    SimRun,
    SimTask,
    Workload,
    spot_share,
    trace_counts,
)

EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)
ARRIVE, FINISH, CAPACITY, DEADLINE, STARVE = range(5)


class _Fleet:
    def __init__(self, spec: FleetSpec) -> None:
        self.spec = spec
        self.cap = spec.slots
        self.running: dict[tuple[str, str], tuple[SimTask, float, float, int]] = {}  # key → task, start, end, try
        self.queue: dict[tuple[str, str], SimTask] = {}
        self.preempted: deque[float] = deque()
        self.failed: deque[float] = deque()
        self.tick_h, self.counts, self.peak = 0.0, (), 1.0
        if spec.trace:
            self.tick_h, self.counts = trace_counts(spec.trace)
            self.peak = max(self.counts) or 1.0

    def slots_at_tick(self, tick: int) -> int:
        c = self.counts[(self.spec.trace_offset + tick) % len(self.counts)]
        return int(math.floor(self.spec.slots * spot_share(c, self.peak) + 1e-9))


@dataclass
class SimResult:
    policy: str
    tasks: int
    runs: int
    mean_wait_min: float
    p95_wait_min: float
    mean_completion_h: float
    p95_completion_h: float
    deadline_runs: int
    deadline_misses: int
    throughput_per_h: float
    makespan_h: float
    starved: int
    preemptions: int
    failures: int
    run_hours: float  #: Σ over runs of (finish − arrival): what the RL reward's completion term integrates

    @property
    def miss_rate(self) -> float:
        return self.deadline_misses / self.deadline_runs if self.deadline_runs else 0.0


def percentile(xs: list[float], q: float) -> float:
    if not xs:
        return 0.0
    s = sorted(xs)
    pos = (len(s) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


class DispatchSimulator:
    def __init__(self, workload: Workload, *, starvation_factor: float = 10.0,
                 starvation_floor_h: float = 0.25, max_preemptions: int = 3) -> None:
        self.workload = workload
        self.starvation_factor, self.starvation_floor_h = starvation_factor, starvation_floor_h
        self.fleets = {f.name: _Fleet(f) for f in workload.fleets}
        self.runs: dict[str, SimRun] = {r.run_id: r for r in workload.runs}
        self.now = 0.0
        self._seq = 0
        self._events: list[tuple[float, int, int, object]] = []
        self.done_deps: dict[str, Counter[str]] = {r.run_id: Counter() for r in workload.runs}
        self.left: dict[str, int] = {r.run_id: len(r.tasks) for r in workload.runs}
        self.remaining_h: dict[str, float] = {r.run_id: sum(t.expected_h for t in r.tasks.values())
                                              for r in workload.runs}
        self.finished_at: dict[str, float] = {}
        self.ready_at: dict[tuple[str, str], float] = {}
        self.entry: dict[tuple[str, str], int] = {}  # how many times a task was made due (stale-event check)
        self.wait_h: Counter[tuple[str, str]] = Counter()
        self.tries: Counter[tuple[str, str]] = Counter()
        self.starved: set[tuple[str, str]] = set()
        self.misses = self.preemptions = self.failures = 0
        self.active_runs = 0
        self.run_hours = 0.0  # ∫ active runs dt
        self.tasks_done = 0
        self.last_finish = 0.0
        self.pending_arrivals = len(workload.runs)
        self.max_preemptions = max_preemptions
        self.horizon_limit = 50 * max(workload.horizon_h, 24.0) + max((r.arrival_h for r in workload.runs), default=0)
        self.preempted_tries: Counter[tuple[str, str]] = Counter()
        self.fallback = next((f.name for f in workload.fleets if f.tier != "spot" and not f.trace), None)
        self._deadline_dt: dict[tuple[str, str], datetime | None] = {}
        for r in workload.runs:
            self._push(r.arrival_h, ARRIVE, r.run_id)
            if r.deadline_h is not None:
                self._push(r.deadline_h, DEADLINE, r.run_id)
        for f in self.fleets.values():
            if f.counts:
                f.cap = f.slots_at_tick(0)
                self._next_capacity(f, 0)

    # -- events -------------------------------------------------------------------------------------------
    def _push(self, t: float, kind: int, payload: object) -> None:
        self._seq += 1
        heapq.heappush(self._events, (t, self._seq, kind, payload))

    def _next_capacity(self, f: _Fleet, tick: int) -> None:
        now_slots, n = f.slots_at_tick(tick), len(f.counts)
        for k in range(tick + 1, tick + n + 1):
            s = f.slots_at_tick(k)
            if s != now_slots:
                self._push(k * f.tick_h, CAPACITY, (f.spec.name, k, s))
                return

    @property
    def finished(self) -> bool:
        return self.pending_arrivals == 0 and self.active_runs == 0

    def _advance(self, t: float) -> None:
        self.run_hours += self.active_runs * (t - self.now)
        self.now = t

    def _due(self, task: SimTask) -> None:
        key = task.key
        self.fleets[task.fleet].queue[key] = task
        self.ready_at[key] = self.now
        self.entry[key] = self.entry.get(key, 0) + 1
        if key not in self.starved:
            limit = max(self.starvation_factor * task.expected_h, self.starvation_floor_h)
            self._push(self.now + limit, STARVE, (key, self.entry[key]))

    def _process(self, kind: int, payload: object) -> None:
        if kind == ARRIVE:
            run = self.runs[payload]  # type: ignore[index]
            self.pending_arrivals -= 1
            self.active_runs += 1
            for t in run.tasks.values():
                if not t.deps:
                    self._due(t)
        elif kind == FINISH:
            fleet, key, try_no = payload  # type: ignore[misc]
            self._finish(self.fleets[fleet], key, try_no)
        elif kind == CAPACITY:
            name, tick, slots = payload  # type: ignore[misc]
            f = self.fleets[name]
            f.cap = slots
            for key in sorted(f.running, key=lambda k: -f.running[k][1])[: max(0, len(f.running) - slots)]:
                task = f.running.pop(key)[0]  # preempted: newest first, due again from scratch
                f.preempted.append(self.now)
                self.preemptions += 1
                self.preempted_tries[key] += 1
                if self.preempted_tries[key] >= self.max_preemptions and self.fallback:
                    task.fleet = self.fallback  # the preemption budget is spent: on-demand from now on
                self._due(task)
            if not self.finished:
                self._next_capacity(f, tick)
        elif kind == DEADLINE:
            if payload not in self.finished_at:
                self.misses += 1
        elif kind == STARVE:
            key, entry = payload  # type: ignore[misc]
            task = self.runs[key[0]].tasks[key[1]]
            if self.entry.get(key) == entry and key in self.fleets[task.fleet].queue:
                self.starved.add(key)

    def _finish(self, f: _Fleet, key: tuple[str, str], try_no: int) -> None:
        entry = f.running.get(key)
        if entry is None or entry[3] != try_no:
            return  # a preempted try's stale end
        task = f.running.pop(key)[0]
        if self.tries[key] <= task.fail_tries:
            f.failed.append(self.now)
            self.failures += 1
            self._due(task)
            return
        run = self.runs[task.run_id]
        self.tasks_done += 1
        self.last_finish = self.now
        self.left[run.run_id] -= 1
        self.remaining_h[run.run_id] -= task.expected_h
        if self.left[run.run_id] == 0:
            self.finished_at[run.run_id] = self.now
            self.active_runs -= 1
            return
        done = self.done_deps[run.run_id]
        for t in run.tasks.values():
            if task.task_id in t.deps:
                done[t.task_id] += 1
                if done[t.task_id] == len(t.deps):
                    self._due(t)

    # -- decisions ---------------------------------------------------------------------------------------
    def next_decision(self) -> str | None:
        """Advance until some fleet has free slots and due tasks; its name, or None when all is done."""
        while True:
            for name in sorted(self.fleets):
                f = self.fleets[name]
                if f.queue and len(f.running) < f.cap:
                    return name
            if not self._events or self.finished:
                return None
            t = self._events[0][0]
            if t > self.horizon_limit:
                stuck = sorted(r for r in self.runs if r not in self.finished_at)[:5]
                raise RuntimeError(f"dispatch simulation stuck at {t:.0f} h; unfinished runs: {stuck}")
            self._advance(t)
            while self._events and self._events[0][0] <= t:
                _, _, kind, payload = heapq.heappop(self._events)
                self._process(kind, payload)

    def free_slots(self, fleet: str) -> int:
        f = self.fleets[fleet]
        return max(0, f.cap - len(f.running))

    def queue(self, fleet: str) -> list[SimTask]:
        return list(self.fleets[fleet].queue.values())

    def launch(self, fleet: str, key: tuple[str, str]) -> None:
        f = self.fleets[fleet]
        task = f.queue.pop(key)
        self.wait_h[key] += self.now - self.ready_at[key]
        self.tries[key] += 1
        dur = task.runtime_h * (task.fail_at if self.tries[key] <= task.fail_tries else 1.0)
        f.running[key] = (task, self.now, self.now + dur, self.tries[key])
        self._push(self.now + dur, FINISH, (fleet, key, self.tries[key]))

    def view(self, fleet: str) -> FleetView:
        f = self.fleets[fleet]
        while f.preempted and f.preempted[0] < self.now - 1.0:
            f.preempted.popleft()
        while f.failed and f.failed[0] < self.now - 1.0:
            f.failed.popleft()
        by_dag: Counter[str] = Counter()
        by_owner: Counter[str] = Counter()
        for task, *_ in f.running.values():
            run = self.runs[task.run_id]
            by_dag[run.dag_id] += 1
            by_owner[run.owner] += 1
        return FleetView(f.spec.name, f.spec.tier, f.spec.slots, self.free_slots(fleet), f.spec.price_per_hour,
                         dict(by_dag), dict(by_owner), len(f.preempted), len(f.failed))

    def candidates(self, fleet: str) -> list[Candidate]:
        f = self.fleets[fleet]
        out = []
        price = f.spec.price_per_hour
        for key, t in f.queue.items():
            run = self.runs[t.run_id]
            if key not in self._deadline_dt:
                self._deadline_dt[key] = EPOCH + timedelta(hours=t.deadline_h) if t.deadline_h is not None else None
            out.append(Candidate(
                key, run.dag_id, t.task_id, t.run_id, run.owner, None, t.priority, t.priority_weight,
                self._deadline_dt[key], t.expected_h, t.expected_h * price * t.vcpus,
                (self.now - self.ready_at[key]) * 3600, t.descendants, max(0.0, self.remaining_h[t.run_id])))
        return out

    @property
    def now_dt(self) -> datetime:
        return EPOCH + timedelta(hours=self.now)

    # -- whole runs ----------------------------------------------------------------------------------------
    def run(self, policy: DispatchPolicy | dict[str, DispatchPolicy], name: str | None = None) -> SimResult:
        """Play the workload to the end with ``policy`` (or one per fleet); the metrics."""
        while (fleet := self.next_decision()) is not None:
            p = policy[fleet] if isinstance(policy, dict) else policy
            view, now = self.view(fleet), self.now_dt
            chosen = p.order(self.candidates(fleet), view, now)[: view.free_slots]
            for c in chosen:
                self.launch(fleet, c.key)  # type: ignore[arg-type]
                p.on_dispatch(c, view, now)
        label = name or (getattr(policy, "name", "mixed") if not isinstance(policy, dict) else "mixed")
        return self.result(label)

    def result(self, name: str) -> SimResult:
        waits = [h * 60 for h in (self.wait_h[t.key] for r in self.runs.values() for t in r.tasks.values())]
        completion = [self.finished_at[r] - self.runs[r].arrival_h for r in self.finished_at]
        first = min((r.arrival_h for r in self.runs.values()), default=0.0)
        span = max(self.last_finish - first, 1e-9)
        return SimResult(
            policy=name, tasks=self.tasks_done, runs=len(self.finished_at),
            mean_wait_min=sum(waits) / max(1, len(waits)), p95_wait_min=percentile(waits, 0.95),
            mean_completion_h=sum(completion) / max(1, len(completion)),
            p95_completion_h=percentile(completion, 0.95),
            deadline_runs=sum(1 for r in self.runs.values() if r.deadline_h is not None),
            deadline_misses=self.misses, throughput_per_h=self.tasks_done / span, makespan_h=span,
            starved=len(self.starved), preemptions=self.preemptions, failures=self.failures,
            run_hours=self.run_hours)


def simulate_dispatch(workload: Workload, policy: DispatchPolicy, name: str | None = None, **kw: float) -> SimResult:
    return DispatchSimulator(workload, **kw).run(policy, name)
