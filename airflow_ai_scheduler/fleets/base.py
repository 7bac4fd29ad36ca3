"""Fleets: the spot and on-demand pools a plan routes tasks to, and the backend interface they run on.

A fleet is declared in ``[ai_scheduler] fleets`` (inline JSON) or ``fleets_file`` (YAML or JSON): a name,
where it is (provider, region, instance type), its tier, how many tasks it runs at once (``slots``) and the
backend that runs them. Each fleet becomes one :class:`~airflow_ai_scheduler.models.Offer` of the
manifest (``offerId`` = fleet name), priced from the catalog unless the fleet states its price — so a
placement names its fleet directly.

Backends (``backend`` key): ``local`` (process pools on this machine, the embedded default) and
``celery`` (a Celery queue served by ``airflow celery worker``, :mod:`.celery`). **What a backend must
implement is all in this module**: :class:`FleetBackend` (every hook, with safe defaults for the optional
ones), :class:`FleetStatus` (what it reports, preempted included), :class:`FleetContext` (the narrow
callbacks it may use: the Execution API URL, token minting, storing its external id). Backends are found
through the entry-point group :data:`ENTRY_POINT_GROUP`, so a third party adds one without touching this
package::

    [project.entry-points."airflow_ai_scheduler.fleet_backends"]
    mycloud = "mypkg.fleet:MyCloudFleet"
"""

from __future__ import annotations

import json
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from airflow_ai_scheduler.exceptions import ConfigError
from airflow_ai_scheduler.models import Offer, Tier, json_path


class FleetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")
    provider: str
    region: str
    instance_type: str
    tier: Tier
    slots: int = Field(4, ge=1, description="tasks the fleet runs at once (the pool's capacity)")
    backend: str = Field("local", pattern=r"^[A-Za-z0-9_.-]+$",
                         description="a backend of the entry-point group airflow_ai_scheduler.fleet_backends")
    options: dict[str, Any] = Field(default_factory=dict, description="backend-specific settings")
    dispatch_policy: str | None = Field(None, description="which due task runs first when more are due than "
                                        "free slots; default: [ai_scheduler] dispatch_policy")
    dispatch_options: dict[str, Any] = Field(default_factory=dict, description="keyword options of the "
                                             "dispatch policy, e.g. {\"path\": \"/opt/airflow/rl_policy.npz\"}")
    price_per_hour: float | None = Field(None, ge=0, description="override the catalog price")
    price_schedule: list[dict[str, Any]] | None = Field(
        None, description='time-varying price [{"from": ISO time, "price_per_hour": x}], e.g. a cheap night window')
    interruption_rate_per_hour: float | None = Field(None, ge=0, description="override the catalog's λ")
    vcpus: float | None = Field(None, gt=0)
    memory_gib: float | None = Field(None, gt=0)
    gpus: int | None = Field(None, ge=0)
    gpu_type: str | None = None
    reserved_instances: int | None = Field(None, ge=1, description="of its slots, how many are reserved "
                                           "instances (a commitment: marginal price 0, filled first)")
    reserved_usd_per_hour: float | None = Field(None, ge=0, description="amortised price of the reservation per "
                                                "hour, for the report")

    @property
    def location(self) -> str:
        return f"{self.provider}:{self.region}"

    def environment(self) -> dict[str, str]:
        """What a task sees of the fleet it runs on (tests and task code read these)."""
        return {
            "AI_SCHEDULER_FLEET": self.name,
            "AI_SCHEDULER_TIER": self.tier,
            "AI_SCHEDULER_PROVIDER": self.provider,
            "AI_SCHEDULER_REGION": self.region,
            "AI_SCHEDULER_INSTANCE_TYPE": self.instance_type,
        }


