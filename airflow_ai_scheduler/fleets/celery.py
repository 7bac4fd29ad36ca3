"""The ``celery`` backend: a fleet whose workloads go to one Celery queue, run by ordinary Airflow Celery workers.

A platform team maps fleets to worker pools by queue: workers on spot machines consume the spot
fleet's queue, on-demand workers another::

    {"name": "spot-celery", "provider": "aws", "region": "us-east-1", "instance_type": "m6i.xlarge",
     "tier": "spot", "slots": 8, "backend": "celery", "options": {"queue": "spot-q"}}

    # on each spot machine (AI_SCHEDULER_* = what FleetSpec.environment() gives, see worker_environment):
    AI_SCHEDULER_FLEET=spot-celery AI_SCHEDULER_TIER=spot ... airflow celery worker --queues spot-q

Nothing new travels on the wire: the fleet publishes the workload JSON to the celery provider's own
``execute_workload`` task, on the app built from ``[celery]`` (``broker_url``, ``result_backend``, ...)
exactly as CeleryExecutor does, and reads task states from the result backend as CeleryExecutor's
``BulkStateFetcher`` does (one ``mget`` on key-value backends). Publishing and polling happen on one
background thread per fleet, so ``submit``/``poll`` never block the scheduler loop on the broker.

Options (``options`` of the fleet):

* ``queue`` — the Celery queue (default: the fleet name). ``slots`` should equal the total
  ``--concurrency`` of the workers on that queue: the executor sends no more than that at once.
* ``poll_interval_seconds`` (default 1) — how often task states are read from the result backend.
* ``worker_lost_after_seconds`` (default 60; 0 = off) — a worker holding a started task that answers
  no ``ping`` for this long is declared lost, with its tasks. Needs ``[celery]
  worker_enable_remote_control`` (the default); off when that is off.
* ``check_workers_seconds`` (default 300; 0 = off) — how often the fleet compares ``slots`` with the
  concurrency of the workers consuming its queue (``inspect active_queues`` and ``stats``) and logs a
  warning when they differ: more slots than worker processes means tasks wait in the queue, fewer means
  workers stand idle. ``airflow ai-scheduler fleets --check`` shows the same.
* ``publish_retries`` (default 3) — attempts after a failed publish (backoff 1, 2, 4 ... s) before the
  workload is reported failed.

**Environment.** The stock ``execute_workload`` task runs the workload in the *worker's* environment
and takes nothing but the workload JSON, so the fleet cannot inject ``AI_SCHEDULER_FLEET`` & co. into
it. The worker must be started with them (:func:`worker_environment`, :func:`worker_command`): the
machine is what is spot or on-demand, so it is the honest place to say so.

**Preemption** (spot fleets only; on an on-demand fleet the same events are plain failures):

* the pool process running the task is killed (SIGKILL from a spot-interruption handler, the kernel,
  a reclaimed container) while the worker survives: Celery records ``FAILURE`` with
  ``WorkerLostError`` → reported PREEMPTED;
* the whole worker vanishes (the machine is reclaimed): nothing is recorded and the task stays
  ``STARTED``; its worker (the ``hostname`` Celery stores with ``STARTED``) stops answering pings for
  ``worker_lost_after_seconds`` → PREEMPTED, and the Celery task id is revoked so a redelivery of the
  unacknowledged message (after the broker's visibility timeout) is dropped by live workers.

Not detected: a task lost before it reached ``STARTED`` (it stays ``PENDING`` until Airflow's
``task_queued_timeout``); ``REVOKED`` is treated as a failure, as CeleryExecutor does, because a
revoke is a deliberate cancel rather than lost capacity. A task the OOM killer ends also looks like
``WorkerLostError`` and is therefore counted as a preemption on a spot fleet (bounded by
``[ai_scheduler] preemption_retries``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from airflow_ai_scheduler.exceptions import ConfigError
from airflow_ai_scheduler.fleets.base import (
    EXTERNAL_ID_PREFIX,
    FleetBackend,
    FleetContext,
    FleetReport,
    FleetSpec,
    FleetStatus,
)

log = logging.getLogger(__name__)

#: the provider's Celery task that runs a workload on a worker
CELERY_TASK = "execute_workload"
#: Celery task ids this backend mints: ``ai-scheduler/<fleet>/<uuid>`` (FleetBackend.new_external_id)
TASK_ID_PREFIX = EXTERNAL_ID_PREFIX
_QUEUE_PATTERN = r"^[A-Za-z0-9_.:@-]+$"  # no commas or spaces: `--queues a,b` splits on commas


class CeleryFleetOptions(BaseModel):
    """The ``options`` of a ``celery`` fleet (validated at executor start; errors name the fleet)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    queue: str = Field(min_length=1, max_length=200, pattern=_QUEUE_PATTERN)
    poll_interval_seconds: float = Field(1.0, gt=0, le=300)
    worker_lost_after_seconds: float = Field(60.0, ge=0)
    publish_retries: int = Field(3, ge=0, le=20)
    check_workers_seconds: float = Field(300.0, ge=0)


