"""Spot policies: after each step (or a preemption), run on spot, on on-demand, or wait?

Pure and pluggable: the executor and the simulator call the same ``decide(state)``. Time is measured from
the task's first start; ``work_done_hours`` is progress that survives a preemption (checkpointed).

Safety. Let *left* = deadline − elapsed, *rem* = work left, *d* = restart overhead, *s* = step. A step on
spot (or waiting) can, in the worst case, make no progress and end with the spot capacity gone; finishing
on on-demand afterwards needs rem + d. So a risky step is allowed only while
``left − max(s, switch overhead) ≥ rem + d``; otherwise the policy takes (or keeps) on-demand, which then
finishes by the deadline. If the job was feasible at the start (W + d ≤ deadline) this invariant holds at
every step, so :class:`AdaptiveSlack` (the default), :class:`SafeUniformProgress`, :class:`UniformProgress` and
:class:`GreedySpot` never miss such a deadline (tested with hypothesis, and on real traces in the simulator).
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from airflow_ai_scheduler.exceptions import ConfigError
from airflow_ai_scheduler.recovery.pool import PoolPrior, PoolStats

Decision = Literal["spot", "on_demand", "wait"]


@dataclass(frozen=True)
class ProgressState:
    elapsed_hours: float           # since the task first started
    work_done_hours: float         # progress kept (checkpointed)
    work_total_hours: float
    deadline_hours: float          # measured from the first start (math.inf: none)
    restart_overhead_hours: float  # lost on every (re)start
    step_hours: float              # decision granularity
    spot_available: bool           # can spot be had right now
    current: Literal["spot", "on_demand", "none"]

    @property
    def remaining(self) -> float:
        return max(0.0, self.work_total_hours - self.work_done_hours)

    @property
    def time_left(self) -> float:
        return self.deadline_hours - self.elapsed_hours


@runtime_checkable
class SpotPolicy(Protocol):
    def decide(self, state: ProgressState) -> Decision: ...


def must_go_on_demand(state: ProgressState, intended: Decision) -> bool:
    """True when ``intended`` (spot or wait) could make the deadline unreachable (see module doc)."""
    if intended == "on_demand" or math.isinf(state.deadline_hours):
        return False
    d = state.restart_overhead_hours
    switch = d if intended == "spot" and state.current != "spot" else 0.0
    lost = max(state.step_hours, switch)
    return state.time_left - lost < state.remaining + d - 1e-9


class AlwaysOnDemand:
    """Never touch spot: the baseline every saving is measured against."""

    name = "on_demand"

    def decide(self, state: ProgressState) -> Decision:
        return "on_demand"


class SpotOnlyNaive:
    """Spot or nothing: wait out every preemption (a baseline that misses deadlines)."""

    name = "spot_only"

    def decide(self, state: ProgressState) -> Decision:
        return "spot" if state.spot_available else "wait"


class GreedySpot:
    """Spot whenever available, wait when not, and on-demand for good once the slack runs out."""

    name = "greedy"

    def decide(self, state: ProgressState) -> Decision:
        if state.current == "on_demand" and not math.isinf(state.deadline_hours):
            return "on_demand"  # once the slack is gone it stays gone
        intended: Decision = "spot" if state.spot_available else "wait"
        return "on_demand" if must_go_on_demand(state, intended) else intended


class UniformProgress:
    """Can't Be Late (NSDI'24) Uniform Progress: keep progress on the line W·t/D; behind it, use
    on-demand when spot is unavailable. Plus the safety net above."""

    name = "uniform_progress"
    hysteresis = False

    def decide(self, state: ProgressState) -> Decision:
        if math.isinf(state.deadline_hours):
            return "spot" if state.spot_available else "wait"
        target = state.work_total_hours * min(1.0, state.elapsed_hours / max(state.deadline_hours, 1e-9))
        behind = state.work_done_hours < target
        if state.spot_available:
            intended: Decision = "spot"
            if self.hysteresis and state.current == "on_demand" and state.work_done_hours < target:
                # behind the line, a switch back would pay an overhead only to fall further behind; a margin
                # above the line (tried: 1-2 overheads) cost more on the real traces (bench/README.md)
                intended = "on_demand"
        else:
            intended = "on_demand" if behind else "wait"
            if self.hysteresis and state.current == "on_demand":
                intended = "on_demand"
        return "on_demand" if must_go_on_demand(state, intended) else intended


class SafeUniformProgress(UniformProgress):
    """The default before :class:`AdaptiveSlack`: Uniform Progress with hysteresis (no flapping between tiers, each switch costs an
    overhead) and the safety net, so a deadline that was feasible at the start is never missed."""

    name = "safe_uniform_progress"
    hysteresis = True


class AdaptiveSlack:
    """Slack-budget policy on the pool's learned availability (see docs/recovery.md, "adaptive_slack").

    *Slack* S = time left − work left − one changeover (none when already on on-demand): the hours that may
    still be lost to waiting and changeovers. *Need* = the slack a spot-only finish would use in expectation,
    R·((1 − a)/a + d/up) for R hours of work, availability fraction a and mean spot uptime ``up`` of the pool
    (:class:`~airflow_ai_scheduler.recovery.pool.PoolStats`, learned online from what this policy has seen,
    starting from a prior). Then:

    - spot is up: take it; from on-demand only when the expected stint pays for its two changeovers
      ((1 − ρ)·min(up, R) ≥ ``stint``·d·(1 + ρ), ρ = spot/on-demand price) and, when the slack no longer
      affords a changeover pair for every uptime still to come, only once spot has been up a while
      (:meth:`selectivity`);
    - spot is down: wait while S ≥ ``kappa``·need (ahead: enough slack for that share of a spot-only
      finish), else run on on-demand, and once on on-demand keep it through the outage;
    - the safety net (:func:`must_go_on_demand`) over all of it: a deadline feasible at the start is never
      missed.

    One instance follows one job at a time: it resets what it learned when ``elapsed_hours`` goes back (a new
    job), and learns only from decisions at most ``2·step`` apart (contiguous observation).
    """

    name = "adaptive_slack"

    def __init__(self, kappa: float = 0.2, stint: float = 1.0, select: float = 1.0,
                 price_ratio: float = 0.5, prior: PoolPrior | None = None) -> None:
        # defaults: the best of a grid search on the train half of the bundled traces (bench/simulate_spot.py
        # --tune, bench/results/simulate_spot_tune.json); price_ratio is a typical spot discount, not tuned
        self.kappa, self.stint, self.select, self.price_ratio = kappa, stint, select, price_ratio
        self.stats = PoolStats(prior or PoolPrior())

    def need(self, remaining: float, overhead: float) -> float:
        """Expected slack a spot-only finish of ``remaining`` hours would use (idle time + restarts)."""
        a = max(self.stats.availability, 0.02)
        return remaining * ((1.0 - a) / a + overhead / max(self.stats.mean_up_hours, 1e-3))

    def selectivity(self, slack: float, remaining: float, overhead: float) -> float:
        """How long spot must have been up before leaving on-demand for it: 0 while the slack affords a
        changeover pair (2·d) for every uptime still to come (remaining·a/up of them), else the age that only
        the affordable fraction of uptimes reach (exponential uptimes), times ``select``."""
        if self.select <= 0 or overhead <= 0:
            return 0.0
        up = max(self.stats.mean_up_hours, 1e-3)
        expected = remaining * self.stats.availability / up
        budget = max(slack, 0.0) / (2 * overhead)
        return 0.0 if budget >= expected else self.select * up * math.log(expected / max(budget, 1e-3))

    def decide(self, state: ProgressState) -> Decision:
        self.stats.observe(state.elapsed_hours, state.spot_available, state.step_hours)
        if math.isinf(state.deadline_hours):
            return "spot" if state.spot_available else "wait"
        d, rem = state.restart_overhead_hours, state.remaining
        slack = state.time_left - rem - (0.0 if state.current == "on_demand" else d)
        need = self.kappa * self.need(rem, d)
        intended: Decision
        if state.spot_available:
            intended = "spot"
            if state.current == "on_demand":
                rho = self.price_ratio
                gain = (1.0 - rho) * min(self.stats.mean_up_hours, rem)
                if gain < self.stint * d * (1.0 + rho) or self.stats.age < self.selectivity(slack, rem, d):
                    intended = "on_demand"
        elif state.current == "on_demand":
            intended = "on_demand"  # through the outage: idling now would cost a changeover when it resumes
        else:
            intended = "wait" if slack >= need else "on_demand"
        return "on_demand" if must_go_on_demand(state, intended) else intended


BUILTIN: dict[str, type] = {p.name: p for p in (AlwaysOnDemand, SpotOnlyNaive, GreedySpot, UniformProgress,
                                                 SafeUniformProgress, AdaptiveSlack)}
DEFAULT_POLICY = AdaptiveSlack.name


def get_policy(name: str = DEFAULT_POLICY) -> SpotPolicy:
    """A built-in policy by name, or a user's by import path (``pkg.mod:Class`` or ``pkg.mod.Class``)."""
    name = (name or DEFAULT_POLICY).strip()
    if name in BUILTIN:
        return BUILTIN[name]()
    if "." not in name and ":" not in name:
        raise ConfigError(f"[ai_scheduler] spot_policy: unknown policy {name!r}; built-in: {sorted(BUILTIN)} "
                          "or an import path such as mypkg.policies:MyPolicy")
    module, _, attr = name.partition(":") if ":" in name else name.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"[ai_scheduler] spot_policy: cannot import {name!r}: {exc}") from None
    policy = obj() if isinstance(obj, type) else obj
    if not callable(getattr(policy, "decide", None)):
        raise ConfigError(f"[ai_scheduler] spot_policy: {name!r} has no decide(state) method")
    return policy