#: The embedded default: two process pools on this machine, priced as AWS us-east-1 m6i.xlarge.
DEFAULT_FLEETS: list[dict[str, Any]] = [
    {"name": "local-spot", "provider": "aws", "region": "us-east-1", "instance_type": "m6i.xlarge",
     "tier": "spot", "slots": 4, "backend": "local"},
    {"name": "local-on-demand", "provider": "aws", "region": "us-east-1", "instance_type": "m6i.xlarge",
     "tier": "on-demand", "slots": 2, "backend": "local"},
]


def parse_fleets(raw: Sequence[Mapping[str, Any]] | Mapping[str, Any], source: str = "fleets") -> list[FleetSpec]:
    """Fleet specs from a list (or ``{"fleets": [...]}``); errors name the option and the bad field."""
    items = raw.get("fleets") if isinstance(raw, Mapping) else raw
    if not isinstance(items, Sequence) or isinstance(items, (str, bytes)) or not items:
        raise ConfigError(f"[ai_scheduler] {source}: expected a non-empty list of fleets")
    fleets, problems = [], []
    for i, item in enumerate(items):
        try:
            fleets.append(FleetSpec.model_validate(item))
        except ValidationError as exc:
            name = item.get("name") if isinstance(item, Mapping) else None
            for e in exc.errors(include_url=False):
                problems.append(f"{json_path((i, *e['loc']))} (fleet {name!r}): {e['msg']}")
    names = [f.name for f in fleets]
    problems += [f"duplicate fleet name {n!r}" for n in sorted({n for n in names if names.count(n) > 1})]
    if problems:
        raise ConfigError(f"[ai_scheduler] {source} is invalid:\n  - " + "\n  - ".join(problems))
    return fleets


def load_fleets(inline: str = "", path: str = "") -> list[FleetSpec]:
    """Fleets from ``[ai_scheduler] fleets`` (JSON) or ``fleets_file`` (YAML/JSON); default: local pools."""
    if inline.strip():
        try:
            return parse_fleets(json.loads(inline), "fleets")
        except json.JSONDecodeError as exc:
            raise ConfigError(f"[ai_scheduler] fleets is not valid JSON: {exc}") from None
    if path.strip():
        import yaml

        try:
            data = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"[ai_scheduler] fleets_file {path!r} cannot be read: {exc}") from None
        return parse_fleets(data, f"fleets_file {path}")
    return parse_fleets(DEFAULT_FLEETS)


def fleet_offers(fleets: Sequence[FleetSpec], catalog: Any | None = None) -> list[Offer]:
    """One offer per fleet (offerId = fleet name), priced from the catalog unless the fleet says."""
    complete = all(f.price_per_hour is not None and f.vcpus and f.memory_gib for f in fleets)
    if catalog is None and not complete:
        from airflow_ai_scheduler.catalog import bundled_catalog

        catalog = bundled_catalog()
    by_key = {(o.provider, o.region, o.instance_type, o.tier): o for o in catalog.offers()} if catalog else {}
    offers = []
    for f in fleets:
        base = by_key.get((f.provider, f.region, f.instance_type, f.tier))
        if base is None and (f.price_per_hour is None or f.vcpus is None or f.memory_gib is None):
            raise ConfigError(
                f"[ai_scheduler] fleet {f.name!r}: {f.provider}:{f.region} {f.instance_type} ({f.tier}) is not "
                "in the price catalog; set price_per_hour, vcpus and memory_gib on the fleet")
        offers.append(Offer(
            offer_id=f.name, provider=f.provider, region=f.region, instance_type=f.instance_type,
            vcpus=f.vcpus or base.vcpus, memory_gib=f.memory_gib or base.memory_gib,  # type: ignore[union-attr]
            gpus=f.gpus if f.gpus is not None else (base.gpus if base else 0),
            gpu_type=f.gpu_type or (base.gpu_type if base else None), tier=f.tier,
            price_per_hour=f.price_per_hour if f.price_per_hour is not None else base.price_per_hour,  # type: ignore[union-attr]
            interruption_rate_per_hour=(f.interruption_rate_per_hour if f.interruption_rate_per_hour is not None
                                        else (base.interruption_rate_per_hour if base else 0.0)),
            capacity=f.slots,
            price_schedule=[{"from": p["from"], "pricePerHour": p.get("price_per_hour", p.get("pricePerHour"))}
                            for p in f.price_schedule] if f.price_schedule else None,
        ))
    return offers


