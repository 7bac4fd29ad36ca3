"""The public data model: the job manifest (planner input) and the plan (planner output).

Pure pydantic, no Airflow. JSON keys are camelCase (``jobId``, ``estimatedDurationHours``) as in the
original design; Python attributes are snake_case. ``ai-scheduler schema manifest|plan`` exports the JSON
Schema. Load untrusted input with :func:`load_manifest` / :func:`load_plan`, which report every problem
at once with its JSON path.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from airflow_ai_scheduler.exceptions import ManifestError, Problem
from airflow_ai_scheduler.model_parts import CarbonPoint, Commitment, CommitmentUse, LatencyPair

__all__ = ["CarbonPoint", "Commitment", "CommitmentUse", "LatencyPair"]  # re-exported; the rest by name

Tier = Literal["spot", "on-demand"]
TIERS: tuple[Tier, ...] = ("spot", "on-demand")


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True,
        serialize_by_alias=True,
    )


def _utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc)


class Weights(_Model):
    """Ω = cost·USD + tardiness·(priority-weighted hours late) + risk·(priority-weighted probability)
    + carbon·(kg CO2e) + the delay cost (USD, priced per job by ``delayCostPerHour``)."""

    cost: float = Field(1.0, ge=0, description="weight per expected USD")
    tardiness: float = Field(10.0, ge=0, description="weight per priority-weighted hour past a deadline")
    risk: float = Field(1.0, ge=0, description="weight per priority-weighted probability of a miss or an interruption")
    carbon: float = Field(0.0, ge=0, description="w_carbon: USD per kg CO2e (0 = carbon reported, not optimised)")


class Resources(_Model):
    vcpus: float = Field(1.0, gt=0)
    memory_gib: float = Field(1.0, gt=0)
    gpus: int = Field(0, ge=0)
    gpu_type: str | None = Field(None, description="e.g. A100, V100, T4, L4, H100; None = any")


class Job(_Model):
    job_id: str = Field(min_length=1)
    priority: int = Field(1, description="higher = more important; scales tardiness and risk")
    deadline: AwareDatetime | None = None
    hard_deadline: bool = False
    estimated_duration_hours: float = Field(gt=0)
    duration_std_hours: float | None = Field(None, ge=0)
    resources: Resources = Field(default_factory=Resources)
    dependencies: list[str] = Field(default_factory=list)
    is_checkpointable: bool = False
    checkpoint_interval_hours: float | None = Field(None, gt=0)
    restart_overhead_hours: float | None = Field(None, ge=0)
    input_data_size_gb: float = Field(
        0.0, ge=0, validation_alias=AliasChoices("inputDataSizeGB", "input_data_size_gb"),
        serialization_alias="inputDataSizeGB",
    )
    data_region: str | None = Field(None, description='"provider:region" where the input data lives')
    budget_usd: float | None = Field(None, ge=0, description="max expected cost of this job")
    allowed_providers: list[str] | None = None
    allowed_regions: list[str] | None = Field(None, description='region names or "provider:region"')
    allowed_tiers: list[Tier] | None = None
    elastic: bool = Field(False, description="the work scales with vCPUs: on an offer with more vCPUs than "
                          "resources.vcpus it runs faster (Amdahl's law with parallelFraction), up to 4x "
                          "(ELASTIC_MAX_SPEEDUP)")
    parallel_fraction: float = Field(1.0, gt=0, le=1, description="elastic jobs: the share of the work that "
                                     "scales with vCPUs (Amdahl's law); 1 = linear")
    delay_cost_per_hour: float | None = Field(None, ge=0, description="USD per hour this job finishes after its "
                                              "earliest possible end; None = the manifest's delayCostPerHour")
    endpoint_region: str | None = Field(None, description='"provider:region" of the endpoint this job serves '
                                        "or reads from (latency SLA)")
    max_latency_ms: float | None = Field(None, gt=0, description="p95 round-trip ms to endpointRegion the job's "
                                         "region must be within")

    _norm_deadline = field_validator("deadline")(lambda v: _utc(v) if v else v)

    @field_validator("data_region", "endpoint_region")
    @classmethod
    def _check_data_region(cls, v: str | None) -> str | None:
        if v is not None and (v.count(":") != 1 or not all(v.split(":"))):
            raise ValueError('must look like "provider:region", e.g. "aws:us-east-1"')
        return v

    @model_validator(mode="after")
    def _sla_pair(self) -> Job:
        if (self.endpoint_region is None) != (self.max_latency_ms is None):
            raise ValueError("maxLatencyMs and endpointRegion go together: give both or neither")
        return self


class PricePoint(_Model):
    from_: AwareDatetime = Field(validation_alias=AliasChoices("from", "from_"), serialization_alias="from")
    price_per_hour: float = Field(ge=0)

    _norm = field_validator("from_")(lambda v: _utc(v))


class Offer(_Model):
    offer_id: str = Field(min_length=1)
    provider: str
    region: str
    instance_type: str
    vcpus: float = Field(gt=0)
    memory_gib: float = Field(gt=0)
    gpus: int = Field(0, ge=0)
    gpu_type: str | None = None
    tier: Tier
    price_per_hour: float = Field(ge=0)
    price_schedule: list[PricePoint] | None = Field(
        None, description="time-varying price: each point holds from its `from` until the next point"
    )
    interruption_rate_per_hour: float = Field(0.0, ge=0, description="Poisson rate λ of spot interruptions")
    capacity: int | None = Field(None, ge=1, description="max concurrent instances in this pool; None = unlimited")
    carbon_intensity_g_per_kwh: float | None = Field(None, ge=0, description="grid g CO2e per kWh where it runs; "
                                                     "None = the bundled table for its region")
    power_watts: float | None = Field(None, ge=0, description="average draw while a task runs (before PUE); "
                                      "None = the power model for its type")

    @property
    def location(self) -> str:
        return f"{self.provider}:{self.region}"

    def price_at(self, t: datetime) -> float:
        """The hourly price in force at ``t`` (the base price before the schedule's first point)."""
        price = self.price_per_hour
        for p in self.price_schedule or []:
            if p.from_ > t:
                break
            price = p.price_per_hour
        return price

    @field_validator("price_schedule")
    @classmethod
    def _sorted(cls, v: list[PricePoint] | None) -> list[PricePoint] | None:
        if v:
            froms = [p.from_ for p in v]
            if froms != sorted(froms):
                raise ValueError("priceSchedule points must be in increasing `from` order")
        return v


class EgressRate(_Model):
    from_: str = Field(validation_alias=AliasChoices("from", "from_"), serialization_alias="from")
    to: str
    price_per_gb: float = Field(ge=0)


class Egress(_Model):
    """Data transfer between locations. Defaults follow the clouds' list prices (docs/objective.md)."""

    same_region_per_gb: float = Field(0.0, ge=0)
    inter_region_per_gb: float = Field(0.02, ge=0, description="same provider, another region")
    internet_per_gb: float = Field(0.09, ge=0, description="to another provider")
    bandwidth_gbps: float = Field(1.0, gt=0, description="for transfer time between locations")
    overrides: list[EgressRate] = Field(default_factory=list, description='exact "provider:region" pairs')


class Manifest(_Model):
    now: AwareDatetime
    weights: Weights = Field(default_factory=Weights)
    jobs: list[Job] = Field(min_length=1)
    offers: list[Offer] | None = Field(None, description="absent: the bundled price catalog supplies them")
    egress: Egress = Field(default_factory=Egress)
    budget_usd: float | None = Field(None, ge=0, description="max expected cost of the whole plan")
    carbon_budget_kg: float | None = Field(None, ge=0, description="max expected kg CO2e of the whole plan")
    carbon_forecast: list[CarbonPoint] | None = Field(None, description="time-varying grid intensity per location; "
                                                      "locations not listed use the bundled table")
    delay_cost_per_hour: float = Field(0.0, ge=0, description="default USD per hour a job finishes after its "
                                       "earliest possible end, for jobs no deadline bounds (neither "
                                       "theirs nor a downstream job's); a job's own value always applies")
    commitments: list[Commitment] = Field(default_factory=list, description="reserved instances and savings plans")
    latency: list[LatencyPair] = Field(default_factory=list, description="measured p95 latencies; override the "
                                       "bundled table")

    _norm_now = field_validator("now")(lambda v: _utc(v))

    @model_validator(mode="after")
    def _check_graph(self) -> Manifest:
        problems = manifest_graph_problems(self.jobs)
        if self.offers is not None:
            seen: dict[str, int] = {}
            for i, o in enumerate(self.offers):
                if o.offer_id in seen:
                    problems.append(Problem(f"$.offers[{i}].offerId", f"duplicate offerId {o.offer_id!r}"))
                seen.setdefault(o.offer_id, i)
                if "@" in o.offer_id:
                    problems.append(Problem(f"$.offers[{i}].offerId", "'@' is reserved for commitment-covered "
                                                                      "variants of an offer"))
        ids = [c.commitment_id for c in self.commitments]
        for i, c in enumerate(self.commitments):
            if ids.count(c.commitment_id) > 1 and ids.index(c.commitment_id) != i:
                problems.append(Problem(f"$.commitments[{i}].commitmentId",
                                        f"duplicate commitmentId {c.commitment_id!r}"))
        if problems:
            raise ManifestError(problems)
        return self

    # -- helpers -----------------------------------------------------------------------------------
    @property
    def job_map(self) -> dict[str, Job]:
        return {j.job_id: j for j in self.jobs}

    def hours(self, t: datetime) -> float:
        """Hours from ``now`` to ``t``."""
        return (t - self.now).total_seconds() / 3600.0

    def at(self, hours: float) -> datetime:
        from datetime import timedelta

        return self.now + timedelta(hours=hours)

    def content_hash(self) -> str:
        return hashlib.sha256(self.model_dump_json(exclude={"now"}).encode()).hexdigest()[:16]


def manifest_graph_problems(jobs: list[Job]) -> list[Problem]:
    """Duplicate ids, unknown dependencies and dependency cycles, each with its JSON path."""
    problems: list[Problem] = []
    index: dict[str, int] = {}
    for i, j in enumerate(jobs):
        if j.job_id in index:
            problems.append(Problem(f"$.jobs[{i}].jobId", f"duplicate jobId {j.job_id!r}"))
        else:
            index[j.job_id] = i
    for i, j in enumerate(jobs):
        for k, dep in enumerate(j.dependencies):
            if dep not in index:
                problems.append(Problem(f"$.jobs[{i}].dependencies[{k}]",
                                        f"job {j.job_id!r} depends on unknown job {dep!r}"))
            elif dep == j.job_id:
                problems.append(Problem(f"$.jobs[{i}].dependencies[{k}]", f"job {j.job_id!r} depends on itself"))
    cycle = find_cycle({j.job_id: [d for d in j.dependencies if d in index and d != j.job_id] for j in jobs})
    if cycle:
        problems.append(Problem(f"$.jobs[{index[cycle[0]]}].dependencies",
                                "dependency cycle: " + " -> ".join([*cycle, cycle[0]])))
    return problems


def find_cycle(deps: dict[str, list[str]]) -> list[str] | None:
    """One dependency cycle as a list of job ids, or None. Iterative DFS (graphs of 10,000+ jobs)."""
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(deps, white)
    for root in deps:
        if color[root] != white:
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        path: list[str] = [root]
        color[root] = grey
        while stack:
            node, i = stack[-1]
            children = deps.get(node, [])
            if i < len(children):
                stack[-1] = (node, i + 1)
                child = children[i]
                if color.get(child, black) == grey:
                    return path[path.index(child):]
                if color.get(child) == white:
                    color[child] = grey
                    stack.append((child, 0))
                    path.append(child)
            else:
                color[node] = black
                stack.pop()
                path.pop()
    return None


def topological_order(jobs: Iterable[Job]) -> list[Job]:
    """Jobs so that every dependency comes before its dependents (stable with respect to input order)."""
    jobs = list(jobs)
    by_id = {j.job_id: j for j in jobs}
    indeg = {j.job_id: 0 for j in jobs}
    children: dict[str, list[str]] = {j.job_id: [] for j in jobs}
    for j in jobs:
        for d in j.dependencies:
            indeg[j.job_id] += 1
            children[d].append(j.job_id)
    ready = [j.job_id for j in jobs if indeg[j.job_id] == 0]
    out: list[Job] = []
    while ready:
        nxt: list[str] = []
        for jid in ready:
            out.append(by_id[jid])
            for c in children[jid]:
                indeg[c] -= 1
                if indeg[c] == 0:
                    nxt.append(c)
        ready = nxt
    return out


# -- the plan ------------------------------------------------------------------------------------------

class Placement(_Model):
    job_id: str
    offer_id: str
    provider: str
    region: str
    instance_type: str
    tier: Tier
    start_time: AwareDatetime
    expected_end_time: AwareDatetime
    estimated_cost: float = Field(ge=0, description="expected USD incl. spot rework and data egress")
    estimated_co2e_kg: float | None = Field(None, ge=0, alias="estimatedCo2eKg", description="expected kg CO2e (energy × PUE × grid "
                                            "intensity, rework included)")
    commitment: str | None = Field(None, description="commitmentId when the placement runs on committed capacity "
                                   "(marginal price 0)")
    rationale: str = ""

    _norm = field_validator("start_time", "expected_end_time")(lambda v: _utc(v))


class Objective(_Model):
    cost: float
    tardiness: float
    risk: float
    total: float
    co2e_kg: float = Field(0.0, alias="co2eKg", description="expected kg CO2e of the plan (in Ω with weights.carbon)")
    delay_cost: float = Field(0.0, description="USD of delay past the earliest possible ends (delayCostPerHour)")


class Violation(_Model):
    job_id: str | None
    rule: str
    detail: str


class Plan(_Model):
    planner: str
    placements: list[Placement]
    objective: Objective
    lower_bound: float | None = None
    gap: float | None = Field(None, description="(total - lowerBound) / total when a bound is known")
    status: str = Field("feasible", description="optimal | feasible | repaired | fallback | invalid")
    planning_seconds: float = 0.0
    violations: list[Violation] = Field(default_factory=list)
    manifest_hash: str | None = None
    notes: list[str] = Field(default_factory=list)
    commitments: list[CommitmentUse] = Field(default_factory=list, description="use of each commitment")

    @property
    def placement_map(self) -> dict[str, Placement]:
        return {p.job_id: p for p in self.placements}

    @property
    def is_valid(self) -> bool:
        return not self.violations


# -- loading untrusted input ---------------------------------------------------------------------------

def json_path(loc: tuple[Any, ...]) -> str:
    out = "$"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _problems_from(err: ValidationError, data: Any) -> list[Problem]:
    problems = []
    for e in err.errors(include_url=False):
        inner = (e.get("ctx") or {}).get("error")
        if isinstance(inner, ManifestError):  # graph checks report their own paths
            problems.extend(inner.problems)
            continue
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-after")))
        msg = e["msg"]
        if len(loc) >= 2 and loc[0] == "jobs" and isinstance(loc[1], int):
            try:
                jid = data["jobs"][loc[1]].get("jobId")
                if jid:
                    msg = f"job {jid!r}: {msg}"
            except (KeyError, IndexError, TypeError, AttributeError):
                pass
        problems.append(Problem(json_path(loc), msg))
    return problems


def load_manifest(data: str | bytes | dict[str, Any]) -> Manifest:
    """Parse a manifest; raise :class:`ManifestError` listing every problem with its JSON path."""
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise ManifestError([Problem("$", f"not valid JSON: {exc}")]) from None
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(_problems_from(exc, data)) from None


def load_plan(data: str | bytes | dict[str, Any]) -> Plan:
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise ManifestError([Problem("$", f"not valid JSON: {exc}")], what="plan") from None
    try:
        return Plan.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(_problems_from(exc, data), what="plan") from None
