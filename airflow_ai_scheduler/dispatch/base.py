"""Dispatch policies: which due task a fleet runs next when more are due than it has free slots.

Pure code (no Airflow import): the executor builds a :class:`Candidate` per due task and a
:class:`FleetView` per fleet, and asks the fleet's policy to order the candidates; the first
``fleet.free_slots`` are launched this loop, the rest stay queued. The simulator and the
reinforcement-learning environment drive the same interface, so a policy measured there is the policy
that runs in the scheduler.

A policy must be cheap (it runs in the scheduler loop: milliseconds for hundreds of candidates) and must
never raise for well-formed input; the executor falls back to Airflow's ``priority_weight`` order, with a
log line, if it does. Policies that keep state (fair share, round robin) learn what was launched and what
finished through :meth:`DispatchPolicy.on_dispatch` and :meth:`DispatchPolicy.on_finish`.

Third-party policies register under the entry-point group ``airflow_ai_scheduler.dispatch_policies``
(name → a class or factory taking keyword options), and are chosen per fleet with the fleet option
``dispatch_policy`` (default: ``[ai_scheduler] dispatch_policy``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airflow_ai_scheduler.exceptions import ConfigError

#: the entry-point group third-party dispatch policies register under
ENTRY_POINT_GROUP = "airflow_ai_scheduler.dispatch_policies"


@dataclass(frozen=True)
class Candidate:
    """A task that is due (its plan and planned start allow it to run now) and waits for a slot."""

    key: Hashable  #: opaque to the policy (Airflow's TaskInstanceKey in the executor)
    dag_id: str
    task_id: str
    run_id: str = ""
    owner: str | None = None  #: Airflow's task owner
    team: str | None = None  #: multi-team mode's team, when on
    priority: int = 1  #: the placement hint's priority (higher = more important), 1 when not set
    priority_weight: int = 1  #: Airflow's priority_weight (what Airflow alone would order by)
    deadline: datetime | None = None  #: the job's effective deadline, if any
    expected_runtime_hours: float = 0.1  #: on this fleet, from history when known
    expected_cost: float = 0.0  #: on this fleet, USD
    waiting_seconds: float = 0.0  #: since it was queued with the executor
    descendants: int = 0  #: tasks of its run downstream of it (what it unblocks)
    run_remaining_hours: float = 0.0  #: expected work of its run not yet finished, itself included
    features: Mapping[str, float] = field(default_factory=dict)  #: extra numbers a learned policy may use


@dataclass(frozen=True)
class FleetView:
    """What a policy may know of the fleet it orders for, at the moment of the decision."""

    name: str
    tier: str  #: "spot" | "on-demand"
    slots: int
    free_slots: int
    price_per_hour: float = 0.0
    running_by_dag: Mapping[str, int] = field(default_factory=dict)
    running_by_owner: Mapping[str, int] = field(default_factory=dict)
    recent_preemptions: int = 0  #: on this fleet, in the last hour
    recent_failures: int = 0  #: failed tries on this fleet, in the last hour


class DispatchPolicy(ABC):
    """Orders the due candidates of one fleet; the executor launches the first ``free_slots``."""

    name: str = "base"

    @abstractmethod
    def order(self, candidates: Sequence[Candidate], fleet: FleetView, now: datetime) -> list[Candidate]:
        """The candidates, best first. Must return each candidate exactly once."""

    def on_dispatch(self, candidate: Candidate, fleet: FleetView, now: datetime) -> None:  # noqa: B027
        """``candidate`` was launched on ``fleet`` (stateful policies update their shares)."""

    def on_finish(self, key: Hashable, fleet: str, runtime_hours: float, outcome: str) -> None:  # noqa: B027
        """A task this policy dispatched ended (success, failed, preempted, ...)."""


class PriorityWeightPolicy(DispatchPolicy):
    """Airflow's own order: ``priority_weight`` highest first, then the longest-waiting (the default)."""

    name = "priority_weight"

    def order(self, candidates: Sequence[Candidate], fleet: FleetView, now: datetime) -> list[Candidate]:
        return sorted(candidates, key=lambda c: (-c.priority_weight, -c.waiting_seconds))


_BUILTIN: dict[str, Callable[..., DispatchPolicy]] = {"priority_weight": PriorityWeightPolicy}


def register_policy(name: str, factory: Callable[..., DispatchPolicy]) -> None:
    """Add a built-in policy (modules of this package call this; third parties use the entry point)."""
    _BUILTIN[name] = factory


def _entry_points() -> dict[str, Any]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def policy_names() -> list[str]:
    _load_builtin()
    return sorted({*_BUILTIN, *_entry_points()})


def get_policy(name: str, **options: Any) -> DispatchPolicy:
    """A dispatch policy by name; :class:`ConfigError` names the unknown one and the choices."""
    _load_builtin()
    factory: Any = _BUILTIN.get(name)
    if factory is None:
        ep = _entry_points().get(name)
        if ep is None:
            raise ConfigError(f"[ai_scheduler] dispatch_policy: unknown policy {name!r}; "
                              f"choose one of {policy_names()}")
        factory = ep.load()
    try:
        return factory(**options)
    except ConfigError:
        raise
    except Exception as exc:  # a bad option, an unreadable policy file: the executor must not start
        raise ConfigError(f"[ai_scheduler] dispatch_policy {name!r}: bad options {dict(options)!r}: {exc}") from None


def _load_builtin() -> None:
    """Import the modules that register the package's own policies (kept lazy: torch-backed ones too)."""
    import importlib

    for module in ("airflow_ai_scheduler.dispatch.policies", "airflow_ai_scheduler.rl.policy"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:  # not written yet, or an optional dependency is missing
            if exc.name != module:
                raise
