"""Pool capacity as greedy planning and pricing given choices track it (see :class:`PoolState`)."""

from __future__ import annotations

from bisect import bisect_right, insort

from airflow_ai_scheduler.models import Offer
from airflow_ai_scheduler.planning.commitments import Resource, Resources

_EPS = 1e-9


class PoolState:
    """Per-pool machines (``capacity`` of them), each free from some time; unlimited pools need none. Each
    pool keeps its machines' free-from times sorted, so both questions are a bisection.

    With commitments (planning/commitments.py) an offer may draw on several capacities — its own pool and
    a commitment's — given by ``resources``; a savings plan's capacity is in USD per hour, so it is kept as
    the intervals placed on it and checked over the whole run of the job."""

    def __init__(self, resources: Resources | None = None) -> None:
        self._free: dict[str, list[float]] = {}
        self._used: dict[str, list[tuple[float, float, float]]] = {}
        self._resources = resources if resources is not None and resources.shared else None

    def earliest(self, offer: Offer, t: float, duration: float = 0.0) -> float:
        if self._resources is None:
            return self._machine_earliest(offer.offer_id, offer.capacity, t)
        res = self._resources.of(offer)
        while True:  # the latest of every capacity's earliest, until all agree
            t0 = t
            for r in res:
                t = (self._machine_earliest(r.resource_id, int(r.capacity), t) if r.demand == 1.0
                     and float(r.capacity).is_integer() else self._profile_earliest(r, t, duration))
            if t == t0:
                return t

    def _machine_earliest(self, key: str, capacity: int | None, t: float) -> float:
        if capacity is None:
            return t
        free = self._free.get(key)
        if free is None or len(free) < capacity:
            return t
        return t if free[0] <= t else free[0]

    def _profile_earliest(self, r: Resource, t: float, duration: float) -> float:
        used = self._used.get(r.resource_id, [])
        for s in sorted({t, *(e for _, e, _ in used if e > t)}):
            points = [s, *(a for a, _, _ in used if s < a < s + duration)]
            if all(sum(d for a, e, d in used if a <= p < e) + r.demand <= r.capacity + 1e-9 for p in points):
                return s
        return t  # unreachable: after the last end nothing is used

    def take(self, offer: Offer, start: float, end: float) -> None:
        if self._resources is None:
            self._machine_take(offer.offer_id, offer.capacity, start, end)
            return
        for r in self._resources.of(offer):
            if r.demand == 1.0 and float(r.capacity).is_integer():
                self._machine_take(r.resource_id, int(r.capacity), start, end)
            else:
                self._used.setdefault(r.resource_id, []).append((start, end, r.demand))

    def _machine_take(self, key: str, capacity: int | None, start: float, end: float) -> None:
        if capacity is None:
            return
        free = self._free.setdefault(key, [])
        if len(free) < capacity:
            insort(free, end)
            return
        # the busiest machine that is free by ``start`` (best fit keeps earlier gaps for others); a
        # given start that finds none (priced choices, not planned ones) overlaps: the validator says so
        i = bisect_right(free, start + _EPS) - 1
        f = free.pop(max(i, 0))
        insort(free, max(f, end))
