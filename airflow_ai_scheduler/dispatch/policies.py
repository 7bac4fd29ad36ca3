"""The built-in dispatch policies (pure; registered in :mod:`.base`'s registry on import).

Each orders the due candidates of one fleet, best first; the executor launches the first ``free_slots``.
Every order ends with a stable tie-break on waiting time (longest first) and then on the candidate's
position, so equal candidates keep Airflow's order and no policy depends on dict or set iteration.

========================  =====================================================================================
``priority``              the hint's priority (clamped to 1–10) highest first, then ``priority_weight``
``fair_share``            the DAG (or owner) with the fewest tasks running on the fleet first: nobody
                          monopolises a fleet while others wait; within a group by priority
``deadline``              priority boosted as the deadline nears: ``+max_boost`` at zero slack, linearly less
                          up to ``boost_window_hours`` of slack; then least slack first
``round_robin``           one task per DAG (or owner) in turn, continuing after the group served last
``sjf``                   shortest expected runtime first (from history); ``aging`` > 0 adds a
                          waiting-time credit so long tasks are not starved for ever
``cost``                  cheapest expected cost on this fleet first
``fifo``                  longest-waiting first (arrival order)
``edf``                   earliest effective deadline first; tasks without a deadline after those with one
``least_slack``           least slack first: deadline − now − expected runtime
========================  =====================================================================================
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime

from airflow_ai_scheduler.dispatch.base import Candidate, DispatchPolicy, FleetView, register_policy
from airflow_ai_scheduler.exceptions import ConfigError

_FAR = float("inf")


def clamp_priority(p: int) -> int:
    return max(1, min(10, int(p)))


def slack_hours(c: Candidate, now: datetime) -> float:
    """Hours to spare if ``c`` started now: deadline − now − expected runtime (inf without a deadline)."""
    if c.deadline is None:
        return _FAR
    return (c.deadline - now).total_seconds() / 3600.0 - c.expected_runtime_hours


def _sorted(candidates: Sequence[Candidate], key: Callable[[Candidate], tuple]) -> list[Candidate]:
    indexed = list(enumerate(candidates))
    indexed.sort(key=lambda ic: (*key(ic[1]), -ic[1].waiting_seconds, ic[0]))
    return [c for _, c in indexed]


def _group_of(by: str) -> Callable[[Candidate], str]:
    if by == "dag":
        return lambda c: c.dag_id
    if by == "owner":
        return lambda c: c.owner or c.dag_id
    raise ConfigError(f"dispatch_policy option 'by': {by!r} is not one of 'dag', 'owner'")


class PriorityPolicy(DispatchPolicy):
    """Static priority: the placement hint's priority (1–10), then Airflow's ``priority_weight``."""

    name = "priority"

    def order(self, candidates: Sequence[Candidate], fleet: FleetView, now: datetime) -> list[Candidate]:
        return _sorted(candidates, lambda c: (-clamp_priority(c.priority), -c.priority_weight))


class FifoPolicy(DispatchPolicy):
    name = "fifo"

    def order(self, candidates: Sequence[Candidate], fleet: FleetView, now: datetime) -> list[Candidate]:
        return _sorted(candidates, lambda c: ())


class ShortestJobFirstPolicy(DispatchPolicy):
    """Shortest expected runtime first. ``aging``: hours of runtime credited per hour waited (0 = pure SJF)."""

    name = "sjf"

    def __init__(self, aging: float = 0.0) -> None:
        if aging < 0:
            raise ConfigError(f"dispatch_policy sjf: aging must be >= 0, got {aging!r}")
        self.aging = float(aging)

    def order(self, candidates: Sequence[Candidate], fleet: FleetView, now: datetime) -> list[Candidate]:
        return _sorted(candidates, lambda c: (c.expected_runtime_hours - self.aging * c.waiting_seconds / 3600.0,))


class CostPolicy(DispatchPolicy):
    """Cheapest expected cost first; ties by priority."""

    name = "cost"

    def order(self, candidates: Sequence[Candidate], fleet: FleetView, now: datetime) -> list[Candidate]:
        return _sorted(candidates, lambda c: (c.expected_cost, -clamp_priority(c.priority)))


class EarliestDeadlinePolicy(DispatchPolicy):
    name = "edf"

    def order(self, candidates: Sequence[Candidate], fleet: FleetView, now: datetime) -> list[Candidate]:
        return _sorted(candidates, lambda c: (c.deadline is None, c.deadline.timestamp() if c.deadline else 0.0))


class LeastSlackPolicy(DispatchPolicy):
    name = "least_slack"

    def order(self, candidates: Sequence[Candidate], fleet: FleetView, now: datetime) -> list[Candidate]:
        return _sorted(candidates, lambda c: (slack_hours(c, now),))


class DeadlineAwarePolicy(DispatchPolicy):
    """Priority with automatic boosting as a deadline nears.

    effective priority = priority + ``max_boost`` × (1 − slack / ``boost_window_hours``), clipped to
    [priority, priority + max_boost]: no boost with a window or more of slack, the full boost at zero
    (or negative) slack. Ties: least slack, then ``priority_weight``.
    """

    name = "deadline"

    def __init__(self, boost_window_hours: float = 1.0, max_boost: float = 10.0) -> None:
        if boost_window_hours <= 0 or max_boost < 0:
            raise ConfigError("dispatch_policy deadline: boost_window_hours must be > 0 and max_boost >= 0")
        self.window = float(boost_window_hours)
        self.max_boost = float(max_boost)

    def effective_priority(self, c: Candidate, now: datetime) -> float:
        slack = slack_hours(c, now)
        boost = 0.0 if slack == _FAR else self.max_boost * min(1.0, max(0.0, 1.0 - slack / self.window))
        return clamp_priority(c.priority) + boost

    def order(self, candidates: Sequence[Candidate], fleet: FleetView, now: datetime) -> list[Candidate]:
        return _sorted(candidates, lambda c: (-self.effective_priority(c, now), slack_hours(c, now),
                                              -c.priority_weight))


class FairSharePolicy(DispatchPolicy):
    """Max-min fair share of the fleet's slots across DAGs (``by="dag"``) or owners (``by="owner"``).

    The next pick always goes to the group with the fewest tasks running on the fleet, counting the picks
    already made in this order; within a group by priority, then ``priority_weight``. A group with 50 tasks
    due therefore gets one slot per turn like a group with one, never the whole fleet while others wait.
    """

    name = "fair_share"

    def __init__(self, by: str = "owner") -> None:
        self.group = _group_of(by)
        self.by = by

    def order(self, candidates: Sequence[Candidate], fleet: FleetView, now: datetime) -> list[Candidate]:
        running = fleet.running_by_dag if self.by == "dag" else fleet.running_by_owner
        queues: dict[str, list[Candidate]] = defaultdict(list)
        for c in PriorityPolicy().order(candidates, fleet, now):
            queues[self.group(c)].append(c)
        first_seen = {g: i for i, g in enumerate(queues)}
        heap = [(running.get(g, 0), first_seen[g], g) for g in queues]
        heapq.heapify(heap)
        pos = dict.fromkeys(queues, 0)
        out: list[Candidate] = []
        while heap:
            share, rank, g = heapq.heappop(heap)
            out.append(queues[g][pos[g]])
            pos[g] += 1
            if pos[g] < len(queues[g]):
                heapq.heappush(heap, (share + 1, rank, g))
        return out


class RoundRobinPolicy(DispatchPolicy):
    """One task per group (DAG or owner) in turn, starting after the group this fleet served last."""

    name = "round_robin"

    def __init__(self, by: str = "dag") -> None:
        self.group = _group_of(by)
        self.last: dict[str, str] = {}  # fleet → group served last

    def order(self, candidates: Sequence[Candidate], fleet: FleetView, now: datetime) -> list[Candidate]:
        queues: dict[str, list[Candidate]] = defaultdict(list)
        for c in FifoPolicy().order(candidates, fleet, now):
            queues[self.group(c)].append(c)
        groups = sorted(queues)
        last = self.last.get(fleet.name)
        start = next((i for i, g in enumerate(groups) if last is not None and g > last), 0)
        groups = groups[start:] + groups[:start]
        out: list[Candidate] = []
        depth = 0
        while len(out) < len(candidates):
            out.extend(queues[g][depth] for g in groups if depth < len(queues[g]))
            depth += 1
        return out

    def on_dispatch(self, candidate: Candidate, fleet: FleetView, now: datetime) -> None:
        self.last[fleet.name] = self.group(candidate)


BUILTIN_POLICIES: dict[str, type[DispatchPolicy]] = {
    p.name: p for p in (PriorityPolicy, FairSharePolicy, DeadlineAwarePolicy, RoundRobinPolicy,
                        ShortestJobFirstPolicy, CostPolicy, FifoPolicy, EarliestDeadlinePolicy, LeastSlackPolicy)
}
for _name, _cls in BUILTIN_POLICIES.items():
    register_policy(_name, _cls)
