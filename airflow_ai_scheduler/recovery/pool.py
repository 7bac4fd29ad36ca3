"""Availability statistics of one spot pool, learned online from what a policy observes (pure, no Airflow).

A prior (what the pool did historically — by default the train half of the bundled traces, see
bench/simulate_spot.py) counts as ``weight_hours`` of observation; each contiguous observation of the pool
(a decision at most ``2·step`` after the previous one) adds its hours to "up" or "down" and each change of
state starts a run. Estimates are posterior means: the fraction of time spot can be had, and the mean length
of an uptime (hours up / uptimes ended: the estimate for exponential uptimes when the last one is still
running).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PoolPrior:
    #: availability fraction, mean uptime and mean downtime (hours) of the train half of the bundled traces
    availability: float = 0.66
    up_hours: float = 3.0
    down_hours: float = 1.6
    weight_hours: float = 24.0  #: how many hours of observation the prior is worth


class PoolStats:
    def __init__(self, prior: PoolPrior | None = None) -> None:
        self.prior = prior or PoolPrior()
        self.reset()

    def reset(self) -> None:
        self.up_hours = self.down_hours = 0.0
        self.up_runs = 0
        self.age = 0.0  #: hours the pool has been in its current state (as far as observed)
        self.last_t: float | None = None
        self.last_avail: bool | None = None

    def observe(self, t: float, available: bool, step: float) -> None:
        """One observation at ``t`` hours (since the job's first start); a ``t`` before the last one is a new job."""
        last = self.last_t
        if last is not None and t < last - 1e-9:
            self.reset()
            last = None
        if last is not None and t - last <= 2 * step + 1e-9:
            if self.last_avail:
                self.up_hours += t - last
            else:
                self.down_hours += t - last
            if self.last_avail and not available:
                self.up_runs += 1  # an uptime ended (a preemption, for a task on spot)
            self.age = self.age + (t - last) if available == self.last_avail else 0.0
        else:
            self.age = 0.0
        self.last_t, self.last_avail = t, available

    @property
    def availability(self) -> float:
        w = self.prior.weight_hours
        return (self.up_hours + self.prior.availability * w) / (self.up_hours + self.down_hours + w)

    @property
    def mean_up_hours(self) -> float:
        k = self.prior.weight_hours / (self.prior.up_hours + self.prior.down_hours)  # prior uptimes
        return (self.up_hours + self.prior.up_hours * k) / (self.up_runs + k)
