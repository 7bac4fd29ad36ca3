"""State features of one dispatch decision (numpy only): one row per candidate, the fleet's state repeated.

The environment (training), the ``rl`` dispatch policy (the scheduler) and the history replay (fine-tuning)
all build their inputs here from the same :class:`Candidate`/:class:`FleetView`, so what the agent learned
on is what it sees in production.

Per candidate: expected runtime, slack to its effective deadline (and whether it has one, or is already
late), hint priority, ``priority_weight``, time waited (absolute, relative to its runtime and to the
starvation threshold), tasks it unblocks, its run's remaining work, its DAG's and owner's share of the
running slots, how many of the due tasks are its DAG's, its expected cost relative to the dearest, and its
rank among the due tasks by slack, runtime and waiting time. Fleet: number of due tasks and their total
work (queue length), utilisation and free slots, preemptions and failures in the last hour, the share of
due tasks already late, the tier.

At most :data:`MAX_CANDIDATES` candidates are scored: above that, :func:`shortlist` keeps the first few of
each of the least-slack, shortest-first, longest-waiting and priority orders (in turn, without repeats).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from airflow_ai_scheduler.dispatch.base import Candidate, FleetView

MAX_CANDIDATES = 16
STARVATION_FACTOR, STARVATION_FLOOR_H = 10.0, 0.25
CANDIDATE_FEATURES = (
    "runtime", "slack", "has_deadline", "late", "priority", "priority_weight", "waited", "waited_per_runtime",
    "starvation", "descendants", "run_remaining", "dag_share", "owner_share", "dag_queue_share", "cost",
    "slack_rank", "runtime_rank", "wait_rank",
)
FLEET_FEATURES = ("queue_len", "queue_work", "utilisation", "free_share", "preemptions", "failures",
                  "late_share", "spot", "free_per_due")
N_FEATURES = len(CANDIDATE_FEATURES) + len(FLEET_FEATURES)
_NO_DEADLINE = 8.0  # hours of slack a task without a deadline is taken to have


def _slack(c: Candidate, now: datetime) -> float | None:
    if c.deadline is None:
        return None
    return (c.deadline - now).total_seconds() / 3600.0 - c.expected_runtime_hours


def _ranks(values: Sequence[float]) -> np.ndarray:
    n = len(values)
    if n <= 1:
        return np.zeros(n, dtype=np.float32)
    order = np.argsort(np.asarray(values, dtype=np.float64), kind="stable")
    ranks = np.empty(n, dtype=np.float32)
    ranks[order] = np.arange(n, dtype=np.float32) / (n - 1)
    return ranks


def shortlist(candidates: Sequence[Candidate], now: datetime, k: int = MAX_CANDIDATES) -> list[Candidate]:
    """The candidates the agent scores (all of them up to ``k``), in a deterministic order."""
    n = len(candidates)
    if n <= k:
        return list(candidates)
    slack = [s if (s := _slack(c, now)) is not None else math.inf for c in candidates]
    wait = [-c.waiting_seconds for c in candidates]
    idx = range(n)
    orders = [
        sorted(idx, key=lambda i: (slack[i], wait[i])),
        sorted(idx, key=lambda i: (candidates[i].expected_runtime_hours, wait[i])),
        sorted(idx, key=wait.__getitem__),
        sorted(idx, key=lambda i: (-candidates[i].priority, -candidates[i].priority_weight, wait[i])),
    ]
    out: list[int] = []
    seen: set[int] = set()
    depth = 0
    while len(out) < k:
        for o in orders:
            i = o[depth]
            if i not in seen and len(out) < k:
                seen.add(i)
                out.append(i)
        depth += 1
    return [candidates[i] for i in out]


def featurize(candidates: Sequence[Candidate], fleet: FleetView, now: datetime) -> np.ndarray:
    """``[len(candidates), N_FEATURES]`` float32, every value roughly in [-1, 3]."""
    n = len(candidates)
    x = np.zeros((n, N_FEATURES), dtype=np.float32)
    if n == 0:
        return x
    slots = max(1, fleet.slots)
    dag_count = Counter(c.dag_id for c in candidates)
    max_cost = max((c.expected_cost for c in candidates), default=0.0) or 1.0
    slacks, runtimes, waits = [], [], []
    late = 0
    for i, c in enumerate(candidates):
        rt = max(c.expected_runtime_hours, 1 / 3600)
        wait_h = c.waiting_seconds / 3600.0
        s = _slack(c, now)
        slack = _NO_DEADLINE if s is None else min(max(s, -2.0), _NO_DEADLINE)
        late += s is not None and s < 0
        slacks.append(slack)
        runtimes.append(rt)
        waits.append(-wait_h)
        x[i, :15] = (
            math.log1p(rt * 60) / 5, slack / 4, s is not None, s is not None and s < 0,
            max(1, min(10, c.priority)) / 10, math.log1p(max(0, c.priority_weight)) / 4,
            math.log1p(wait_h * 60) / 5, math.log1p(wait_h / rt) / 4,
            min(2.0, wait_h / max(STARVATION_FACTOR * rt, STARVATION_FLOOR_H)),
            math.log1p(c.descendants) / 4, math.log1p(c.run_remaining_hours) / 3,
            fleet.running_by_dag.get(c.dag_id, 0) / slots,
            fleet.running_by_owner.get(c.owner or c.dag_id, 0) / slots,
            dag_count[c.dag_id] / n, c.expected_cost / max_cost,
        )
    x[:, 15] = _ranks(slacks)
    x[:, 16] = _ranks(runtimes)
    x[:, 17] = _ranks(waits)
    running = max(0, fleet.slots - fleet.free_slots)
    x[:, 18:] = np.asarray((
        math.log1p(n) / 4, math.log1p(sum(runtimes)) / 4, min(1.5, running / slots), fleet.free_slots / slots,
        math.log1p(fleet.recent_preemptions) / 3, math.log1p(fleet.recent_failures) / 3, late / n,
        fleet.tier == "spot", min(1.0, fleet.free_slots / n),
    ), dtype=np.float32)
    return x
