"""Spot capacity loss on the local fleets, injected on purpose so the recovery path runs for real.

Configured per spot fleet in its ``options``:

* ``preempt_task_ids`` (optional): only these tasks lose capacity by ``preempt_after_seconds`` or the rate.
* ``preempt_after_seconds`` (+ ``preempt_max``, default 1): a task is killed that many seconds after it
  starts, at most ``preempt_max`` times in the fleet's life — deterministic, for demos and tests;
* ``preemption_rate_per_hour`` (+ ``time_scale_seconds``, seconds of wall time per modelled hour, default
  3600, and ``seed``): Poisson interruptions at that rate;
* ``preemption_trace`` (a trace name of :mod:`airflow_ai_scheduler.simulate.traces`, + ``time_scale_seconds``):
  a real spot availability trace replayed from the fleet's start; a task is killed when availability
  drops to zero, and no spot capacity is offered while it is zero.
"""

from __future__ import annotations

import random
import time
from typing import Any


class PreemptionInjector:
    def __init__(self, options: dict[str, Any], clock: Any = time.monotonic) -> None:
        self.clock = clock
        self.t0 = clock()
        self.after = options.get("preempt_after_seconds")
        self.max = int(options.get("preempt_max", 1))
        self.rate = options.get("preemption_rate_per_hour")
        self.scale = float(options.get("time_scale_seconds", 3600.0))
        self.rng = random.Random(options.get("seed", 0))
        self.count = 0
        self.task_ids = set(options.get("preempt_task_ids") or ())  # empty: any task may lose capacity
        self._deadline: dict[Any, float] = {}
        self.trace = None
        if options.get("preemption_trace"):
            from airflow_ai_scheduler.simulate.traces import load_trace

            self.trace = load_trace(options["preemption_trace"])

    @property
    def enabled(self) -> bool:
        return bool(self.after is not None or self.rate or self.trace is not None)

    def available(self) -> bool:
        """Can spot capacity be had right now (always, unless a trace says otherwise)."""
        if self.trace is None:
            return True
        hours = (self.clock() - self.t0) / self.scale
        return bool(self.trace.available_at(hours))

    def started(self, key: Any) -> None:
        if self.task_ids and getattr(key, "task_id", None) not in self.task_ids:
            return
        now = self.clock()
        if self.after is not None and self.count < self.max:
            self._deadline[key] = now + float(self.after)
        elif self.rate:
            self._deadline[key] = now + self.rng.expovariate(float(self.rate)) * self.scale

    def finished(self, key: Any) -> None:
        self._deadline.pop(key, None)

    def due(self, key: Any) -> bool:
        """Should ``key``'s capacity be taken away now?"""
        if self.trace is not None and not self.available():
            return True
        deadline = self._deadline.get(key)
        if deadline is None or self.clock() < deadline:
            return False
        if self.after is not None and self.count >= self.max:
            return False
        self.count += 1
        self._deadline.pop(key, None)
        return True
