"""One interface for every planner: manifest (+ offers) → plan, and the registry that names them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from airflow_ai_scheduler.exceptions import PlannerError
from airflow_ai_scheduler.models import Manifest, Offer, Plan


@dataclass(frozen=True)
class Choice:
    """A (partial) decision for one job: which offer and, optionally, when (hours since ``now``).

    Used to fix or hint placements — an LLM's valid choices kept by the CP-SAT repair, a greedy warm
    start, a plan kept for running tasks when the rest of a run is re-planned.
    """

    offer_id: str
    start_hours: float | None = None


class Planner(Protocol):
    name: str

    def plan(self, manifest: Manifest, offers: list[Offer] | None = None) -> Plan:
        """Return a plan for every job of ``manifest``. ``offers`` overrides the manifest's/catalog's."""
        ...


def resolve_offers(manifest: Manifest, offers: list[Offer] | None = None) -> list[Offer]:
    """The offers a plan may use: explicit ones, else the manifest's, else the bundled catalog's."""
    if offers is not None:
        return offers
    if manifest.offers is not None:
        return manifest.offers
    from airflow_ai_scheduler.catalog import bundled_catalog

    return bundled_catalog().offers()


_REGISTRY: dict[str, Callable[..., Planner]] = {}


def register_planner(name: str, factory: Callable[..., Planner]) -> None:
    _REGISTRY[name] = factory


def get_planner(name: str, **kwargs: object) -> Planner:
    """A planner by name: ``greedy``, ``optimal`` (CP-SAT), ``llm`` — or a user's planner by import path
    (``mypkg.planners:MyPlanner``, a class or factory taking keyword arguments, whose ``plan(manifest,
    offers)`` returns a Plan: it is validated like any other). kwargs go to its constructor."""
    _load_builtin()
    factory = _REGISTRY.get(name) or _import(name)
    return factory(**kwargs)


def _import(name: str) -> Callable[..., Planner]:
    if ":" not in name:
        raise PlannerError(f"unknown planner {name!r}; choose one of {sorted(_REGISTRY)} or an import path "
                           "such as mypkg.planners:MyPlanner")
    import importlib

    module, _, attr = name.partition(":")
    try:
        factory = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise PlannerError(f"planner {name!r} cannot be imported: {exc}") from None
    if not callable(factory):
        raise PlannerError(f"planner {name!r} is not a class or factory")
    return factory  # type: ignore[no-any-return]


def is_planner(name: str) -> bool:
    """Does ``name`` resolve to a planner (a built-in name, or an importable path)?"""
    try:
        _load_builtin()
        return name in _REGISTRY or callable(_import(name))
    except PlannerError:
        return False


def planner_names() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


_BUILTIN_LOADED = False


def _load_builtin() -> None:
    """Register the built-in planners once (a user's planner registered earlier neither hides them nor is
    replaced: built-ins only fill names nobody took)."""
    global _BUILTIN_LOADED
    if _BUILTIN_LOADED:
        return
    _BUILTIN_LOADED = True
    from airflow_ai_scheduler.planning.greedy import GreedyPlanner

    _REGISTRY.setdefault("greedy", GreedyPlanner)
    try:
        from airflow_ai_scheduler.planning.cpsat import CpSatPlanner
    except ImportError:  # pragma: no cover - cpsat module not yet available
        pass
    else:
        _REGISTRY.setdefault("optimal", CpSatPlanner)
    try:
        from airflow_ai_scheduler.planning.llm import LLMPlanner
    except ImportError:
        pass
    else:
        _REGISTRY.setdefault("llm", LLMPlanner)


@dataclass(frozen=True)
class PlannerRun:
    """What one planning call produced: the checked plan and, for the LLM planner, its audit record."""

    plan: Plan
    exchange: Any = None  # planning.llm.schema.LLMExchange, scrubbed of secrets


def run_planner(name: str, manifest: Manifest, offers: list[Offer] | None = None, **kwargs: Any) -> PlannerRun:
    """Plan with the named planner and check the result: the one path the CLI, the planning operator and
    the executor share, so an LLM plan is validated (and repaired) and audited the same way everywhere."""
    from airflow_ai_scheduler.planning.validate import check

    offers = resolve_offers(manifest, offers)
    planner = get_planner(name, **kwargs)
    plan = check(manifest, planner.plan(manifest, offers), offers)
    return PlannerRun(plan=plan, exchange=getattr(planner, "last_exchange", None))


class Stopwatch:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    @property
    def seconds(self) -> float:
        return round(time.perf_counter() - self.t0, 4)
