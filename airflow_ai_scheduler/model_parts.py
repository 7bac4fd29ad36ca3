"""Parts of the manifest and the plan for objectives beyond cost: commitments (reserved instances, savings
plans), carbon-intensity forecasts, measured latencies — and what a plan reports about them.

Pure pydantic like :mod:`airflow_ai_scheduler.models`, which re-exports these; split out only to keep that
module readable. JSON keys are camelCase.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal

from pydantic import (
    AliasChoices,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True,
        serialize_by_alias=True,
    )


def _utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc)


class Commitment(_Model):
    """Capacity paid for whether it is used or not: its marginal price is zero up to the commitment.

    ``reserved``: ``instances`` machines of the covered offers at once (reserved instances, committed-use
    discounts for a machine type). ``savings_plan``: up to ``usdPerHour`` of covered usage per hour, each
    covered hour of an offer counting its on-demand price × (1 − ``discount``). Both cover on-demand offers
    only, filtered by ``offerIds`` or ``provider`` / ``regions`` / ``instanceTypes`` (a filter left out
    matches all). ``amortizedUsdPerHour``: what the commitment costs per hour, used or not (for reserved
    instances the upfront payment spread over the term plus the hourly fee); reported, never optimised.
    """

    commitment_id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")
    kind: Literal["reserved", "savings_plan"]
    instances: int | None = Field(None, ge=1, description="reserved: machines at once")
    usd_per_hour: float | None = Field(None, gt=0, description="savings_plan: covered spend per hour")
    discount: float = Field(0.0, ge=0, lt=1, description="savings_plan: share off the on-demand price")
    amortized_usd_per_hour: float | None = Field(None, ge=0, description="paid per hour, used or not")
    offer_ids: list[str] | None = None
    provider: str | None = None
    regions: list[str] | None = None
    instance_types: list[str] | None = None

    @model_validator(mode="after")
    def _amount(self) -> Commitment:
        if self.kind == "reserved" and self.instances is None:
            raise ValueError("a reserved commitment needs 'instances'")
        if self.kind == "savings_plan" and self.usd_per_hour is None:
            raise ValueError("a savings_plan commitment needs 'usdPerHour'")
        return self


class CarbonPoint(_Model):
    """Grid carbon intensity of ``location`` from ``from`` on (until its next point): a forecast."""

    location: str = Field(pattern=r"^[^:]+:[^:]+$", description='"provider:region"')
    from_: AwareDatetime = Field(validation_alias=AliasChoices("from", "from_"), serialization_alias="from")
    g_co2e_per_kwh: float = Field(ge=0, validation_alias=AliasChoices("gCo2ePerKwh", "g_co2e_per_kwh"),
                                  serialization_alias="gCo2ePerKwh")

    _norm = field_validator("from_")(lambda v: _utc(v))


class LatencyPair(_Model):
    """A measured p95 round-trip latency between two locations; overrides the bundled estimate."""

    from_: str = Field(validation_alias=AliasChoices("from", "from_"), serialization_alias="from",
                       pattern=r"^[^:]+:[^:]+$")
    to: str = Field(pattern=r"^[^:]+:[^:]+$")
    p95_ms: float = Field(gt=0)


class CommitmentUse(_Model):
    """How a plan uses one commitment over its span (``now`` to the plan's last expected end)."""

    commitment_id: str
    kind: str
    span_hours: float
    used_hours: float = Field(description="instance-hours (reserved) or covered USD-hours at the discounted "
                                          "rate ÷ usdPerHour (savings plan) the plan puts on it")
    utilization: float = Field(description="used ÷ (commitment × span), 0..1")
    amortized_cost: float | None = Field(None, description="amortizedUsdPerHour × span: paid, used or not")
    on_demand_cost: float = Field(description="what the covered placements would cost at on-demand prices")
    spot_cost: float | None = Field(None, description="… at the same type's spot price in that region, when "
                                                      "an offer says")
    placements: int = 0
