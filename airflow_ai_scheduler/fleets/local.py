"""The embedded default backend: one process pool per fleet on this machine, run as LocalExecutor runs.

Each fleet has ``slots`` worker processes reading workloads from its own queue. A worker exports the
fleet's environment (``AI_SCHEDULER_FLEET``, ``AI_SCHEDULER_TIER``, ...) so the task it supervises sees
where it runs, then hands the workload to Airflow's own ``BaseExecutor.run_workload`` (the task
supervisor), exactly as LocalExecutor's workers do.

A fleet also holds up to ``prefetch`` workloads (option, default: its ``slots``) beyond its running ones.
A reader thread hands the next one to a worker the moment a task ends — without waiting for the
scheduler's next loop, as LocalExecutor's shared queue does — after giving it a fresh token (``mint``):
a workload may wait there longer than its first token lives. The executor keeps the waiting ones' task
instances from being failed as stuck in queued (:meth:`LocalProcessFleet.waiting`).
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections import deque
from multiprocessing import SimpleQueue
from typing import Any

from airflow_ai_scheduler.fleets.base import FleetBackend, FleetContext, FleetReport, FleetSpec, FleetStatus
from airflow_ai_scheduler.fleets.preemption import PreemptionInjector

log = logging.getLogger(__name__)


#: the worker's first message about a workload: (key, STARTED, pid)
STARTED = "__started__"


def _run_worker(env: dict[str, str], inbox: SimpleQueue, outbox: SimpleQueue, server: str | None,
                parent: int | None = None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # like LocalExecutor: let running tasks finish
    os.setpgrp()  # a preemption kills this worker and the task processes it forks, together
    os.environ.update(env)
    busy = threading.Event()
    parent = parent or os.getppid()  # the scheduler's pid, as it was when it started this worker
    _watch_parent(parent, busy)  # before the (slow) Airflow import: a scheduler may die meanwhile
    from airflow.executors.base_executor import BaseExecutor

    _warm_task_imports()

    try:
        from setproctitle import setproctitle
    except ImportError:  # pragma: no cover
        def setproctitle(title: str) -> None:
            return None

    fleet = env.get("AI_SCHEDULER_FLEET", "?")
    while True:
        setproctitle(f"airflow worker -- ai-scheduler fleet {fleet}: <idle>")
        try:
            item = inbox.get()
        except EOFError:
            return
        if item is None:
            return
        gen, workload = item
        busy.set()
        outbox.put((workload.key, STARTED, os.getpid(), gen))
        # info: stored by Airflow as the TI's external_executor_id — after a scheduler dies, its successor
        # reads the fleet from it (fleets.base.fleet_of) to record the try (airflow.orphans)
        outbox.put((workload.key, FleetStatus.RUNNING, local_id(fleet), gen))
        try:
            BaseExecutor.run_workload(workload, server=server, subprocess_logs_to_stdout=True,
                                      proctitle=f"airflow worker -- ai-scheduler fleet {fleet}: {workload.display_name}")
            outbox.put((workload.key, FleetStatus.SUCCESS, None, gen))
        except Exception as exc:  # the supervisor failed: report, keep the worker alive
            log.exception("workload failed on fleet %s", fleet)
            outbox.put((workload.key, FleetStatus.FAILED, repr(exc), gen))
        busy.clear()
        if os.getppid() != parent:
            return  # the scheduler is gone: nobody will read the outbox or send more work


#: what every task process imports before its task runs: the task runner (with the Task SDK's DAG
#: definitions, which parsing the DAG file needs) and the standard provider's ``@task`` decorator
_TASK_IMPORTS = ("airflow.sdk.execution_time.supervisor", "airflow.sdk.execution_time.task_runner",
                 "airflow.providers.standard.decorators.python", "airflow.providers.standard.operators.python")


def _warm_task_imports() -> None:
    """Import, once in this worker, what each task process it forks would otherwise import anew: the task
    runner and the listener plugins (``get_listener_manager`` loads every plugin, ours with its web app).
    LocalExecutor's workers inherit them from a scheduler that has already deserialized DAGs and loaded
    its plugins; ours start with the executor, before it has — and each no-op task spent seconds parsing
    its DAG file instead of tenths (a 20-run burst: median 5.4 s vs 0.9 s per task)."""
    import importlib

    for name in _TASK_IMPORTS:
        try:
            importlib.import_module(name)
        except Exception:  # an older or trimmed install: the task imports what it needs itself
            log.debug("could not pre-import %s", name, exc_info=True)
    try:
        from airflow.sdk.listener import get_listener_manager

        get_listener_manager()  # cached: the forked task processes find their listeners registered
    except Exception:
        log.debug("could not pre-load the listener plugins", exc_info=True)


def local_id(fleet: str) -> str:
    """The id a local fleet's worker reports for the task it runs (what fleets.base.fleet_of reads)."""
    from airflow_ai_scheduler.fleets.base import EXTERNAL_ID_PREFIX

    return f"{EXTERNAL_ID_PREFIX}{fleet}/local-{os.getpid()}"