def celery_options(spec: FleetSpec) -> CeleryFleetOptions:
    """The fleet's options with ``queue`` defaulting to the fleet name; ConfigError names fleet and field."""
    raw = {"queue": spec.name, **spec.options}
    try:
        return CeleryFleetOptions.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for e in exc.errors(include_url=False):
            where = ".".join(str(p) for p in e["loc"]) or "options"
            msg = "not an option of the celery backend" if e["type"] == "extra_forbidden" else e["msg"]
            problems.append(f"options.{where}: {msg}")
        raise ConfigError(f"[ai_scheduler] fleet {spec.name!r} (backend celery): " + "; ".join(problems)) from None


def worker_environment(spec: FleetSpec) -> dict[str, str]:
    """What to export before starting the fleet's workers, so tasks see where they run."""
    return spec.environment()


def worker_command(spec: FleetSpec, concurrency: int | None = None) -> list[str]:
    """``airflow celery worker`` consuming the fleet's queue (concurrency: default the fleet's slots)."""
    opts = celery_options(spec)
    return ["airflow", "celery", "worker", "--queues", opts.queue, "--concurrency", str(concurrency or spec.slots)]


def queue_concurrency(app: Any, queue_name: str, timeout: float = 2.0) -> dict[str, int]:
    """Worker → how many tasks it runs at once (its pool's max-concurrency), for the live workers that
    consume ``queue_name``; {} when none answers (or remote control is off). Two broadcast round-trips."""
    inspect = app.control.inspect(timeout=timeout)
    queues = inspect.active_queues() or {}
    workers = sorted(w for w, qs in queues.items() if any(q.get("name") == queue_name for q in qs or []))
    if not workers:
        return {}
    stats = app.control.inspect(destination=workers, timeout=timeout).stats() or {}
    out = {}
    for w in workers:
        pool = (stats.get(w) or {}).get("pool") or {}
        n = pool.get("max-concurrency")
        out[w] = int(n) if isinstance(n, int) else 0
    return out


def classify(status: str, result: Any, tier: str) -> FleetStatus | None:
    """Map a Celery task state to what the fleet reports (RUNNING for STARTED), or None (wait)."""
    if status == "SUCCESS":
        return FleetStatus.SUCCESS
    if status == "FAILURE":
        lost = type(result).__name__ == "WorkerLostError"
        return FleetStatus.PREEMPTED if lost and tier == "spot" else FleetStatus.FAILED
    if status == "REVOKED":
        return FleetStatus.FAILED
    if status == "STARTED":
        return FleetStatus.RUNNING
    return None  # PENDING, RECEIVED, RETRY: not running yet


@dataclass
class _Tracked:
    """A workload handed to Celery (or a task adopted from a previous scheduler, ``workload`` None);
    owned by the fleet's background thread."""

    key: Any
    workload: Any
    task_id: str
    payload: str
    attempts: int = 0
    next_attempt: float = 0.0
    published: bool = False
    started: bool = False
    id_recorded: bool = False
    hostname: str | None = None
    last_seen: float = field(default_factory=time.monotonic)


