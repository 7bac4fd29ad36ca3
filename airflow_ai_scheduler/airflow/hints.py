"""What DAG authors tag tasks with: deadline, checkpointable, resources, priority, budget, tiers, data.

    from airflow_ai_scheduler.airflow.hints import Resources, placement

    @task(executor_config=placement(deadline=timedelta(hours=2), checkpointable=True,
                                    resources=Resources(vcpus=4, memory_gib=16, gpus=1), tiers=("spot",)))
    def train(): ...

The hint is stored under one key (:data:`HINT_KEY`) of ``executor_config`` as plain JSON (durations in
seconds, datetimes as ISO-8601 UTC), because ``executor_config`` survives DAG serialization and a custom
operator attribute does not. Other ``executor_config`` keys (``pod_override``, ECS ``run_task`` kwargs)
are passed through untouched.

DAG-wide defaults: ``default_args={"executor_config": placement(...)}`` reaches every task that sets no
``executor_config`` of its own — Airflow *replaces* (does not merge) ``executor_config`` from
``default_args``. To extend shared defaults in one task, pass them as ``base``:
``placement(priority=5, base=DEFAULTS)`` (the task's fields win; ``base``'s other keys are kept).

A malformed hint — through :func:`placement`, :class:`Resources`, a raw ``executor_config`` dict or
``default_args`` — fails the DAG's import with one line naming the DAG, the task and the field: the values
are checked when the DAG is parsed, by the cluster policy in :mod:`.policy` (at the ``placement()`` call
the task does not exist yet, so the call itself records what is wrong instead of raising). Values that can
never be met fail there too: a zero budget, a hard deadline already in the past. A DAG-level
``DeadlineAlert`` is read by :func:`dag_deadline` / :func:`resolve_dag_deadline`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from airflow_ai_scheduler.exceptions import InvalidHintError
from airflow_ai_scheduler.models import Resources as ResourcesModel

HINT_KEY = "ai_scheduler"
#: where placement() records what was wrong with its arguments (reported when the DAG is parsed)
PROBLEMS_KEY = "__problems__"

log = logging.getLogger(__name__)

__all__ = ["HINT_KEY", "Resources", "TaskHint", "check_at_import", "dag_deadline", "parse_hint", "placement",
           "resolve_dag_deadline"]


class Resources(dict):  # type: ignore[type-arg]
    """A task's resource needs, for ``placement(resources=Resources(vcpus=4, memory_gib=16, gpus=1))``:
    ``vcpus``, ``memory_gib``, ``gpus``, ``gpu_type`` (e.g. ``"A100"``). Values are checked when the DAG is
    parsed, so a bad one (``vcpus=-1``, a misspelt name) fails the DAG's import naming the DAG, the task and
    the field, like every other hint. Reads like the model: ``Resources(vcpus=4).vcpus == 4``."""

    def __init__(self, **fields: Any) -> None:
        super().__init__({k: v for k, v in fields.items() if v is not None})

    def __getattr__(self, name: str) -> Any:
        if name in self:
            return self[name]
        field = ResourcesModel.model_fields.get(name)
        if field is None:
            raise AttributeError(name)
        return field.default


class Deadline(BaseModel):
    """Stored as ``{"relativeSeconds": N}`` (after the run starts) or ``{"at": "<ISO UTC>"}``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    relative_seconds: float | None = Field(None, gt=0, alias="relativeSeconds")
    at: datetime | None = None

    @field_validator("at")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("an absolute deadline needs a timezone (e.g. datetime(..., tzinfo=timezone.utc))")
        return v.astimezone(timezone.utc) if v is not None else v

    @model_validator(mode="after")
    def _exactly_one(self) -> Deadline:
        if (self.relative_seconds is None) == (self.at is None):
            raise ValueError('give exactly one of "relativeSeconds" and "at"')
        return self


