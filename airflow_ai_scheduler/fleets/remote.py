"""What the cloud backends (``kubernetes``, ``ecs``, ``batch``, ``edge``) share: option parsing with errors
naming the fleet and the field, the cost-attribution labels every pod/task/job carries, the task's resource
hint, and :class:`RemoteFleet` — one background thread per fleet that launches, polls and cancels, so
``submit``/``poll`` only touch in-process queues (the shape of :mod:`.celery`).

A subclass implements four calls, all run on the fleet's thread: :meth:`RemoteFleet._launch` (hand a workload
to the cloud, return its id there), :meth:`RemoteFleet._observe` (the verdict for each launched workload),
:meth:`RemoteFleet._find` (the cloud id of an adopted workload, by the external id a previous scheduler
stored) and :meth:`RemoteFleet._cancel`.

External ids are ``ai-scheduler/<fleet>/<uuid>`` (:meth:`FleetBackend.new_external_id`), stored on the task
instance *before* the launch and written into the launched object (ECS ``startedBy``, Batch job name, pod
name, Edge job row), so a scheduler killed between the two leaves something its successor finds and adopts
instead of running the task a second time.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from airflow_ai_scheduler.exceptions import ConfigError
from airflow_ai_scheduler.fleets.base import (
    EXTERNAL_ID_PREFIX,
    FleetBackend,
    FleetContext,
    FleetReport,
    FleetSpec,
)
from airflow_ai_scheduler.fleets.base import FleetStatus as S

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)

#: the attribution fields every pod / ECS task / Batch job carries, in this order
ATTRIBUTION_FIELDS = ("dag", "task", "run", "try", "map-index", "fleet", "tier")


def parse_options(spec: FleetSpec, model: type[M], backend: str, defaults: Mapping[str, Any] | None = None) -> M:
    """``spec.options`` as ``model``; ConfigError names the fleet, the backend and each bad option."""
    try:
        return model.model_validate({**(defaults or {}), **spec.options})
    except ValidationError as exc:
        problems = []
        for e in exc.errors(include_url=False):
            where = ".".join(str(p) for p in e["loc"]) or "options"
            msg = f"not an option of the {backend} backend" if e["type"] == "extra_forbidden" else e["msg"]
            problems.append(f"options.{where}: {msg}")
        raise ConfigError(f"[ai_scheduler] fleet {spec.name!r} (backend {backend}): " + "; ".join(problems)) from None


def attribution(workload: Any, spec: FleetSpec) -> dict[str, str]:
    """Who a pod/task/job is for — DAG, task, run, try, map index (mapped tasks), fleet, tier — so a cloud bill split by
    these labels can be joined with the history table (dag_id, task_id, run_id, try_number, fleet)."""
    ti = getattr(workload, "ti", None)
    out = {"fleet": spec.name, "tier": spec.tier}
    if ti is not None:
        out = {"dag": ti.dag_id, "task": ti.task_id, "run": ti.run_id, "try": str(ti.try_number), **out}
        if ti.map_index >= 0:  # mapped tasks only ("-1" is not a valid Kubernetes label value)
            out["map-index"] = str(ti.map_index)
    return {k: out[k] for k in ATTRIBUTION_FIELDS if k in out}


def aws_tags(workload: Any, spec: FleetSpec, prefix: str = "ai-scheduler:") -> dict[str, str]:
    """:func:`attribution` as AWS tags (key ``ai-scheduler:<field>``; values cut to AWS's 256 characters and
    its allowed set: letters, digits, spaces and ``_ . : / = + - @``)."""
    return {f"{prefix}{k}": re.sub(r"[^\w .:/=+\-@]", "_", v)[:256] for k, v in attribution(workload, spec).items()}


def task_resources(workload: Any) -> Any:
    """The task's ``resources`` hint (:class:`airflow_ai_scheduler.models.Resources`) or None."""
    ti = getattr(workload, "ti", None)
    config = getattr(ti, "executor_config", None)
    if not config:
        return None
    from airflow_ai_scheduler.airflow.hints import parse_hint

    try:
        hint = parse_hint(config, dag_id=ti.dag_id, task_id=ti.task_id)
    except Exception:  # a bad hint failed the DAG's import already; never fail a launch on it
        return None
    return hint.resources if hint is not None else None


def workload_command(workload: Any) -> list[str]:
    """The container command that runs a workload (what the ECS/Batch/Kubernetes executors ship)."""
    return ["python", "-m", "airflow.sdk.execution_time.execute_workload", "--json-string", workload.model_dump_json()]


def short_id(external_id: str) -> str:
    """The uuid part of ``ai-scheduler/<fleet>/<uuid>``."""
    return external_id.rsplit("/", 1)[-1]


