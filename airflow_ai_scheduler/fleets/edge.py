"""The ``edge`` backend: a fleet is an Edge worker queue — remote workers (``airflow edge worker``) that pull
their tasks over HTTP from the api-server's Edge API, with no broker and no database access::

    {"name": "edge-spot", "provider": "aws", "region": "us-east-1", "instance_type": "m6i.xlarge",
     "tier": "spot", "slots": 8, "backend": "edge", "options": {"queue": "spot"}}

    # on each spot machine (airflow.cfg: [edge] api_enabled on the api-server, [edge] api_url on the worker)
    AI_SCHEDULER_FLEET=edge-spot AI_SCHEDULER_TIER=spot ... airflow edge worker --queues spot --concurrency 8

The fleet drives one edge3 ``EdgeExecutor`` of its own, from its background thread: ``queue_workload``
writes the Edge job row (the task instance's ``queue`` replaced by the fleet's), ``sync`` reads job states
back, purges old rows and marks silent workers, ``revoke_task`` deletes a job. Its events become the fleet's
reports. What EdgeExecutor does not do is notice that a worker died with its task: the job row and the
task instance stay ``running`` until the task-instance heartbeat timeout fails the task. So the fleet also
watches the heartbeat of the worker holding each running job (``edge_worker.last_update``); silent for
``worker_lost_after_seconds`` = the machine is gone: PREEMPTED on a spot fleet, FAILED on an on-demand one.

As with Celery, the worker runs the task in *its* environment: start it with the fleet's ``AI_SCHEDULER_*``
variables (:func:`worker_environment`, :func:`worker_command`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from airflow_ai_scheduler.exceptions import ConfigError
from airflow_ai_scheduler.fleets.base import FleetContext, FleetSpec
from airflow_ai_scheduler.fleets.base import FleetStatus as S
from airflow_ai_scheduler.fleets.remote import Launched, RemoteFleet, Verdict, parse_options

log = logging.getLogger(__name__)


class EdgeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    queue: str = Field(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9_.:@-]+$")
    worker_lost_after_seconds: float | None = Field(None, gt=0, description="default: 3 × [edge] heartbeat_interval")
    poll_interval_seconds: float = Field(2.0, gt=0, le=300)


def edge_options(spec: FleetSpec) -> EdgeOptions:
    return parse_options(spec, EdgeOptions, "edge", defaults={"queue": spec.name})


def worker_environment(spec: FleetSpec) -> dict[str, str]:
    return spec.environment()


def worker_command(spec: FleetSpec, concurrency: int | None = None) -> list[str]:
    return ["airflow", "edge", "worker", "--queues", edge_options(spec).queue,
            "--concurrency", str(concurrency or spec.slots)]


def _coords(key: Any) -> tuple[str, str, str, int, int]:
    return (key.dag_id, key.task_id, key.run_id, key.map_index, key.try_number)


class EdgeFleet(RemoteFleet):
    backend_name = "edge"

    @classmethod
    def validate_options(cls, spec: FleetSpec) -> None:
        edge_options(spec)

    def __init__(self, spec: FleetSpec, context: FleetContext | None = None) -> None:
        super().__init__(spec, context)
        self.options = edge_options(spec)
        self.queue = self.options.queue
        self.poll_interval = self.options.poll_interval_seconds
        self.lost_after = self.options.worker_lost_after_seconds or 90.0
        self.inner: Any = None  # the edge3 EdgeExecutor this fleet drives
        self._keys: dict[tuple, Any] = {}  # coordinates → our key (fleet thread)

    def _connect(self) -> None:
        try:
            from airflow.providers.edge3.executors.edge_executor import EdgeExecutor
        except ImportError as exc:
            raise ConfigError(f"[ai_scheduler] fleet {self.spec.name!r}: backend edge needs "
                              f"apache-airflow-providers-edge3 (extra 'edge'): {exc}") from None
        from airflow.configuration import conf

        if not conf.getboolean("edge", "api_enabled", fallback=False):
            log.warning("fleet %s: [edge] api_enabled is off: the api-server serves no Edge API and no worker "
                        "can fetch this fleet's tasks", self.spec.name)
        if self.options.worker_lost_after_seconds is None:
            self.lost_after = 3 * conf.getfloat("edge", "heartbeat_interval", fallback=30.0)
        self.inner = EdgeExecutor(team_name=self.context.team_name)
        self.inner.start()  # creates the Edge tables if `airflow db migrate` has not

    # -- on the fleet thread ----------------------------------------------------------------------------
    def _inner_key(self, key: Any) -> Any:
        return key  # Airflow 3.3: EdgeExecutor keys jobs by TaskInstanceKey, as we do

    def _launch(self, item: Launched) -> str:
        from airflow.utils.session import create_session

        w = item.workload
        w = w.model_copy(update={"ti": w.ti.model_copy(update={"queue": self.queue})})
        with create_session(scoped=False) as session:
            self.inner.queue_workload(w, session)
        self._keys[_coords(item.key)] = item.key
        return f"edge:{self.queue}:{item.key.dag_id}/{item.key.task_id}/{item.key.run_id}/" \
               f"{item.key.map_index}/{item.key.try_number}"

    def _observe(self, items: list[Launched]) -> dict[str, Verdict]:
        from airflow.utils.state import TaskInstanceState as T

        self.inner.sync()
        by_key = {t.key: t for t in items}
        out: dict[str, Verdict] = {}
        for key, (state, info) in self.inner.get_event_buffer().items():
            t = by_key.get(self._keys.get(_coords(key), key))
            if t is None:
                continue
            if state == T.RUNNING:
                out[t.external_id] = Verdict(S.RUNNING)
            elif state == T.SUCCESS:
                out[t.external_id] = Verdict(S.SUCCESS)
            elif state in (T.FAILED, T.UP_FOR_RETRY, T.REMOVED):
                out[t.external_id] = Verdict(S.FAILED, f"Edge job {state}: {info or ''}".strip())
        for t, why in self._lost_workers(items):
            out[t.external_id] = self.lost(why)
            self.inner.running.discard(self._inner_key(t.key))
            self.inner.last_reported_state.pop(self._inner_key(t.key), None)
        for t in items:
            v = out.get(t.external_id)
            if v is not None and v.status is not None and v.status.finished:
                self._keys.pop(_coords(t.key), None)
        return out

    def _lost_workers(self, items: list[Launched]) -> list[tuple[Launched, str]]:
        """Running jobs whose worker stopped heartbeating ``worker_lost_after_seconds`` ago."""
        from airflow.providers.edge3.models.edge_job import EdgeJobModel
        from airflow.providers.edge3.models.edge_worker import EdgeWorkerModel
        from airflow.utils.session import create_session
        from airflow.utils.state import TaskInstanceState as T
        from sqlalchemy import select

        tracked = {_coords(t.key): t for t in items}
        cutoff = datetime.now(timezone.utc) - timedelta(seconds=self.lost_after)
        out = []
        with create_session(scoped=False) as session:
            rows = session.execute(
                select(EdgeJobModel.dag_id, EdgeJobModel.task_id, EdgeJobModel.run_id, EdgeJobModel.map_index,
                       EdgeJobModel.try_number, EdgeJobModel.edge_worker, EdgeWorkerModel.last_update)
                .outerjoin(EdgeWorkerModel, EdgeWorkerModel.worker_name == EdgeJobModel.edge_worker)
                .where(EdgeJobModel.queue == self.queue, EdgeJobModel.state.in_([T.RUNNING, T.RESTARTING]))).all()
        for row in rows:
            t = tracked.get(tuple(row[:5]))
            seen = row.last_update
            if seen is not None and seen.tzinfo is None:
                seen = seen.replace(tzinfo=timezone.utc)
            if t is not None and (seen is None or seen < cutoff):
                silent = (datetime.now(timezone.utc) - seen).total_seconds() if seen else float("inf")
                out.append((t, f"Edge worker {row.edge_worker} silent for {silent:.0f} s on fleet {self.spec.name}"))
        return out

    def _find(self, item: Launched) -> str | None:
        from airflow.providers.edge3.models.edge_job import EdgeJobModel
        from airflow.utils.session import create_session
        from airflow.utils.state import TaskInstanceState as T
        from sqlalchemy import select

        k = item.key
        with create_session(scoped=False) as session:
            state = session.scalar(select(EdgeJobModel.state).where(
                EdgeJobModel.dag_id == k.dag_id, EdgeJobModel.task_id == k.task_id, EdgeJobModel.run_id == k.run_id,
                EdgeJobModel.map_index == k.map_index, EdgeJobModel.try_number == k.try_number))
        if state not in (T.QUEUED, T.RESTARTING, T.RUNNING):
            return None
        self.inner.running.add(self._inner_key(k))
        self._keys[_coords(k)] = k
        return f"edge:{self.queue}:{k.dag_id}/{k.task_id}/{k.run_id}/{k.map_index}/{k.try_number}"

    def _cancel(self, item: Launched) -> None:
        k = item.key
        self.inner.revoke_task(ti=SimpleNamespace(key=k, dag_id=k.dag_id, task_id=k.task_id, run_id=k.run_id,
                                                  map_index=k.map_index, try_number=k.try_number))
        self._keys.pop(_coords(k), None)

    def debug_state(self) -> dict[str, Any]:
        return {**super().debug_state(), "queue": self.queue, "worker_lost_after_seconds": self.lost_after}