_STOP = object()


@dataclass(frozen=True)
class _Revoke:
    key: Any


class CeleryFleet(FleetBackend):
    """Workloads of one fleet on one Celery queue. ``submit``/``poll`` only touch in-process queues."""

    adoptable = True

    @classmethod
    def validate_options(cls, spec: FleetSpec) -> None:
        celery_options(spec)

    def __init__(self, spec: FleetSpec, context: FleetContext | None = None) -> None:
        # the context's ``server`` (the scheduler's Execution API URL) is not sent: workers use their own
        # ``[core] execution_api_server_url``, as with CeleryExecutor.
        super().__init__(spec, context)
        self.options = celery_options(spec)
        self.queue = self.options.queue
        self.in_flight: set[Any] = set()
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._reports: queue.SimpleQueue[FleetReport] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._app: Any = None
        self._tracked: dict[str, _Tracked] = {}  # celery task id → workload (background thread only)
        self._last_ping = 0.0
        self._next_check = 0.0
        self.concurrency: dict[str, int] | None = None  # worker → max-concurrency, at the last check

    # -- the executor's calls (scheduler loop) -----------------------------------------------------
    def start(self) -> None:
        self._app = self._make_app()
        if self.options.worker_lost_after_seconds and not self._app.conf.worker_enable_remote_control:
            # without remote control no worker answers a ping: every started task would look lost
            log.warning("fleet %s: [celery] worker_enable_remote_control is off; lost workers are not detected",
                        self.spec.name)
            self.options = self.options.model_copy(update={"worker_lost_after_seconds": 0.0})
        self._thread = threading.Thread(target=self._run, name=f"ai-scheduler-celery-{self.spec.name}", daemon=True)
        self._thread.start()
        log.info("fleet %s: Celery queue %r", self.spec.name, self.queue)

    def _make_app(self) -> Any:
        try:
            from airflow.providers.celery.executors.celery_executor_utils import create_celery_app
        except ImportError as exc:
            raise ConfigError(f"[ai_scheduler] fleet {self.spec.name!r}: backend celery needs "
                              f"apache-airflow-providers-celery (extra 'celery'): {exc}") from None
        try:
            from airflow.executors.base_executor import ExecutorConf

            team_conf: Any = ExecutorConf(None)
        except ImportError:  # pragma: no cover - Airflow < 3.2
            from airflow.configuration import conf as team_conf
        try:
            return create_celery_app(team_conf)
        except Exception as exc:
            raise ConfigError(f"[ai_scheduler] fleet {self.spec.name!r}: cannot build the Celery app from "
                              f"[celery]: {exc}") from exc

    def free_slots(self) -> int:
        return self.spec.slots - len(self.in_flight)

    def submit(self, workload: Any) -> None:
        if self._thread is None:
            raise RuntimeError(f"fleet {self.spec.name!r} not started")
        self.in_flight.add(workload.key)
        self._inbox.put(_Tracked(workload.key, workload, self.new_external_id(), workload.model_dump_json()))

    def adopt(self, key: Any, external_id: str) -> bool:
        """Track a task a previous scheduler published (its TI's ``external_executor_id``): it may still be
        queued, running on a worker or finished; its state is read from the result backend as for any other."""
        if self._thread is None:
            raise RuntimeError(f"fleet {self.spec.name!r} not started")
        self.in_flight.add(key)
        self._inbox.put(_Tracked(key, None, external_id, "", published=True))
        return True

    def revoke(self, key: Any) -> None:
        """Take ``key`` back (the executor's ``revoke_task``, for a task stuck in QUEUED): no longer tracked
        or reported, and its Celery task revoked, so a worker that receives the message later drops it.
        As with CeleryExecutor, a revoke reaches only the workers alive when it is broadcast."""
        self.in_flight.discard(key)
        self._inbox.put(_Revoke(key))

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
        return {"queue": self.queue, "in_flight": len(self.in_flight), "free_slots": self.free_slots(),
                "workers": self.concurrency}

    def end(self) -> None:
        """Stop publishing and polling; tasks already on workers keep running there (as CeleryExecutor)."""
        if self._thread is not None:
            self._inbox.put(_STOP)
            self._thread.join(timeout=30)
            self._thread = None

    def terminate(self) -> None:
        if self._thread is not None:
            self._inbox.put(_STOP)
            self._thread.join(timeout=5)
            self._thread = None

    # -- the background thread ---------------------------------------------------------------------
    def _run(self) -> None:
        next_poll = time.monotonic()
        while True:
            now = time.monotonic()
            waits = [next_poll] + [t.next_attempt for t in self._tracked.values() if not t.published]
            try:
                item = self._inbox.get(timeout=max(0.0, min(waits) - now))
            except queue.Empty:
                item = None
            if item is _STOP:
                return
            try:
                if isinstance(item, _Revoke):
                    self._take_back(item.key)
                elif item is not None:
                    self._tracked[item.task_id] = item
                self._publish_due()
                if time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + self.options.poll_interval_seconds
                    self._fetch_states()
                    self._check_workers()
                    self._check_concurrency()
            except Exception:  # a broker or backend hiccup must not end the thread
                log.exception("fleet %s: Celery publish/poll failed; retrying", self.spec.name)

    def _take_back(self, key: Any) -> None:
        for t in [t for t in self._tracked.values() if t.key == key]:
            del self._tracked[t.task_id]
            if t.published:
                self._revoke(t.task_id)
            log.warning("fleet %s: %s revoked (Celery task %s)", self.spec.name, key, t.task_id)

    def _publish_due(self) -> None:
        now = time.monotonic()
        for t in [t for t in self._tracked.values() if not t.published and t.next_attempt <= now]:
            record = self.context.record_external_id
            if record is not None and t.workload is not None and not t.id_recorded:
                t.id_recorded = True  # once: a failure leaves only the (one-loop) window this closes
                try:
                    record(t.workload, t.task_id)
                except Exception as exc:
                    log.warning("fleet %s: could not store Celery task id %s on %s before publishing: %s",
                                self.spec.name, t.task_id, t.key, exc)
            try:
                self._app.tasks[CELERY_TASK].apply_async(args=(t.payload,), queue=self.queue, task_id=t.task_id)
                t.published, t.last_seen = True, time.monotonic()
                # Airflow stores a QUEUED event's info as the TI's external_executor_id: what adoption reads
                self._report(t, FleetStatus.QUEUED, t.task_id)
            except Exception as exc:
                t.attempts += 1
                if t.attempts > self.options.publish_retries:
                    del self._tracked[t.task_id]
                    self._report(t, FleetStatus.FAILED,
                                 f"fleet {self.spec.name}: cannot publish to Celery queue {self.queue!r}: {exc}")
                else:
                    t.next_attempt = now + 2.0 ** (t.attempts - 1)
                    log.warning("fleet %s: publishing %s failed (attempt %d of %d): %s", self.spec.name, t.key,
                                t.attempts, self.options.publish_retries + 1, exc)

    def _fetch_states(self) -> None:
        published = [t for t in self._tracked.values() if t.published]
        if not published:
            return
        for t, meta in zip(published, self._metas([t.task_id for t in published]), strict=True):
            verdict = classify(meta.get("status", "PENDING"), meta.get("result"), self.spec.tier)
            if verdict is None:
                continue
            if verdict == FleetStatus.RUNNING:
                if not t.started:
                    t.started, t.last_seen = True, time.monotonic()
                    result = meta.get("result")
                    t.hostname = result.get("hostname") if isinstance(result, dict) else None
                    self._report(t, FleetStatus.RUNNING, t.task_id)
                continue
            del self._tracked[t.task_id]
            if verdict == FleetStatus.SUCCESS:
                self._report(t, FleetStatus.SUCCESS, None)
            elif verdict == FleetStatus.PREEMPTED:
                self._report(t, FleetStatus.PREEMPTED, f"Celery worker lost the task on spot fleet "
                                                       f"{self.spec.name}: {meta.get('result')!r}")
            else:
                self._report(t, FleetStatus.FAILED, f"{meta.get('status')}: {meta.get('result')!r}")

    def _metas(self, task_ids: list[str]) -> list[dict[str, Any]]:
        """Result-backend metadata per task id, in order (one mget on key-value backends)."""
        from celery.backends.base import BaseKeyValueStoreBackend

        backend = self._app.backend
        if not isinstance(backend, BaseKeyValueStoreBackend):
            return [backend.get_task_meta(tid) for tid in task_ids]
        values = backend.mget([backend.get_key_for_task(tid) for tid in task_ids])
        return [self._decode(backend, v) if v else {"status": "PENDING"} for v in values]

    def _decode(self, backend: Any, value: Any) -> dict[str, Any]:
        try:
            return dict(backend.decode_result(value))
        except Exception as exc:  # e.g. an exception type the scheduler cannot import: one bad row, not all
            return {"status": "FAILURE", "result": RuntimeError(f"undecodable Celery result: {exc}")}

    def _check_workers(self) -> None:
        """Declare the tasks of a worker that stopped answering pings lost."""
        limit = self.options.worker_lost_after_seconds
        now = time.monotonic()
        holders = {t.hostname for t in self._tracked.values() if t.started and t.hostname}
        if not limit or not holders or now - self._last_ping < min(10.0, limit / 3):
            return
        self._last_ping = now
        replies = self._app.control.ping(destination=sorted(holders), timeout=1.0) or []
        alive = {name for reply in replies for name in reply}
        for t in list(self._tracked.values()):
            if not t.started or t.hostname is None:
                continue
            if t.hostname in alive:
                t.last_seen = now
            elif now - t.last_seen > limit:
                del self._tracked[t.task_id]
                self._revoke(t.task_id)
                info = f"Celery worker {t.hostname} silent for {now - t.last_seen:.0f} s on fleet {self.spec.name}"
                self._report(t, FleetStatus.PREEMPTED if self.spec.tier == "spot" else FleetStatus.FAILED, info)

    def _check_concurrency(self) -> None:
        """Warn when ``slots`` and the concurrency of the queue's workers disagree (and when it changes)."""
        every = self.options.check_workers_seconds
        now = time.monotonic()
        if not every or now < self._next_check or not self._app.conf.worker_enable_remote_control:
            return
        found = queue_concurrency(self._app, self.queue)
        self._next_check = now + (every if found else min(every, 30.0))  # workers often start after us
        if found == self.concurrency:
            return
        self.concurrency = found
        total = sum(found.values())
        if not found:
            log.warning("fleet %s: no live Celery worker consumes queue %r; its tasks wait in the queue",
                        self.spec.name, self.queue)
        elif total != self.spec.slots:
            log.warning("fleet %s: slots %d, but the %d worker(s) on queue %r run %d task(s) at once (%s): %s",
                        self.spec.name, self.spec.slots, len(found), self.queue, total,
                        ", ".join(f"{w}={n}" for w, n in found.items()),
                        "tasks beyond that wait in the queue" if total < self.spec.slots else
                        "set slots to match, or workers stand idle")
        else:
            log.info("fleet %s: %d worker(s) on queue %r match slots %d", self.spec.name, len(found), self.queue,
                     total)

    def _revoke(self, task_id: str) -> None:
        try:
            self._app.control.revoke(task_id)
        except Exception as exc:  # best effort: the message may be redelivered after the visibility timeout
            log.warning("fleet %s: could not revoke Celery task %s: %s", self.spec.name, task_id, exc)

    def _report(self, t: _Tracked, status: FleetStatus, info: Any) -> None:
        if status in (FleetStatus.PREEMPTED, FleetStatus.FAILED):
            log.warning("fleet %s: %s (Celery task %s) %s: %s", self.spec.name, t.key, t.task_id, status.value,
                        info)
        self._reports.put(FleetReport(t.key, status, info))

