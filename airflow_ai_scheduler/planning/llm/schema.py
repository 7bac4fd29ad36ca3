"""What crosses the LLM boundary: the answer the model must fill, the history it is shown, the audit record."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class PlacementAnswer(_Camel):
    job_id: str = Field(description="a jobId from the manifest table, exactly")
    offer_id: str = Field(description="an offerId from that job's candidate list, exactly")
    start_time: str | None = Field(None, description="ISO-8601 UTC start, e.g. 2026-11-23T06:00:00Z; "
                                                     "omit to start as soon as dependencies finish")
    rationale: str = Field("", description="one short sentence")


class LLMPlanAnswer(_Camel):
    """The structured output the model fills (pydantic-ai turns it into the JSON schema it sends)."""

    placements: list[PlacementAnswer]
    notes: str | None = None


@dataclass(frozen=True)
class TaskStats:
    mean_hours: float
    std_hours: float
    n: int


@dataclass(frozen=True)
class RunCost:
    run_id: str
    planned_usd: float
    actual_usd: float


@dataclass(frozen=True)
class PlanningHistory:
    """History as plain data (the planner stays pure): built by the caller from the history store."""

    task_runtimes: dict[str, TaskStats] = field(default_factory=dict)
    pool_interruptions: dict[str, int] = field(default_factory=dict)  # offerId/pool -> recent interruptions
    evidence: dict[str, Any] = field(default_factory=dict)  # task_id -> planning.suitability.TaskEvidence
    recent_runs: list[RunCost] = field(default_factory=list)


Outcome = Literal["accepted", "repaired", "fallback", "dry-run"]


class RepairSummary(_Camel):
    kept: list[str] = Field(default_factory=list)
    changed: list[str] = Field(default_factory=list, description="another offer than the model chose")
    retimed: list[str] = Field(default_factory=list, description="the model's offer, another start time")
    added: list[str] = Field(default_factory=list)


class LLMExchange(_Camel):
    """One model call, stored with the plan. Never holds the API key (it lives only in the provider)."""

    prompt_hash: str
    prompt: str
    response_text: str | None = None
    response_json: dict | None = None
    model: str
    latency_seconds: float = 0.0
    input_tokens: int | None = None
    output_tokens: int | None = None
    attempts: int = 0
    outcome: Outcome = "fallback"
    reason: str = ""
    repair: RepairSummary = Field(default_factory=RepairSummary)