#: the entry-point group fleet backends register under (name → a FleetBackend subclass)
ENTRY_POINT_GROUP = "airflow_ai_scheduler.fleet_backends"
#: the backends of this package (also registered as entry points; listed here so a source checkout works)
BUILTIN_BACKENDS = {"local": "airflow_ai_scheduler.fleets.local:LocalProcessFleet",
                    "celery": "airflow_ai_scheduler.fleets.celery:CeleryFleet",
                    "ecs": "airflow_ai_scheduler.fleets.ecs:EcsFleet",
                    "batch": "airflow_ai_scheduler.fleets.batch:BatchFleet",
                    "kubernetes": "airflow_ai_scheduler.fleets.kubernetes:KubernetesFleet",
                    "edge": "airflow_ai_scheduler.fleets.edge:EdgeFleet"}
#: external ids this package's backends mint: ``ai-scheduler/<fleet>/<uuid4>``
EXTERNAL_ID_PREFIX = "ai-scheduler/"


class FleetStatus(str, Enum):
    """What a backend reports about a workload it was given (or adopted)."""

    QUEUED = "queued"  #: accepted by the backend; ``info`` = its external id (Airflow stores it on the TI)
    RUNNING = "running"  #: started; ``info`` = its external id
    SUCCESS = "success"  #: the workload's process finished (the task's own state comes from the task runner)
    FAILED = "failed"  #: it could not run or its process failed; ``info`` = why
    PREEMPTED = "preempted"  #: its spot capacity was taken away (not the task's failure); ``info`` = how

    def __str__(self) -> str:
        return self.value

    @property
    def finished(self) -> bool:
        return self in (FleetStatus.SUCCESS, FleetStatus.FAILED, FleetStatus.PREEMPTED)


class FleetReport(NamedTuple):
    key: Any  #: the workload's key (Airflow's TaskInstanceKey for a task)
    status: FleetStatus
    info: Any = None


def _same(workload: Any) -> Any:
    return workload


@dataclass(frozen=True)
class FleetContext:
    """The narrow callbacks a backend gets from the executor — never the executor itself."""

    #: the Execution API URL workers on this machine use (``[core] execution_api_server_url``)
    server: str | None = None
    #: the workload with a fresh token (a workload may wait in a backend longer than its first token lives);
    #: may raise, in which case the workload keeps its token
    mint: Callable[[Any], Any] = _same
    #: (workload, external id) → None: store the id on the task instance *before* the backend hands the
    #: workload to something that outlives the scheduler, so a successor adopts instead of re-running it
    record_external_id: Callable[[Any, str], None] | None = None
    #: multi-team mode's team of the executor, if any
    team_name: str | None = None


