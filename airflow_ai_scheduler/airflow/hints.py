"""What DAG authors tag tasks with: deadline, checkpointable, resources, priority, budget, tiers, data.

    from airflow_ai_scheduler.airflow.hints import Resources, placement

    @task(executor_config=placement(deadline=timedelta(hours=2), checkpointable=True,
                                    resources=Resources(vcpus=4, memory_gib=16, gpus=1), tiers=("spot",)))
    def train(): ...

The hint is stored under one key (:data:`HINT_KEY`) of ``executor_config``, which survives DAG
serialization; other keys of ``executor_config`` are left alone. DAG-wide defaults go in
``default_args={"executor_config": placement(...)}`` (Airflow passes them to every task that sets no
``executor_config`` of its own), or ``placement(..., base=DEFAULTS)`` merges a task's hint over shared ones.

A malformed hint fails early: :func:`placement` raises at the call naming the field, and the cluster
policy in :mod:`.policy` fails the DAG's import naming the DAG, the task and the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from airflow_ai_scheduler.exceptions import InvalidHintError
from airflow_ai_scheduler.models import Resources

HINT_KEY = "ai_scheduler"

__all__ = ["HINT_KEY", "Resources", "TaskHint", "dag_deadline", "parse_hint", "placement"]


class Deadline(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    relative_seconds: float | None = Field(None, gt=0, description="after the run starts")
    at: datetime | None = Field(None, description="absolute, timezone-aware")

    @field_validator("at")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("an absolute deadline needs a timezone (e.g. datetime(..., tzinfo=timezone.utc))")
        return v


class TaskHint(BaseModel):
    """The stored hint, validated. Field names are what users see in error messages."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    deadline: Deadline | None = None
    hard_deadline: bool = False
    checkpointable: bool = False
    checkpoint_interval_seconds: float | None = Field(None, gt=0)
    restart_overhead_seconds: float | None = Field(None, ge=0)
    resources: Resources | None = None
    priority: int | None = None
    budget_usd: float | None = Field(None, ge=0)
    elastic: bool = False
    duration_seconds: float | None = Field(None, gt=0, description="expected runtime when there is no history")
    duration_std_seconds: float | None = Field(None, ge=0)
    data_gb: float = Field(0.0, ge=0)
    data_region: str | None = Field(None, pattern=r"^[a-z0-9-]+:[a-z0-9-]+$")
    tiers: list[Literal["spot", "on-demand"]] | None = Field(None, min_length=1)
    providers: list[str] | None = Field(None, min_length=1)
    regions: list[str] | None = Field(None, min_length=1)

    def deadline_at(self, run_start: datetime) -> datetime | None:
        if self.deadline is None:
            return None
        if self.deadline.at is not None:
            return self.deadline.at.astimezone(timezone.utc)
        return run_start + timedelta(seconds=self.deadline.relative_seconds or 0)

    def to_job_fields(self) -> dict[str, Any]:
        """Keyword arguments for :class:`~airflow_ai_scheduler.models.Job` (no id, deps or deadline)."""
        fields: dict[str, Any] = {
            "hard_deadline": self.hard_deadline, "is_checkpointable": self.checkpointable,
            "input_data_size_gb": self.data_gb, "data_region": self.data_region, "budget_usd": self.budget_usd,
            "allowed_tiers": self.tiers, "allowed_providers": self.providers, "allowed_regions": self.regions,
        }
        if self.resources is not None:
            fields["resources"] = self.resources
        if self.priority is not None:
            fields["priority"] = self.priority
        if self.checkpoint_interval_seconds:
            fields["checkpoint_interval_hours"] = self.checkpoint_interval_seconds / 3600
        if self.restart_overhead_seconds is not None:
            fields["restart_overhead_hours"] = self.restart_overhead_seconds / 3600
        if self.duration_seconds:
            fields["estimated_duration_hours"] = self.duration_seconds / 3600
        if self.duration_std_seconds is not None:
            fields["duration_std_hours"] = self.duration_std_seconds / 3600
        return fields


def _seconds(value: Any, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) * 3600.0  # bare numbers are hours, as in the manifest
    raise InvalidHintError(f"expected a timedelta or a number of hours, got {value!r}", field=field)


def _field_of(exc: ValidationError) -> tuple[str, str]:
    e = exc.errors(include_url=False)[0]
    loc = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in e["loc"]).replace(".[", "[")
    return loc, e["msg"]


