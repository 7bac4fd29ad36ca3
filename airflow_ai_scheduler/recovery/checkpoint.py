"""Checkpoints for task code: save progress, and resume from it on the next try after a preemption.

Small state (a step counter, a cursor) lives inline in Airflow's task state store
(``context["task_state_store"]``, which survives retries); larger data goes to a storage folder — an
object-storage URL through ``airflow.sdk.ObjectStoragePath`` (``s3://bucket/prefix``, ``gs://...``) or a
local directory for the local fleets — and the store keeps the pointer::

    from airflow_ai_scheduler.recovery import Checkpoint

    @task(executor_config=placement(checkpointable=True, tiers=("spot",)))
    def train(**context):
        ckpt = Checkpoint(context)
        state = ckpt.load() or {"epoch": 0}
        for epoch in range(state["epoch"], 100):
            ...
            ckpt.save({"epoch": epoch + 1}, blob=model_bytes)   # blob is optional

The storage root is ``[ai_scheduler] checkpoint_dir`` (default: ``$AIRFLOW_HOME/ai_scheduler/checkpoints``),
or the ``storage`` argument.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

STORE_KEY = "ai_scheduler_checkpoint"


def _default_root() -> str:
    try:
        from airflow.configuration import conf

        configured = conf.get("ai_scheduler", "checkpoint_dir", fallback="")
    except Exception:  # outside Airflow (unit tests, simulations)
        configured = ""
    home = os.environ.get("AIRFLOW_HOME", str(Path.home() / "airflow"))
    return configured or str(Path(home) / "ai_scheduler" / "checkpoints")


class _DictStore:
    """A stand-in for the task state store outside a task (tests, local experiments)."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any, **_: Any) -> None:
        self.data[key] = value

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


class Checkpoint:
    """Save/load one task instance's progress; see the module doc."""

    def __init__(self, context: Mapping[str, Any] | None = None, *, storage: str | None = None,
                 store: Any | None = None, name: str | None = None) -> None:
        context = context or {}
        self.store = store if store is not None else context.get("task_state_store") or _DictStore()
        ti = context.get("ti")
        self.name = name or (
            f"{ti.dag_id}/{ti.run_id}/{ti.task_id}/{getattr(ti, 'map_index', -1)}".replace(":", "_")
            if ti is not None else "default")
        self.root = storage or _default_root()

    def _blob_path(self, step: int) -> Any:
        if "://" in self.root:
            from airflow.sdk import ObjectStoragePath

            return ObjectStoragePath(self.root) / self.name / f"step-{step}.bin"
        return Path(self.root) / self.name / f"step-{step}.bin"

    def load(self) -> dict[str, Any] | None:
        """The last saved state (with ``blob`` bytes if one was saved), or None on a first run."""
        raw = self.store.get(STORE_KEY)
        if not raw:
            return None
        pointer = json.loads(raw) if isinstance(raw, str) else dict(raw)
        state = dict(pointer.get("state") or {})
        if pointer.get("blob"):
            path = self._blob_path(pointer["step"])
            try:
                state["blob"] = path.read_bytes()
            except OSError:  # the blob is gone (storage wiped): resume from the inline state only
                state["blob"] = None
        return state

    def save(self, state: Mapping[str, Any], *, blob: bytes | None = None) -> None:
        """Write ``state`` (JSON-able) and, optionally, a blob; the pointer is written last (atomic enough)."""
        previous = self.store.get(STORE_KEY)
        step = (json.loads(previous)["step"] + 1) if isinstance(previous, str) and previous else 1
        if blob is not None:
            path = self._blob_path(step)
            if isinstance(path, Path):
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp")
                tmp.write_bytes(blob)
                tmp.replace(path)
            else:
                path.write_bytes(blob)
        pointer = {"step": step, "saved_at": time.time(), "state": dict(state), "blob": blob is not None}
        self.store.set(STORE_KEY, json.dumps(pointer))

    def clear(self) -> None:
        self.store.delete(STORE_KEY)