class FleetBackend(ABC):
    """How a fleet runs workloads. The executor calls these from the scheduler loop: every method must
    return quickly (do network and disk work on a thread of your own) and ``poll`` must never raise for
    one bad workload. Required: :meth:`start`, :meth:`submit`, :meth:`poll`, :meth:`free_slots`.
    Everything else has a safe default."""

    #: can a restarted scheduler adopt this backend's running workloads (see :meth:`adopt`)?
    adoptable: ClassVar[bool] = False

    def __init__(self, spec: FleetSpec, context: FleetContext | None = None) -> None:
        self.spec = spec
        self.context = context or FleetContext()

    @classmethod  # noqa: B027 - an optional hook
    def validate_options(cls, spec: FleetSpec) -> None:
        """Raise :class:`ConfigError` naming the fleet and the option when ``spec.options`` is wrong
        (called at the executor's start, before any backend is built)."""

    # -- required ---------------------------------------------------------------------------------------
    @abstractmethod
    def start(self) -> None:
        """Start workers/threads/clients. A :class:`ConfigError` here fails the executor's start."""

    @abstractmethod
    def submit(self, workload: Any) -> None:
        """Run ``workload`` (an Airflow ExecuteTask or ExecuteCallback) with the fleet's environment."""

    @abstractmethod
    def poll(self) -> list[FleetReport]:
        """What happened since the last poll."""

    @abstractmethod
    def free_slots(self) -> int:
        """How many more workloads :meth:`submit` may take now (0 while spot capacity is gone)."""

    # -- optional -----------------------------------------------------------------------------------------
    def end(self) -> None:  # noqa: B027 - optional hook
        """Stop cleanly (the scheduler is shutting down)."""

    def terminate(self) -> None:
        """Stop now."""
        self.end()

    def new_external_id(self) -> str:
        """An id for a workload handed to something that outlives the scheduler; it names this fleet, so a
        successor knows whom to ask (:func:`fleet_of`)."""
        return f"{EXTERNAL_ID_PREFIX}{self.spec.name}/{uuid.uuid4()}"

    def adopt(self, key: Any, external_id: str) -> bool:
        """Track a workload a previous scheduler gave this fleet (the TI's ``external_executor_id``); its
        end is reported by :meth:`poll` like any other. False: cannot adopt (Airflow resets the task)."""
        return False

    def revoke(self, key: Any) -> None:  # noqa: B027 - optional hook
        """Take ``key`` back (Airflow's stuck-in-queued handling): stop tracking it and cancel it if it can
        be cancelled. Reports nothing."""

    def waiting(self) -> list[tuple[Any, float]]:
        """(workload, monotonic time it was submitted) of workloads the fleet holds but has not started —
        the executor keeps their task instances from being failed as stuck in queued."""
        return []

    def spot_available(self) -> bool:
        """Can spot capacity be had now (always True on an on-demand fleet)."""
        return True

    def resize(self, slots: int) -> bool:
        """Change how many workloads the fleet runs at once; False when the backend cannot."""
        return False

    def debug_state(self) -> dict[str, Any]:
        """What :meth:`AiSchedulerExecutor.debug_dump` prints for this fleet."""
        return {"free_slots": self.free_slots(), "waiting": len(self.waiting())}


def fleet_of(external_id: str | None) -> str | None:
    """The fleet a :meth:`FleetBackend.new_external_id` id names (None for any other id)."""
    if not external_id or not external_id.startswith(EXTERNAL_ID_PREFIX):
        return None
    fleet, sep, _ = external_id[len(EXTERNAL_ID_PREFIX):].partition("/")
    return fleet if sep and fleet else None


def _load(target: str) -> Any:
    import importlib

    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def backend_names() -> list[str]:
    from importlib.metadata import entry_points

    return sorted({*BUILTIN_BACKENDS, *(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))})


def backend_class(spec: FleetSpec) -> type[FleetBackend]:
    """The backend class a fleet names, its options validated; ConfigError names the fleet and the field."""
    from importlib.metadata import entry_points

    eps = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    try:
        if spec.backend in eps:
            cls = eps[spec.backend].load()
        elif spec.backend in BUILTIN_BACKENDS:
            cls = _load(BUILTIN_BACKENDS[spec.backend])
        else:
            raise ConfigError(f"[ai_scheduler] fleet {spec.name!r}: unknown backend {spec.backend!r}; "
                              f"installed: {backend_names()}")
    except ImportError as exc:
        raise ConfigError(f"[ai_scheduler] fleet {spec.name!r}: backend {spec.backend!r} cannot be imported "
                          f"(is its extra installed?): {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, FleetBackend)):
        raise ConfigError(f"[ai_scheduler] fleet {spec.name!r}: backend {spec.backend!r} is not a FleetBackend")
    cls.validate_options(spec)
    return cls


def make_backend(spec: FleetSpec, context: FleetContext | None = None) -> FleetBackend:
    return backend_class(spec)(spec, context)