class TaskHint(BaseModel):
    """The stored hint, validated. Field names are the :func:`placement` keywords users see in errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    deadline: Deadline | None = None
    hard_deadline: bool = False
    checkpointable: bool = False
    checkpoint_interval_seconds: float | None = Field(None, gt=0)
    restart_overhead_seconds: float | None = Field(None, ge=0)
    resources: ResourcesModel | None = None
    priority: int | None = Field(None, ge=1, le=10, description="1 (least) to 10 (most important)")
    budget_usd: float | None = Field(None, gt=0, description="max expected cost of the task, USD")
    elastic: bool = False
    parallel_fraction: float | None = Field(None, gt=0, le=1, description="elastic: share of the work that "
                                            "scales with vCPUs (Amdahl's law)")
    duration_seconds: float | None = Field(None, gt=0, description="expected runtime when there is no history")
    duration_std_seconds: float | None = Field(None, ge=0)
    data_gb: float = Field(0.0, ge=0)
    data_region: str | None = Field(None, pattern=r"^[a-z0-9-]+:[a-z0-9-]+$",
                                    description='"provider:region" where the input data lives')
    tiers: list[Literal["spot", "on-demand"]] | None = Field(None, min_length=1)
    rightsize: bool = Field(False, description="plan with the measured needs (p95 of recent tries plus "
                            "headroom) instead of resources, once there are enough measured tries")
    providers: list[str] | None = Field(None, min_length=1)
    regions: list[str] | None = Field(None, min_length=1)
    delay_cost_per_hour: float | None = Field(None, ge=0, description="USD per hour the task finishes after its "
                                              "earliest possible end")
    max_latency_ms: float | None = Field(None, gt=0, description="p95 round-trip ms to endpoint_region")
    endpoint_region: str | None = Field(None, pattern=r"^[a-z0-9-]+:[a-z0-9-]+$", validate_default=True,
                                        description='"provider:region" the task serves or reads from')

    @field_validator("endpoint_region")
    @classmethod
    def _sla_pair(cls, v: str | None, info: ValidationInfo) -> str | None:
        if "max_latency_ms" in info.data and (v is None) != (info.data["max_latency_ms"] is None):
            raise ValueError("max_latency_ms and endpoint_region go together: give both or neither")
        return v

    def deadline_at(self, run_start: datetime) -> datetime | None:
        """The absolute deadline of this task in a run that started at ``run_start`` (UTC), or None."""
        if self.deadline is None:
            return None
        if self.deadline.at is not None:
            return self.deadline.at
        return run_start.astimezone(timezone.utc) + timedelta(seconds=self.deadline.relative_seconds or 0)

    def to_job_fields(self) -> dict[str, Any]:
        """Keyword arguments for :class:`~airflow_ai_scheduler.models.Job`: everything but ``job_id``,
        ``dependencies`` and ``deadline`` (use :meth:`deadline_at`). ``estimated_duration_hours`` is
        present only when the hint gives a duration; history, when there is some, should win."""
        fields: dict[str, Any] = {
            "hard_deadline": self.hard_deadline, "is_checkpointable": self.checkpointable,
            "input_data_size_gb": self.data_gb, "data_region": self.data_region, "budget_usd": self.budget_usd,
            "allowed_tiers": self.tiers, "allowed_providers": self.providers, "allowed_regions": self.regions,
            "elastic": self.elastic,
        }
        for name in ("delay_cost_per_hour", "max_latency_ms", "endpoint_region"):
            if getattr(self, name) is not None:
                fields[name] = getattr(self, name)
        if self.parallel_fraction is not None:
            fields["parallel_fraction"] = self.parallel_fraction
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


# -- building and parsing -------------------------------------------------------------------------------

def _seconds(value: Any, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) * 3600.0  # bare numbers are hours, as in the manifest
    raise InvalidHintError(f"expected a timedelta or a number of hours, got {value!r}", field=field)


def _names(value: Any, field: str) -> list[Any] | None:
    if value is None:
        return None
    if isinstance(value, str):  # tiers="spot" means ("spot",), not ["s", "p", "o", "t"]
        return [value]
    if not isinstance(value, (Sequence, set, frozenset)):
        raise InvalidHintError(f"expected a list of names, got {value!r}", field=field)
    return list(value)


def _converted(problems: list[dict[str, str]], fn: Any, *args: Any) -> Any:
    """``fn(*args)``, or None with the problem recorded (placement() never raises: see the module doc)."""
    try:
        return fn(*args)
    except InvalidHintError as exc:
        problems.append({"field": exc.field or "hint", "message": str(exc)})
        return None


def _field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    # users write deadline=..., never deadline.relativeSeconds: name the keyword they wrote
    return "deadline" if out.startswith("deadline.") else out


def _error(exc: ValidationError) -> tuple[str, str]:
    """(first bad field, message listing every problem) of a validation error."""
    errors = exc.errors(include_url=False)
    fields = [_field_path(tuple(e["loc"])) or "hint" for e in errors]
    if len(errors) == 1:
        return fields[0], errors[0]["msg"]
    return fields[0], "; ".join(f"{f}: {e['msg']}" for f, e in zip(fields, errors, strict=True))


def _deadline(deadline: Any) -> dict[str, Any]:
    if isinstance(deadline, timedelta):
        return {"relativeSeconds": deadline.total_seconds()}
    if isinstance(deadline, datetime):
        if deadline.tzinfo is None:
            raise InvalidHintError("an absolute deadline needs a timezone (e.g. datetime(..., tzinfo=timezone.utc))",
                                   field="deadline")
        return {"at": deadline.astimezone(timezone.utc).isoformat()}
    raise InvalidHintError(f"expected a timedelta (after the run starts) or an aware datetime, got {deadline!r}",
                           field="deadline")


def _parallel_fraction(elastic: Any) -> float | None:
    if isinstance(elastic, bool) or elastic is None:
        return None
    if isinstance(elastic, (int, float)) and 0 < elastic <= 1:
        return float(elastic)
    raise InvalidHintError(f"expected True/False or the parallel share of the work in (0, 1], got {elastic!r}",
                           field="elastic")


def placement(*, deadline: timedelta | datetime | None = None, hard_deadline: bool = False,
              checkpointable: bool = False, checkpoint_interval: timedelta | float | None = None,
              restart_overhead: timedelta | float | None = None,
              resources: Resources | Mapping[str, Any] | None = None, priority: int | None = None,
              budget_usd: float | None = None, elastic: bool | float = False, duration: timedelta | float | None = None,
              duration_std: timedelta | float | None = None, data_gb: float = 0.0, data_region: str | None = None,
              tiers: Sequence[str] | None = None, providers: Sequence[str] | None = None,
              regions: Sequence[str] | None = None, rightsize: bool = False,
              delay_cost_per_hour: float | None = None, max_latency_ms: float | None = None,
              endpoint_region: str | None = None, base: Mapping[str, Any] | None = None,
              **executor_config: Any) -> dict[str, Any]:
    """An ``executor_config`` carrying a placement hint (plus any other ``executor_config`` keys).

    ``deadline``: a ``timedelta`` after the run starts, or a timezone-aware ``datetime``.
    ``hard_deadline``: the planner must meet it (else it is a soft, priced target). Durations
    (``checkpoint_interval``, ``restart_overhead``, ``duration`` = expected runtime while there is no
    history, ``duration_std``) are ``timedelta`` or hours. ``resources``: :class:`Resources` or a dict
    (``vcpus``, ``memory_gib``, ``gpus``, ``gpu_type``). ``priority``: higher = more important.
    ``budget_usd``: max expected cost of the task. ``elastic``: the work scales with vCPUs, so
    a bigger offer than ``resources`` names may run it faster, up to 4x: ``True`` = linearly, a number in
    (0, 1) = the share of the work that scales (Amdahl's law: 0.9 on 4x the vCPUs runs 3.1x faster).
    ``data_gb``/``data_region`` (``"aws:us-east-1"``): input data and where it lives.
    ``tiers``: ``("spot",)``, ``("on-demand",)`` or both; ``providers``/``regions`` restrict where it runs.
    ``delay_cost_per_hour``: what an hour of delay of this task costs (USD; default ``[ai_scheduler]
    delay_cost_per_hour`` or the DAG param ``ai_scheduler_delay_cost_per_hour``). ``max_latency_ms`` with
    ``endpoint_region`` (``"aws:us-east-1"``): run only where the p95 round trip to that region is within it.
    ``rightsize``: let the planner use what the task was measured to need (p95 of its recent tries plus
    headroom, :mod:`airflow_ai_scheduler.usage.rightsize`) instead of ``resources`` once it has enough
    measured tries; ``resources`` stays the request until then.
    ``base``: another ``placement(...)`` whose hint and keys this one extends.

    Nothing is raised here: a bad value is recorded and fails the DAG's import when it is parsed, naming
    the DAG, the task and the field (the task does not exist yet at this call).
    """
    base_hint = (base or {}).get(HINT_KEY, {})
    raw: dict[str, Any] = {k: v for k, v in base_hint.items() if k != PROBLEMS_KEY} if isinstance(
        base_hint, Mapping) else {}
    problems: list[dict[str, str]] = list(base_hint.get(PROBLEMS_KEY, [])) if isinstance(base_hint, Mapping) else []
    if deadline is not None:
        raw["deadline"] = _converted(problems, _deadline, deadline)
    if resources is not None:
        if isinstance(resources, ResourcesModel):
            raw["resources"] = resources.model_dump(mode="json", by_alias=False)
        elif isinstance(resources, Mapping):
            raw["resources"] = dict(resources)
        else:
            problems.append({"field": "resources", "message": f"expected Resources(...) or a dict, got {resources!r}"})
    simple = {"hard_deadline": hard_deadline or None, "checkpointable": checkpointable or None,
              "priority": priority, "budget_usd": budget_usd, "elastic": bool(elastic) or None,
              "parallel_fraction": _converted(problems, _parallel_fraction, elastic),
              "data_gb": data_gb or None, "data_region": data_region, "rightsize": rightsize or None,
              "tiers": _converted(problems, _names, tiers, "tiers"),
              "providers": _converted(problems, _names, providers, "providers"),
              "regions": _converted(problems, _names, regions, "regions"), "delay_cost_per_hour": delay_cost_per_hour,
              "max_latency_ms": max_latency_ms, "endpoint_region": endpoint_region,
              "checkpoint_interval_seconds": _converted(problems, _seconds, checkpoint_interval, "checkpoint_interval"),
              "restart_overhead_seconds": _converted(problems, _seconds, restart_overhead, "restart_overhead"),
              "duration_seconds": _converted(problems, _seconds, duration, "duration"),
              "duration_std_seconds": _converted(problems, _seconds, duration_std, "duration_std")}
    raw.update({k: v for k, v in simple.items() if v is not None})
    raw = {k: v for k, v in raw.items() if v is not None}
    if problems:
        raw[PROBLEMS_KEY] = problems
    return {**dict(base or {}), **executor_config, HINT_KEY: raw}


def _user_field(field: str) -> str:
    """The stored name → the :func:`placement` keyword (``duration_seconds`` → ``duration``)."""
    head, sep, rest = field.partition(".")
    for stored in ("checkpoint_interval", "restart_overhead", "duration_std", "duration"):
        if head == f"{stored}_seconds":
            return stored + sep + rest
    return "elastic" if head == "parallel_fraction" else field


def parse_hint(executor_config: Mapping[str, Any] | None, *, dag_id: str | None = None,
               task_id: str | None = None) -> TaskHint | None:
    """The task's hint, or None without one; :class:`InvalidHintError` names DAG, task and field."""
    if not executor_config or not isinstance(executor_config, Mapping) or HINT_KEY not in executor_config:
        return None
    raw = executor_config[HINT_KEY]
    if not isinstance(raw, Mapping):
        raise InvalidHintError(f"executor_config[{HINT_KEY!r}] must be a mapping made by placement(), got "
                               f"{type(raw).__name__}", dag_id=dag_id, task_id=task_id, field=HINT_KEY)
    problems = raw.get(PROBLEMS_KEY)
    if problems:  # what placement() could not even convert
        first = problems[0]
        message = "; ".join(_bare(p["message"]) if len(problems) == 1 else f"{p['field']}: {_bare(p['message'])}"
                            for p in problems)
        raise InvalidHintError(message, dag_id=dag_id, task_id=task_id, field=str(first.get("field", "hint")))
    try:
        return TaskHint.model_validate(dict(raw))
    except ValidationError as exc:
        field, msg = _error(exc)
        raise InvalidHintError(msg, dag_id=dag_id, task_id=task_id, field=_user_field(field)) from None


def _bare(message: str) -> str:
    """An InvalidHintError's message without its ``invalid ... hint (...): `` prefix."""
    return message.split("): ", 1)[1] if message.startswith("invalid ai_scheduler placement hint (") else message


def check_at_import(executor_config: Mapping[str, Any] | None, *, dag_id: str | None, task_id: str | None,
                    now: datetime | None = None) -> TaskHint | None:
    """:func:`parse_hint` plus what can never be met, known when the DAG is parsed: a hard deadline that is
    already in the past. (What cannot be met by the configured fleets — 64 GPUs, spot only with no spot
    fleet — is found when the run is planned, and shown on the run page, the report and the task's Event
    Log.)"""
    hint = parse_hint(executor_config, dag_id=dag_id, task_id=task_id)
    now = now or datetime.now(timezone.utc)
    if hint is not None and hint.hard_deadline and hint.deadline is not None and hint.deadline.at is not None \
            and hint.deadline.at <= now:
        raise InvalidHintError(f"hard deadline {hint.deadline.at.isoformat()} is already in the past: no run can "
                               "meet it (make it relative to the run's start, e.g. deadline=timedelta(hours=2))",
                               dag_id=dag_id, task_id=task_id, field="deadline")
    return hint


# -- the DAG-level DeadlineAlert ------------------------------------------------------------------------

#: DeadlineReference types resolvable from the run alone (others, e.g. AVERAGE_RUNTIME, need history)
_RELATIVE = {"DagRunQueuedAtDeadline": "queued_at", "DagRunLogicalDateDeadline": "logical_date"}
_FIXED = "FixedDatetimeDeadline"


def _interval(value: Any) -> timedelta | None:
    """An alert's interval as Airflow keeps it: a timedelta, serde ``{"__data__": secs}``, or bare seconds.
    A ``VariableInterval`` (read from a Variable when the run is created) is not resolvable here."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, Mapping):
        data = value.get("__data__", value.get("__var"))
        return _interval(data) if not isinstance(data, Mapping) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(seconds=value)
    return None


def _definitions(alerts: Sequence[Any], session: Any) -> Iterator[tuple[str, datetime | None, timedelta | None]]:
    """(reference type name, fixed datetime, interval) of each alert, whatever form the DAG holds it in:
    SDK ``DeadlineAlert`` objects (parsed DAG), encoded dicts (``DagSerialization.from_dict``), or the
    ``deadline_alert`` row ids a DAG read from the metadata DB carries (looked up with ``session``)."""
    ids = [a for a in alerts if isinstance(a, str)]
    rows = _alert_rows(ids, session) if ids else []
    for alert in [a for a in alerts if not isinstance(a, str)] + rows:
        if isinstance(alert, Mapping):
            data = alert.get("__var", alert)
            ref, interval = data.get("reference") or {}, data.get("interval")
            name = str(ref.get("reference_type", "")) if isinstance(ref, Mapping) else ""
            ts = ref.get("datetime") if isinstance(ref, Mapping) else None
            fixed = datetime.fromtimestamp(ts, timezone.utc) if isinstance(ts, (int, float)) else None
        else:
            ref, interval = getattr(alert, "reference", None), getattr(alert, "interval", None)
            name = type(ref).__name__
            fixed = getattr(ref, "_datetime", None)
        yield name, fixed if isinstance(fixed, datetime) else None, _interval(interval)


def _alert_rows(ids: list[str], session: Any) -> list[dict[str, Any]]:
    from uuid import UUID

    from airflow.models.deadline_alert import DeadlineAlert as DeadlineAlertModel
    from sqlalchemy import select

    def read(s: Any) -> list[dict[str, Any]]:
        stmt = select(DeadlineAlertModel).where(DeadlineAlertModel.id.in_([UUID(i) for i in ids]))
        return [{"reference": r.reference, "interval": r.interval} for r in s.scalars(stmt)]

    try:
        if session is not None:
            return read(session)
        from airflow.utils.session import create_session

        # not scoped: the scoped session is the caller's (e.g. the scheduler loop's) and closing it would
        # detach everything it holds
        with create_session(scoped=False) as s:
            return read(s)
    except Exception:  # an unknown deadline must not stop planning: the run is planned without it
        log.warning("could not read the DAG's deadline alerts %s", ids, exc_info=True)
        return []


def _alerts(dag: Any) -> list[Any]:
    alerts = getattr(dag, "deadline", None)
    if not alerts:
        return []
    return list(alerts) if isinstance(alerts, (list, tuple)) else [alerts]


def dag_deadline(dag: Any, *, session: Any = None) -> timedelta | datetime | None:
    """The deadline a DAG-level ``DeadlineAlert`` sets for the run's final tasks, or None.

    ``DAGRUN_QUEUED_AT``/``DAGRUN_LOGICAL_DATE`` + interval → a ``timedelta`` after the run starts (an
    approximation for the logical date; :func:`resolve_dag_deadline` is exact); ``FIXED_DATETIME(dt)`` +
    interval → an aware ``datetime``. With several alerts the earliest relative one wins, else the earliest
    absolute one. References that need history (``AVERAGE_RUNTIME``) or a Variable are ignored. Works on
    an SDK DAG and on a ``SerializedDAG``; one read from the DB holds alert ids, looked up with ``session``
    (a new session when None — scheduler, api-server or dag-processor only).
    """
    rel: list[timedelta] = []
    fixed_at: list[datetime] = []
    for name, fixed, interval in _definitions(_alerts(dag), session):
        if interval is None:
            continue
        if name == _FIXED and fixed is not None:
            fixed_at.append(fixed + interval)
        elif name in _RELATIVE:
            rel.append(interval)
    if rel:
        return min(rel)
    return min(fixed_at, default=None)


def resolve_dag_deadline(dag: Any, *, queued_at: datetime | None, logical_date: datetime | None = None,
                         session: Any = None) -> datetime | None:
    """The earliest absolute deadline the DAG's ``DeadlineAlert`` s set for one run, or None."""
    times = {"queued_at": queued_at, "logical_date": logical_date}
    found: list[datetime] = []
    for name, fixed, interval in _definitions(_alerts(dag), session):
        anchor = fixed if name == _FIXED else times.get(_RELATIVE.get(name, ""))
        if interval is not None and anchor is not None:
            found.append(anchor.astimezone(timezone.utc) + interval)
    return min(found, default=None)