def placement(*, deadline: timedelta | datetime | None = None, hard_deadline: bool = False,
              checkpointable: bool = False, checkpoint_interval: timedelta | float | None = None,
              restart_overhead: timedelta | float | None = None,
              resources: Resources | Mapping[str, Any] | None = None, priority: int | None = None,
              budget_usd: float | None = None, elastic: bool = False, duration: timedelta | float | None = None,
              duration_std: timedelta | float | None = None, data_gb: float = 0.0, data_region: str | None = None,
              tiers: Sequence[str] | None = None, providers: Sequence[str] | None = None,
              regions: Sequence[str] | None = None, base: Mapping[str, Any] | None = None,
              **executor_config: Any) -> dict[str, Any]:
    """An ``executor_config`` carrying a placement hint (plus any other ``executor_config`` keys).

    ``deadline``: a ``timedelta`` after the run starts, or an aware ``datetime``. Durations are
    ``timedelta`` or hours. ``tiers``: ``("spot",)``, ``("on-demand",)`` or both. ``base``: another
    ``placement(...)`` whose hint this one extends.
    """
    raw: dict[str, Any] = dict((base or {}).get(HINT_KEY, {}))
    if deadline is not None:
        if isinstance(deadline, timedelta):
            raw["deadline"] = {"relative_seconds": deadline.total_seconds()}
        elif isinstance(deadline, datetime):
            raw["deadline"] = {"at": deadline.isoformat()}
        else:
            raise InvalidHintError(f"expected a timedelta or an aware datetime, got {deadline!r}", field="deadline")
    if resources is not None:
        raw["resources"] = (resources.model_dump(mode="json", by_alias=True) if isinstance(resources, Resources)
                            else dict(resources))
    simple = {"hard_deadline": hard_deadline or None, "checkpointable": checkpointable or None,
              "priority": priority, "budget_usd": budget_usd, "elastic": elastic or None,
              "data_gb": data_gb or None, "data_region": data_region,
              "tiers": list(tiers) if tiers is not None else None,
              "providers": list(providers) if providers is not None else None,
              "regions": list(regions) if regions is not None else None,
              "checkpoint_interval_seconds": _seconds(checkpoint_interval, "checkpoint_interval"),
              "restart_overhead_seconds": _seconds(restart_overhead, "restart_overhead"),
              "duration_seconds": _seconds(duration, "duration"),
              "duration_std_seconds": _seconds(duration_std, "duration_std")}
    raw.update({k: v for k, v in simple.items() if v is not None})
    try:
        TaskHint.model_validate(raw)
    except ValidationError as exc:
        field, msg = _field_of(exc)
        raise InvalidHintError(msg, field=field) from None
    return {**dict(base or {}), **executor_config, HINT_KEY: raw}


def parse_hint(executor_config: Mapping[str, Any] | None, *, dag_id: str | None = None,
               task_id: str | None = None) -> TaskHint | None:
    """The task's hint, or None without one; :class:`InvalidHintError` names DAG, task and field."""
    if not executor_config or HINT_KEY not in executor_config:
        return None
    raw = executor_config[HINT_KEY]
    if not isinstance(raw, Mapping):
        raise InvalidHintError(f"executor_config[{HINT_KEY!r}] must be a mapping made by placement(), got "
                               f"{type(raw).__name__}", dag_id=dag_id, task_id=task_id, field=HINT_KEY)
    try:
        return TaskHint.model_validate(dict(raw))
    except ValidationError as exc:
        field, msg = _field_of(exc)
        raise InvalidHintError(msg, dag_id=dag_id, task_id=task_id, field=field) from None


def dag_deadline(dag: Any) -> timedelta | datetime | None:
    """The deadline a DAG-level ``DeadlineAlert`` sets, when it is relative to the run or fixed.

    ``DAGRUN_QUEUED_AT``/``DAGRUN_LOGICAL_DATE`` + interval → a timedelta after the run starts; a
    ``FIXED_DATETIME`` reference → that time plus the interval. Other references (e.g. average runtime)
    cannot be resolved before the run and are ignored.
    """
    alerts = getattr(dag, "deadline", None)
    if alerts is None:
        return None
    if not isinstance(alerts, (list, tuple)):
        alerts = [alerts]
    found: list[timedelta | datetime] = []
    for alert in alerts:
        reference, interval = getattr(alert, "reference", None), getattr(alert, "interval", None)
        if not isinstance(interval, timedelta):
            continue
        fixed = getattr(reference, "_datetime", None) or getattr(reference, "datetime", None)
        name = type(reference).__name__.lower()
        if isinstance(fixed, datetime):
            found.append(fixed + interval)
        elif "queued" in name or "logical" in name or "dagrun" in name:
            found.append(interval)
    rel = [f for f in found if isinstance(f, timedelta)]
    if rel:
        return min(rel)
    return min((f for f in found if isinstance(f, datetime)), default=None)