@dataclass
class Launched:
    """A workload this fleet launched (or adopted: ``workload`` None), owned by the fleet's thread."""

    key: Any
    workload: Any
    external_id: str  #: ai-scheduler/<fleet>/<uuid>: on the TI, and in the cloud object
    cloud_id: str | None = None  #: the ECS task ARN, Batch job id, pod name, Edge job key (None: not launched)
    attempts: int = 0
    next_attempt: float = 0.0
    started: bool = False
    since: float = field(default_factory=time.monotonic)
    detail: dict[str, Any] = field(default_factory=dict)  #: backend-specific (e.g. the Edge worker's name)


@dataclass(frozen=True)
class Verdict:
    status: S | None  #: None: nothing new (still queued)
    info: Any = None


_STOP = object()


class RemoteFleet(FleetBackend):
    """A fleet run by a remote system; all its I/O on one background thread."""

    adoptable = True
    backend_name = "remote"
    #: attempts after a failed launch (backoff 1, 2, 4 ... s) before the workload is reported failed
    launch_retries = 3

    def __init__(self, spec: FleetSpec, context: FleetContext | None = None) -> None:
        super().__init__(spec, context)
        self.poll_interval = 2.0
        self.in_flight: set[Any] = set()
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._reports: queue.SimpleQueue[FleetReport] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._tracked: dict[str, Launched] = {}  # external id → launched (fleet thread only)
        self._pending_lock = threading.Lock()
        self._pending: dict[Any, tuple[Any, float]] = {}  # key → (workload, since): not yet accepted by the cloud

    # -- subclass hooks (fleet thread) ------------------------------------------------------------------
    def _connect(self) -> None:  # noqa: B027 - optional: build clients (called by start, on the caller's thread)
        """Build clients; a ConfigError here fails the executor's start."""

    @abstractmethod
    def _launch(self, item: Launched) -> str:
        """Hand ``item.workload`` to the remote system; return its id there. Raise to retry with backoff."""

    @abstractmethod
    def _observe(self, items: list[Launched]) -> dict[str, Verdict]:
        """External id → verdict for each launched item (missing: nothing new)."""

    @abstractmethod
    def _find(self, item: Launched) -> str | None:
        """The remote id of an adopted item (by ``item.external_id``), or None when it is not there."""

    def _cancel(self, item: Launched) -> None:  # noqa: B027 - optional
        """Stop a launched item (revoke); best effort."""

    def _launch_failed(self, item: Launched, exc: Exception) -> Verdict | None:
        """A launch attempt raised: a final verdict (e.g. PREEMPTED for 'no spot capacity'), or None to retry."""
        return None

    def _tick(self) -> None:  # noqa: B027 - optional
        """Extra periodic work on the fleet thread (after each observe)."""

    # -- the executor's calls (scheduler loop) -------------------------------------------------------
    def start(self) -> None:
        self._connect()
        self._thread = threading.Thread(target=self._run, name=f"ai-scheduler-{self.backend_name}-{self.spec.name}",
                                        daemon=True)
        self._thread.start()

    def free_slots(self) -> int:
        return self.spec.slots - len(self.in_flight)

    def submit(self, workload: Any) -> None:
        if self._thread is None:
            raise RuntimeError(f"fleet {self.spec.name!r} not started")
        self.in_flight.add(workload.key)
        with self._pending_lock:
            self._pending[workload.key] = (workload, time.monotonic())
        self._inbox.put(Launched(workload.key, workload, self.new_external_id()))

    def adopt(self, key: Any, external_id: str) -> bool:
        if self._thread is None:
            raise RuntimeError(f"fleet {self.spec.name!r} not started")
        self.in_flight.add(key)
        self._inbox.put(Launched(key, None, external_id, attempts=-1))  # attempts -1: look it up, never launch
        return True

    def revoke(self, key: Any) -> None:
        self.in_flight.discard(key)
        with self._pending_lock:
            self._pending.pop(key, None)
        self._inbox.put(("revoke", key))

    def waiting(self) -> list[tuple[Any, float]]:
        with self._pending_lock:
            return list(self._pending.values())

    def poll(self) -> list[FleetReport]:
        out = []
        while True:
            try:
                report = self._reports.get_nowait()
            except queue.Empty:
                break
            if report.status.finished:
                self.in_flight.discard(report.key)
            out.append(report)
        return out

    def debug_state(self) -> dict[str, Any]:
        return {"backend": self.backend_name, "in_flight": len(self.in_flight), "free_slots": self.free_slots(),
                "waiting": len(self.waiting())}

    def end(self) -> None:
        """Stop launching and polling; what runs remotely keeps running (a successor adopts it)."""
        self._stop(30)

    def terminate(self) -> None:
        self._stop(5)

    def _stop(self, timeout: float) -> None:
        if self._thread is not None:
            self._inbox.put(_STOP)
            self._thread.join(timeout=timeout)
            self._thread = None

    # -- the fleet thread --------------------------------------------------------------------------------
    def _run(self) -> None:
        next_poll = time.monotonic()
        while True:
            now = time.monotonic()
            waits = [next_poll] + [t.next_attempt for t in self._tracked.values() if t.cloud_id is None]
            try:
                item = self._inbox.get(timeout=max(0.0, min(waits) - now))
            except queue.Empty:
                item = None
            if item is _STOP:
                return
            try:
                if isinstance(item, tuple) and item[0] == "revoke":
                    self._take_back(item[1])
                elif isinstance(item, Launched):
                    self._tracked[item.external_id] = item
                self._launch_due()
                if time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + self.poll_interval
                    self._refresh()
                    self._tick()
            except Exception:  # an API hiccup must not end the thread
                log.exception("fleet %s: %s launch/poll failed; retrying", self.spec.name, self.backend_name)

    def _take_back(self, key: Any) -> None:
        for t in [t for t in self._tracked.values() if t.key == key]:
            del self._tracked[t.external_id]
            if t.cloud_id is not None:
                try:
                    self._cancel(t)
                except Exception as exc:
                    log.warning("fleet %s: could not cancel %s (%s): %s", self.spec.name, key, t.cloud_id, exc)
            log.warning("fleet %s: %s revoked (%s)", self.spec.name, key, t.cloud_id or "never launched")

    def _launch_due(self) -> None:
        now = time.monotonic()
        for t in [t for t in self._tracked.values() if t.cloud_id is None and t.next_attempt <= now]:
            if t.attempts < 0:  # adopted: find it, never launch it again
                self._adopt(t)
                continue
            record = self.context.record_external_id
            if record is not None and t.attempts == 0:
                try:
                    record(t.workload, t.external_id)
                except Exception as exc:  # stored again from the QUEUED report, one loop later
                    log.warning("fleet %s: could not store %s on %s before launching: %s", self.spec.name,
                                t.external_id, t.key, exc)
            try:
                t.workload = self.context.mint(t.workload)  # it may have waited: a fresh token
            except Exception:
                log.warning("fleet %s: could not refresh the token of %s", self.spec.name, t.key, exc_info=True)
            try:
                t.cloud_id = self._launch(t)
            except Exception as exc:
                t.attempts += 1
                final = self._launch_failed(t, exc)
                if final is None and t.attempts <= self.launch_retries:
                    t.next_attempt = now + 2.0 ** (t.attempts - 1)
                    log.warning("fleet %s: launching %s failed (attempt %d of %d): %s", self.spec.name, t.key,
                                t.attempts, self.launch_retries + 1, exc)
                    continue
                del self._tracked[t.external_id]
                self._done_pending(t)
                self._report(t, final or Verdict(S.FAILED, f"fleet {self.spec.name}: cannot launch: {exc}"))
                continue
            self._done_pending(t)
            self._report(t, Verdict(S.QUEUED, t.external_id))

    def _adopt(self, t: Launched) -> None:
        try:
            t.cloud_id = self._find(t)
        except Exception as exc:
            t.next_attempt = time.monotonic() + self.poll_interval
            log.warning("fleet %s: looking up adopted %s failed: %s", self.spec.name, t.external_id, exc)
            return
        if t.cloud_id is None:
            del self._tracked[t.external_id]
            self._report(t, Verdict(S.FAILED, f"{t.external_id} is not known to {self.backend_name} any more"))
        else:
            log.info("fleet %s: adopted %s (%s)", self.spec.name, t.key, t.cloud_id)

    def _done_pending(self, t: Launched) -> None:
        with self._pending_lock:
            self._pending.pop(t.key, None)

    def _refresh(self) -> None:
        launched = [t for t in self._tracked.values() if t.cloud_id is not None]
        if not launched:
            return
        verdicts = self._observe(launched)
        for t in launched:
            v = verdicts.get(t.external_id)
            if v is None or v.status is None or v.status is S.QUEUED:
                continue
            if v.status is S.RUNNING:
                if not t.started:
                    t.started = True
                    self._report(t, Verdict(S.RUNNING, t.external_id))
                continue
            del self._tracked[t.external_id]
            self._report(t, v)

    def _report(self, t: Launched, v: Verdict) -> None:
        assert v.status is not None
        if v.status in (S.PREEMPTED, S.FAILED):
            log.warning("fleet %s: %s (%s) %s: %s", self.spec.name, t.key, t.cloud_id, v.status.value, v.info)
        self._reports.put(FleetReport(t.key, v.status, v.info))

    def lost(self, why: str) -> Verdict:
        """Capacity taken away: PREEMPTED on a spot fleet, a plain failure on an on-demand one."""
        return Verdict(S.PREEMPTED if self.spec.tier == "spot" else S.FAILED, why)


def is_ours(external_id: str | None) -> bool:
    return bool(external_id and external_id.startswith(EXTERNAL_ID_PREFIX))
