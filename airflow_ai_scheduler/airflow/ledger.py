"""Where every task the executor holds is, at any moment: one :class:`Entry` per task instance, owned by
one :class:`Ledger`.

A task instance enters the ledger when Airflow queues its workload with the executor and leaves it when
its fleet reports it finished for good (or Airflow revokes it). In between it moves through the stages
of :class:`Stage`; a preemption sends a launched entry back to ``RELAUNCHING`` and keeps its
preemption count and the hours it ran, so the spot policy sees the whole task, not one attempt.

Threads: the scheduler loop is the only writer. Background work (DB resets, workload rebuilds) hands its
result back as a ``Future`` stored on the entry, which the loop reads; :meth:`Ledger.dump` may run from a
signal handler, so reads and writes take one re-entrant lock and readers get copies.

Per-run state elsewhere (plans, operator runs, failed-run sweeps) is pruned with :meth:`Ledger.runs`:
a run with no entry left and no activity for a while is forgotten.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Hashable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum
from typing import Any


class Stage(str, Enum):
    PLANNING = "planning"  #: waiting for its run's plan (or the planning operator's)
    HELD = "held"  #: deliberately waiting: a cheaper price window, an approval, a budget (``reason`` says)
    DUE = "due"  #: may run now; waiting for a free slot on its fleet (the fleet's dispatch policy orders)
    LAUNCHED = "launched"  #: handed to its fleet (buffered there for a free worker, or running)
    RELAUNCHING = "relaunching"  #: lost its spot capacity; waiting for the DB reset, the spot policy or a slot

    @property
    def queued(self) -> bool:
        """Is the task instance in Airflow's QUEUED state while here (so its queued_dttm needs keeping fresh)?"""
        return self is not Stage.LAUNCHED


@dataclass
class Entry:
    key: Hashable  #: Airflow's TaskInstanceKey (or a callback's key)
    workload: Any  #: the ExecuteTask/ExecuteCallback (None for a task adopted from a dead scheduler)
    stage: Stage
    seen: float = field(default_factory=time.monotonic)  #: when the executor got it (monotonic)
    stage_since: float = field(default_factory=time.monotonic)
    reason: str = ""  #: why it is held, or why it went where it went (a fallback)
    fleet: str | None = None  #: the fleet it is routed to / runs on
    planner_task: bool = False  #: a PlanPlacementOperator task (its plan is loaded when it ends)
    # -- the current attempt -------------------------------------------------------------------------
    launched_at: datetime | None = None  #: UTC
    price: float = 0.0  #: $/h of its fleet at launch (never today's catalog for a past try)
    adopted: bool = False
    external_id: str | None = None
    # -- preemptions ----------------------------------------------------------------------------------
    preemptions: int = 0
    first_start: datetime | None = None  #: the first attempt's launch: the spot policy's clock starts there
    ran_hours: float = 0.0  #: hours run over the lost attempts
    previous_fleet: str | None = None
    next_decision: float = 0.0  #: monotonic: when the spot policy is asked again
    #: this task's own copy of the spot policy (a learning one, e.g. adaptive_slack, follows one job at a time)
    spot_policy: Any = None
    pending: Future | None = None  #: background work the entry waits for (requeue in the DB, rebuild)

    @property
    def run(self) -> tuple[str, str]:
        return (getattr(self.key, "dag_id", ""), getattr(self.key, "run_id", ""))

    @property
    def is_task(self) -> bool:
        return hasattr(self.key, "task_id")

    def describe(self) -> str:
        waited = time.monotonic() - self.stage_since
        where = f" on {self.fleet}" if self.fleet else ""
        why = f" ({self.reason})" if self.reason else ""
        extra = f", preempted {self.preemptions}x" if self.preemptions else ""
        return f"{self.key}: {self.stage.value}{where} for {waited:.0f} s{why}{extra}"


class Ledger:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._entries: dict[Hashable, Entry] = {}
        self._activity: dict[tuple[str, str], float] = {}  # run → last time one of its entries changed

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def get(self, key: Hashable) -> Entry | None:
        with self._lock:
            return self._entries.get(key)

    def add(self, key: Hashable, workload: Any, *, stage: Stage = Stage.PLANNING, **fields: Any) -> Entry:
        """Track ``key`` (again: a workload re-queued by Airflow replaces the one it had)."""
        with self._lock:
            old = self._entries.get(key)
            entry = Entry(key=key, workload=workload, stage=stage, **fields)
            if old is not None and old.stage is Stage.RELAUNCHING:
                entry = replace(old, workload=workload)  # keep the preemption bookkeeping
            self._entries[key] = entry
            self._touch(entry)
            return entry

    def move(self, key: Hashable, stage: Stage, **fields: Any) -> Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.stage is not stage:
                entry.stage, entry.stage_since = stage, time.monotonic()
            for name, value in fields.items():
                setattr(entry, name, value)
            self._touch(entry)
            return entry

    def pop(self, key: Hashable) -> Entry | None:
        with self._lock:
            entry = self._entries.pop(key, None)
            if entry is not None:
                self._touch(entry)
            return entry

    def _touch(self, entry: Entry) -> None:
        self._activity[entry.run] = time.monotonic()

    def entries(self, *stages: Stage) -> list[Entry]:
        """A copy of the entries (of these stages), oldest first."""
        with self._lock:
            found = [e for e in self._entries.values() if not stages or e.stage in stages]
        return sorted(found, key=lambda e: e.seen)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries())

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(e.stage.value for e in self._entries.values())

    def held_reasons(self) -> Counter[str]:
        """How many entries wait, per reason kind (the text before the first ':' of ``reason``)."""
        with self._lock:
            return Counter((e.reason.split(":", 1)[0] or e.stage.value) for e in self._entries.values()
                           if e.stage is not Stage.LAUNCHED)

    def active_runs(self) -> set[tuple[str, str]]:
        with self._lock:
            return {e.run for e in self._entries.values()}

    def idle_runs(self, idle_seconds: float) -> list[tuple[str, str]]:
        """Runs with no entry left and no change for ``idle_seconds``: their per-run state can go."""
        now = time.monotonic()
        with self._lock:
            active = {e.run for e in self._entries.values()}
            idle = [r for r, t in self._activity.items() if r not in active and now - t > idle_seconds]
            for run in idle:
                del self._activity[run]
            return idle

    def dump(self) -> str:
        """Every entry, one line each, grouped by stage (``debug_dump`` on SIGUSR2)."""
        lines = []
        for stage in Stage:
            found = self.entries(stage)
            lines.append(f"{stage.value} ({len(found)})")
            lines.extend(f"\t{e.describe()}" for e in found)
        return "\n".join(lines)
