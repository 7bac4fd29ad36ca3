"""Fleet sizes that follow the forecast: slots (instances) per fleet and hour, their cost, within a budget.

A fleet's task-hours in an hour are the average number of its slots busy in that hour. To run the
forecast demand with the forecast's confidence, an hour gets ``ceil(upper bound / target utilisation)``
slots, between the fleet's ``min_slots`` and ``max_slots``. A slot costs the fleet's price per hour (one
task runs on one instance of the fleet's type, as the executor prices it).

With ``max_cost_usd`` (a budget for the horizon) the recommendation is trimmed, greedily, where it has the
most headroom above the *mean* forecast first, never below the mean; when even the mean does not fit, it
says so instead of pretending.

Pure code: takes the forecast frame (pandas) and plain fleet facts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FleetFacts:
    name: str
    price_per_hour: float
    slots: int  # configured today
    backend: str = "local"
    min_slots: int = 0
    max_slots: int | None = None


@dataclass(frozen=True)
class HourSize:
    ds: Any  # the hour (naive UTC timestamp)
    mean: float
    upper: float
    slots: int
    cost: float


@dataclass
class FleetSizing:
    fleet: FleetFacts
    hours: list[HourSize]

    @property
    def cost(self) -> float:
        return sum(h.cost for h in self.hours)

    def slots_for(self, next_hours: int = 1) -> int:
        """The size to set now: the most any of the next ``next_hours`` hours needs."""
        return max((h.slots for h in self.hours[:max(next_hours, 1)]), default=self.fleet.slots)

    def action(self, next_hours: int = 1) -> str:
        """What applying it means for this backend."""
        n = self.slots_for(next_hours)
        if self.fleet.backend == "local":
            return f"resize the local process pool to {n} worker(s)"
        if self.fleet.backend == "celery":
            peak = max((h.slots for h in self.hours), default=n)
            low = min((h.slots for h in self.hours), default=n)
            return f"celery autoscale max={max(peak, 1)} min={low} (workers started with --autoscale)"
        return f"annotate the fleet's autoscaler with {n} instance(s)"


@dataclass
class SizingPlan:
    fleets: list[FleetSizing]
    level: int
    utilisation: float
    max_cost_usd: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def cost(self) -> float:
        return sum(f.cost for f in self.fleets)

    def by_name(self) -> dict[str, FleetSizing]:
        return {f.fleet.name: f for f in self.fleets}


def _slots_for(demand: float, utilisation: float, f: FleetFacts) -> int:
    n = math.ceil(max(demand, 0.0) / utilisation - 1e-9)
    n = max(n, f.min_slots)
    return min(n, f.max_slots) if f.max_slots is not None else n


def size_fleets(forecast: Any, fleets: Sequence[FleetFacts], *, level: int = 80, utilisation: float = 0.8,
                max_cost_usd: float | None = None) -> SizingPlan:
    """Slots per fleet and hour from ``forecast`` (a :class:`~.model.DemandForecast` of task-hours by fleet,
    or its frame). Fleets without a forecast series keep their ``min_slots``."""
    frame = getattr(forecast, "frame", forecast)
    if not 0 < utilisation <= 1:
        raise ValueError(f"utilisation must be in (0, 1], got {utilisation}")
    hi = f"hi-{level}"
    if hi not in frame.columns:
        raise ValueError(f"the forecast has no {level} % interval (columns: {list(frame.columns)})")
    plan = SizingPlan(fleets=[], level=level, utilisation=utilisation, max_cost_usd=max_cost_usd)
    hours = sorted(frame["ds"].unique())
    for f in fleets:
        mine = frame[frame["unique_id"] == f.name].set_index("ds")
        out = []
        for ds in hours:
            mean, upper = ((float(mine.at[ds, "mean"]), float(mine.at[ds, hi])) if ds in mine.index else (0.0, 0.0))
            n = _slots_for(upper, utilisation, f)
            out.append(HourSize(ds=ds, mean=mean, upper=upper, slots=n, cost=n * f.price_per_hour))
        plan.fleets.append(FleetSizing(fleet=f, hours=out))
    if max_cost_usd is not None:
        _trim(plan, max_cost_usd)
    return plan


def _trim(plan: SizingPlan, budget: float) -> None:
    """Remove slots, most headroom above the mean first, until the plan fits ``budget`` or hits the mean."""
    floors: dict[tuple[int, int], int] = {}
    for i, fs in enumerate(plan.fleets):
        for j, h in enumerate(fs.hours):
            floors[(i, j)] = _slots_for(h.mean, 1.0, fs.fleet)
    while plan.cost > budget + 1e-9:
        best, room = None, 0.0
        for (i, j), floor in floors.items():
            h = plan.fleets[i].hours[j]
            headroom = (h.slots - floor) * plan.fleets[i].fleet.price_per_hour
            if h.slots > floor and headroom > room:
                best, room = (i, j), headroom
        if best is None:
            plan.notes.append(f"even the mean forecast costs ${plan.cost:.2f}, over the budget ${budget:.2f}: "
                              "sized for the mean; budgets will hold tasks at dispatch")
            return
        i, j = best
        fs = plan.fleets[i]
        h = fs.hours[j]
        fs.hours[j] = HourSize(ds=h.ds, mean=h.mean, upper=h.upper, slots=h.slots - 1,
                               cost=(h.slots - 1) * fs.fleet.price_per_hour)
    plan.notes.append(f"trimmed to the budget ${budget:.2f}: some hours are sized below the "
                      f"{plan.level} % upper bound")


def facts_from_specs(specs: Sequence[Any], offers: Mapping[str, Any]) -> list[FleetFacts]:
    """FleetFacts from fleet specs (``options.min_slots``/``max_slots``) and their priced offers."""
    out = []
    for s in specs:
        o = offers.get(s.name)
        out.append(FleetFacts(name=s.name, price_per_hour=float(o.price_per_hour) if o else 0.0, slots=s.slots,
                              backend=s.backend, min_slots=int(s.options.get("min_slots", 0)),
                              max_slots=int(s.options["max_slots"]) if "max_slots" in s.options else None))
    return out
