"""Fleets: the spot and on-demand pools a plan routes tasks to, and the backend interface they run on.

A fleet is declared in ``[ai_scheduler] fleets`` (inline JSON) or ``fleets_file`` (YAML or JSON): a name,
where it is (provider, region, instance type), its tier, how many tasks it runs at once (``slots``) and the
backend that runs them. Each fleet becomes one :class:`~airflow_ai_scheduler.models.Offer` of the
manifest (``offerId`` = fleet name), priced from the catalog unless the fleet states its price — so a
placement names its fleet directly.

Backends (``backend`` key): ``local`` (process pools on this machine, the embedded default) and
``celery`` (a Celery queue served by ``airflow celery worker``, :mod:`.celery`). The
:class:`FleetBackend` protocol is what Kubernetes pod overrides and ECS/Batch capacity providers
implement next: submit a workload with the fleet's environment, poll for finished ones, say
how many slots are free.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

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
    backend: Literal["local", "celery"] = "local"
    options: dict[str, Any] = Field(default_factory=dict, description="backend-specific settings")
    price_per_hour: float | None = Field(None, ge=0, description="override the catalog price")
    price_schedule: list[dict[str, Any]] | None = Field(
        None, description='time-varying price [{"from": ISO time, "price_per_hour": x}], e.g. a cheap night window')
    interruption_rate_per_hour: float | None = Field(None, ge=0, description="override the catalog's λ")
    vcpus: float | None = Field(None, gt=0)
    memory_gib: float | None = Field(None, gt=0)
    gpus: int | None = Field(None, ge=0)
    gpu_type: str | None = None

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


class FleetBackend(Protocol):
    """How a fleet runs workloads. Called from the scheduler loop: every method must return quickly."""

    spec: FleetSpec

    def start(self) -> None: ...

    def free_slots(self) -> int: ...

    def submit(self, workload: Any) -> None:
        """Start ``workload`` (an Airflow ExecuteTask/ExecuteCallback) with the fleet's environment."""

    def poll(self) -> list[tuple[Any, str, Any]]:
        """Finished workloads since the last poll: (key, state, info) with state success/failed/running."""

    def end(self) -> None: ...

    def terminate(self) -> None: ...


def make_backend(spec: FleetSpec, **kwargs: Any) -> FleetBackend:
    if spec.backend == "local":
        from airflow_ai_scheduler.fleets.local import LocalProcessFleet

        return LocalProcessFleet(spec, **kwargs)
    if spec.backend == "celery":
        from airflow_ai_scheduler.fleets.celery import CeleryFleet

        return CeleryFleet(spec, **kwargs)
    raise ConfigError(f"[ai_scheduler] fleet {spec.name!r}: unknown backend {spec.backend!r}")
