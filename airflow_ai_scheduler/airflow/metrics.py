"""The executor's metrics, through Airflow's own Stats (StatsD / OpenTelemetry, as ``[metrics]`` says).

Names (all under ``ai_scheduler.``; tags in brackets):

* ``tasks_held`` gauge — task instances the executor holds, per stage and reason kind [stage, reason]
* ``launched`` counter [fleet, tier] · ``fallback`` counter: routed to a safe default fleet [reason]
* ``moved`` counter: a due task whose planned fleet stayed full long past its planned start, run on a free
  fleet that fits it [fleet]
* ``preempted`` counter [fleet] · ``relaunched`` counter [fleet] · ``preemption_budget_spent`` counter
* ``plan`` timing: one configured-planner call [planner] · ``plan_fast`` timing: claim + manifest + greedy
* ``planned_cost_usd`` gauge: a run's planned cost when planned [dag_id]
* ``actual_cost_microusd`` counter: runtime × price at launch, at each try's end [fleet, tier]

A metrics backend that fails never stops the executor.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)
PREFIX = "ai_scheduler."


class Metrics:
    def __init__(self, **tags: Any) -> None:
        self.tags = {k: v for k, v in tags.items() if v is not None}

    def _stats(self) -> Any:
        from airflow.observability import stats

        return stats

    def _tags(self, tags: dict[str, Any]) -> dict[str, Any]:
        return {**self.tags, **{k: str(v) for k, v in tags.items() if v is not None}}

    def incr(self, name: str, count: int = 1, **tags: Any) -> None:
        try:
            self._stats().incr(_name(name), count, tags=self._tags(tags))
        except Exception:  # metrics are an aid
            log.debug("metric %s not sent", name, exc_info=True)

    def gauge(self, name: str, value: float, **tags: Any) -> None:
        try:
            self._stats().gauge(_name(name), value, tags=self._tags(tags))
        except Exception:
            log.debug("metric %s not sent", name, exc_info=True)

    def timing(self, name: str, seconds: float, **tags: Any) -> None:
        from datetime import timedelta

        try:
            self._stats().timing(_name(name), timedelta(seconds=seconds), tags=self._tags(tags))
        except Exception:
            log.debug("metric %s not sent", name, exc_info=True)


def _name(name: str) -> str:
    return name if name.startswith(PREFIX) else PREFIX + name
