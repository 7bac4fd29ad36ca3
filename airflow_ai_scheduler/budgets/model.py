"""A budget: who it binds (scope + subject), over what period, how much, and what happens when it is spent."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Scope = Literal["task", "dag", "owner", "tag", "team"]
Period = Literal["run", "day", "month"]
Policy = Literal["hold", "fail"]
SCOPES: tuple[Scope, ...] = ("task", "dag", "owner", "tag", "team")
PERIODS: tuple[Period, ...] = ("run", "day", "month")
POLICIES: tuple[Policy, ...] = ("hold", "fail")


class Budget(BaseModel):
    """``scope``/``subject``: ``dag``/``etl``, ``owner``/``alice``, ``tag``/``finance``, ``team``/``ml``, or
    ``task``/``etl.load`` (``dag_id.task_id``). Amounts are expected USD (planned cost at dispatch, actual
    cost once a try finished). ``policy``: ``hold`` keeps a task queued, with its reason, until the budget
    is raised or the period rolls over; ``fail`` fails it with the reason."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scope: Scope
    subject: str = Field(min_length=1, max_length=250)
    period: Period
    amount_usd: float = Field(ge=0)
    policy: Policy = "hold"
    id: int | None = None
    note: str | None = Field(None, max_length=1000)

    @field_validator("subject")
    @classmethod
    def _task_subject(cls, v: str, info) -> str:  # type: ignore[no-untyped-def]
        if info.data.get("scope") == "task" and "." not in v:
            raise ValueError('a task budget names "dag_id.task_id"')
        return v

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.scope, self.subject, self.period)

    def label(self) -> str:
        per = {"run": "per-run", "day": "daily", "month": "monthly"}[self.period]
        return f"{self.scope} {self.subject!r} {per} budget ${self.amount_usd:g}"


def period_window(period: str, now: datetime) -> tuple[datetime, datetime] | None:
    """[start, end) of the UTC calendar day or month holding ``now``; None for ``run`` (the run is the window)."""
    now = now.astimezone(timezone.utc)
    if period == "day":
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return start, start + timedelta(days=1)
    if period == "month":
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = (start + timedelta(days=32)).replace(day=1)
        return start, end
    return None