def _watch_parent(parent: int, busy: threading.Event, interval: float = 1.0) -> None:
    """A worker outlives a scheduler that was killed (its siblings keep the queue open, so it never sees
    EOF): when the parent is gone, an idle worker exits; a busy one finishes its task first (Airflow
    resets that task instance when the scheduler comes back, and its supervisor stops it)."""

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent and not busy.is_set():
                os._exit(0)

    threading.Thread(target=watch, name="ai-scheduler-parent-watch", daemon=True).start()


class LocalProcessFleet(FleetBackend):
    """``slots`` worker processes with the fleet's environment; the queue holds at most what fits.

    Not adoptable: its workers are children of the scheduler and exit with it (busy ones after their task),
    so a restarted scheduler lets Airflow reset those task instances and runs them again."""

    def __init__(self, spec: FleetSpec, context: FleetContext | None = None) -> None:
        super().__init__(spec, context)
        self.server = self.context.server
        self.prefetch = int(spec.options.get("prefetch", spec.slots))
        self.inbox: SimpleQueue | None = None
        self.outbox: SimpleQueue | None = None
        self.workers: list[multiprocessing.Process] = []
        self.in_flight: set[Any] = set()
        self.pids: dict[Any, int] = {}
        self.injector = PreemptionInjector(spec.options) if spec.tier == "spot" else None
        self._lock = threading.Lock()
        self._waiting: deque[tuple[Any, float]] = deque()  # (workload, since) held for the next free worker
        self._dispatched: set[tuple[Any, int]] = set()  # (key, generation) handed to workers and not finished
        #: key → the generation of its latest submission. A deferred (or rescheduled) task exits its try with
        #: the same key that its resumption is queued under; when the resumed workload starts before the
        #: first one's supervisor has exited, that exit is an earlier generation's and is not reported
        #: (it would tell the scheduler the running resumption had finished).
        self._gen: dict[Any, int] = {}
        self._seq = itertools.count(1)
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self.target: int | None = None  # set by resize(): the pool's size instead of spec.slots

    def start(self) -> None:
        self.inbox, self.outbox = SimpleQueue(), SimpleQueue()
        env = self.spec.environment()
        for _ in range(self.spec.slots):
            self.workers.append(self._spawn(env))
        threading.Thread(target=self._read, name=f"ai-scheduler-fleet-{self.spec.name}", daemon=True).start()

    def _read(self) -> None:
        """Forward the workers' messages to poll(); refill a worker as soon as its task ends."""
        assert self.outbox is not None
        while True:
            try:
                key, state, info, gen = self.outbox.get()
            except (EOFError, OSError):
                return
            self._events.put((key, state, info, gen))
            if state != STARTED and state != FleetStatus.RUNNING:
                with self._lock:
                    self._dispatched.discard((key, gen))
                    self._dispatch()

    def _dispatch(self) -> None:
        """Hand waiting workloads to free workers (caller holds the lock)."""
        while (self._waiting and len(self._dispatched) < min(len(self.workers), self.capacity)
               and self.inbox is not None):
            workload, _since = self._waiting.popleft()
            try:
                workload = self.context.mint(workload)
            except Exception:  # keep the token it has: the task may still start in time
                log.exception("fleet %s: could not refresh the token of %s", self.spec.name, workload.key)
            gen = self._gen.get(workload.key, 0)
            self._dispatched.add((workload.key, gen))
            self.inbox.put((gen, workload))

    def waiting(self) -> list[tuple[Any, float]]:
        """(workload, monotonic time it was submitted) of the workloads held for a free worker."""
        with self._lock:
            return list(self._waiting)

    def _spawn(self, env: dict[str, str]) -> multiprocessing.Process:
        p = multiprocessing.Process(target=_run_worker, args=(env, self.inbox, self.outbox, self.server, os.getpid()),
                                    name=f"ai-scheduler-{self.spec.name}", daemon=False)
        p.start()
        return p

    def free_slots(self) -> int:
        if self.injector is not None and not self.injector.available():
            return 0  # no spot capacity to be had right now
        return self.capacity + self.prefetch - len(self.in_flight)

    @property
    def capacity(self) -> int:
        """Worker processes the pool has (``spec.slots`` until :meth:`resize`)."""
        return self.spec.slots if self.target is None else self.target

    def resize(self, slots: int) -> bool:
        """Grow or shrink the pool to ``slots`` workers (at least one: routed tasks must not strand; the
        new size is :attr:`capacity`). New workers start at once; extra ones are asked to stop through the queue, so
        an idle worker leaves now and a busy one after its task. A fleet sized by the forecast calls this."""
        slots = max(1, int(slots))
        if self.inbox is None:
            self.target = slots
            return True
        with self._lock:
            before, self.target = self.capacity, slots
            if slots > len(self.workers):
                env = self.spec.environment()
                self.workers += [self._spawn(env) for _ in range(slots - len(self.workers))]
            for _ in range(max(0, before - slots)):
                self.inbox.put(None)
            self._dispatch()
        log.info("fleet %s resized from %d to %d worker(s)", self.spec.name, before, slots)
        return True

    def spot_available(self) -> bool:
        return self.injector is None or self.injector.available()

    def submit(self, workload: Any) -> None:
        assert self.inbox is not None, "fleet not started"
        self.in_flight.add(workload.key)
        with self._lock:
            self._gen[workload.key] = next(self._seq)
            self._waiting.append((workload, time.monotonic()))
            self._dispatch()

    def poll(self) -> list[FleetReport]:
        out: list[FleetReport] = []
        while True:
            try:
                key, state, info, gen = self._events.get_nowait()
            except queue.Empty:
                break
            if gen != self._gen.get(key):
                if state != STARTED and state != FleetStatus.RUNNING:
                    log.info("fleet %s: an earlier workload of %s ended (%s) after the task was queued again "
                             "(resumed after a deferral or reschedule): not reported", self.spec.name, key,
                             getattr(state, "value", state))
                continue
            if state == STARTED:
                self.pids[key] = info
                if self.injector is not None:
                    self.injector.started(key)
                continue
            if state != FleetStatus.RUNNING:
                if key not in self.in_flight:
                    continue  # already reported as preempted, or revoked
                self._forget(key)
            out.append(FleetReport(key, state, info))
        out.extend(self._inject_preemptions())
        self._replace_dead_workers()
        return out

    def _forget(self, key: Any) -> None:
        self.in_flight.discard(key)
        self._gen.pop(key, None)
        self.pids.pop(key, None)
        if self.injector is not None:
            self.injector.finished(key)

    def _inject_preemptions(self) -> list[FleetReport]:
        if self.injector is None or not self.injector.enabled:
            return []
        out = []
        for key in list(self.pids):
            if self.injector.due(key):
                self.preempt(key)
                out.append(FleetReport(key, FleetStatus.PREEMPTED, f"spot capacity lost on fleet {self.spec.name}"))
        return out

    def preempt(self, key: Any) -> None:
        """Take the capacity away: kill the worker running ``key`` and every process it started."""
        pid = self.pids.get(key)
        with self._lock:
            self._dispatched.discard((key, self._gen.get(key, 0)))  # its worker dies; a replacement takes the next
        self._forget(key)
        if pid is None:
            return
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError) as exc:
            log.warning("fleet %s: could not kill worker %s of %s: %s", self.spec.name, pid, key, exc)

    def revoke(self, key: Any) -> None:
        """Take ``key`` back (the executor's ``revoke_task``): out of the prefetch buffer, or its worker
        killed when one had it; reported by nobody."""
        with self._lock:
            held = len(self._waiting)
            self._waiting = deque((w, since) for w, since in self._waiting if w.key != key)
            dispatched = len(self._waiting) == held and (key, self._gen.get(key, 0)) in self._dispatched
        if dispatched:
            self.preempt(key)  # kills its worker when it started; the replacement takes the next one
        else:
            self._forget(key)

    def _replace_dead_workers(self) -> None:
        alive = [p for p in self.workers if p.is_alive()]
        if len(alive) < min(len(self.workers), self.capacity) and self.inbox is not None:
            log.warning("fleet %s: %d worker(s) died; starting replacements", self.spec.name,
                        self.capacity - len(alive))
            env = self.spec.environment()
            for _ in range(self.capacity - len(alive)):
                alive.append(self._spawn(env))
        self.workers = alive
        with self._lock:
            self._dispatch()

    def debug_state(self) -> dict[str, Any]:
        with self._lock:
            return {"workers": len(self.workers), "alive": sum(p.is_alive() for p in self.workers),
                    "in_flight": len(self.in_flight), "dispatched": len(self._dispatched),
                    "buffered": len(self._waiting), "free_slots": self.free_slots()}

    def end(self) -> None:
        if self.inbox is None:
            return
        for _ in self.workers:
            self.inbox.put(None)
        for p in self.workers:
            p.join()
        self.workers = []

    def terminate(self) -> None:
        for p in self.workers:
            if p.is_alive():
                p.terminate()
        for p in self.workers:
            p.join(timeout=5)
        self.workers = []
