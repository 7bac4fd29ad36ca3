"""Dispatch gates: checks a due task must pass before it is launched (a plan approval, a budget).

A gate answers from memory on the scheduler loop (:meth:`Gate.check`, microseconds) and loads what it
needs from the database on the executor's bookkeeping thread (:meth:`Gate.refresh`, every
:data:`REFRESH_SECONDS` for the runs the executor holds tasks of). A verdict holds the task — it stays
QUEUED, its ``queued_dttm`` kept fresh, with the reason in the executor's ledger, the scheduler log and the
task's Event Log — or fails it with the reason. A gate that raises is logged and ignored for that task:
a broken gate never stops a run.

Gates are listed by the entry-point group :data:`ENTRY_POINT_GROUP` (name → a Gate subclass or factory
taking the executor's :class:`~airflow_ai_scheduler.settings.Settings`); the package's own register there
too, so a third party can add one.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "airflow_ai_scheduler.gates"
REFRESH_SECONDS = 2.0


@dataclass(frozen=True)
class Verdict:
    action: Literal["hold", "fail"]
    reason: str


@dataclass(frozen=True)
class GateInput:
    """What a gate sees of a due task."""

    key: Any  #: TaskInstanceKey
    dag_id: str
    run_id: str
    task_id: str
    fleet: str  #: where it is about to go
    planned_cost: float | None  #: its placement's expected cost (None: no plan)
    owner: str | None = None
    plan: Any = None  #: the run's RunPlan (None: no plan)


class Gate(ABC):
    name: str = "gate"

    def __init__(self, settings: Any = None) -> None:
        self.settings = settings

    def refresh(self, runs: set[tuple[str, str]]) -> None:  # noqa: B027 - optional hook
        """(bookkeeping thread) Load what :meth:`check` needs for these runs."""

    @abstractmethod
    def check(self, task: GateInput) -> Verdict | None:
        """(scheduler loop; memory only) None to let the task go, or a verdict."""

    def launched(self, task: GateInput) -> None:  # noqa: B027 - optional hook
        """The task passed every gate and was launched (a budget counts its planned cost as committed)."""


def load_gates(settings: Any) -> list[Gate]:
    """Every installed gate, built with ``settings``; one that cannot be built is logged and skipped."""
    from importlib.metadata import entry_points

    gates: list[Gate] = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            gate = ep.load()(settings)
        except Exception:
            log.exception("dispatch gate %s could not be loaded; tasks are not checked by it", ep.name)
            continue
        if gate is not None:
            gates.append(gate)
    return gates


def first_verdict(gates: Sequence[Gate], task: GateInput) -> Verdict | None:
    for gate in gates:
        try:
            verdict = gate.check(task)
        except Exception:
            log.exception("dispatch gate %s failed on %s; ignoring it for this task", gate.name, task.key)
            continue
        if verdict is not None:
            return Verdict(verdict.action, f"{gate.name}: {verdict.reason}")
    return None
