"""Capacity-aware labellings: move data-connected groups of jobs to another location, priced by greedy.

The location relaxation (relaxation.py) labels every data-moving job with the location where it and its
data are cheapest *without* capacity. On a workflow whose wide first step all wants the same few spot
pools, that is one location for everything: montage-472's 48 reprojections, 0.35 h each, all labelled
azure:eastus, where only 18 of the 48 machines they need at once are the cheap ones — the other 30 ran
on the location's dearer pools. Moving a whole data-connected part of the workflow (one band of the
mosaic: its reprojections, their difference fits, the band's background and co-add) to aws:us-west-2
uses that location's cheap pools instead and moves almost no data across regions; moving jobs one at a
time — all the LNS can do — pays egress on every edge it cuts and is never accepted.

The search: from a seed (an entry or exit job of the labelled part), grow a group breadth first along
data-moving edges to a share of the labelled jobs (½, ⅓, ¼, ⅛, 1/16); relabel it to each other location;
price the labelling by greedy looking ahead to it (the planner's warm start, GreedyPlanner(lookahead)),
and keep a move when the plan's Ω falls. Rounds repeat with new seeds until one finds nothing or the
time is up. Deterministic for a seed. Pure planning code: no Airflow.
"""

from __future__ import annotations

import math
import random
import time
from collections import defaultdict
from collections.abc import Callable, Mapping

from airflow_ai_scheduler.models import Manifest, Plan
from airflow_ai_scheduler.planning.cpsat.lns import grow

#: the shares of the labelled jobs a moved group grows to
SHARES = (1 / 2, 1 / 3, 1 / 4, 1 / 8, 1 / 16)
#: seeds tried per share and round (half entry jobs, half exit jobs)
SEEDS = 4
#: rounds at most (each with new seeds); the search also stops after a round that moved nothing
ROUNDS = 6


def data_graph(manifest: Manifest, labels: Mapping[str, str]) -> dict[str, list[str]]:
    """Undirected adjacency of the labelled jobs along edges that move data (the child reads its parents'
    output: it has input and no ``dataRegion``)."""
    adj: dict[str, list[str]] = defaultdict(list)
    for j in manifest.jobs:
        if j.job_id in labels and j.input_data_size_gb > 0 and not j.data_region:
            for d in j.dependencies:
                if d in labels:
                    adj[d].append(j.job_id)
                    adj[j.job_id].append(d)
    return adj


def search(manifest: Manifest, labels: Mapping[str, str], start: Plan, locations: list[str],
           price: Callable[[Mapping[str, str]], Plan | None], stop_at: float = math.inf,
           seed: int = 0) -> tuple[dict[str, str], Plan, int]:
    """The best labelling found from ``labels`` by group moves (module doc), its plan, and how many moves
    were kept. ``start`` is the plan to beat; ``price`` maps a labelling to a valid plan or None."""
    best_labels, best = dict(labels), start
    if len(locations) < 2 or not labels:
        return best_labels, best, 0
    adj = data_graph(manifest, labels)
    deps = {j.job_id: [d for d in j.dependencies if d in labels] for j in manifest.jobs if j.job_id in labels}
    parents = {d for ds in deps.values() for d in ds}
    # seeds: entry jobs and exit jobs of the labelled part, half each (a group grown from an exit job
    # gathers what feeds it: one band of a mosaic, one chromosome)
    ends = ([j for j, ds in deps.items() if not ds] or list(labels), [j for j in deps if j not in parents])
    rng = random.Random(seed)
    kept = 0
    for _ in range(ROUNDS):
        moved = False
        for share in SHARES:
            size = max(1, int(share * len(labels)))
            seeds = [j for side in ends for j in rng.sample(side, min(SEEDS // 2, len(side)))]
            for first in seeds:
                group = grow(lambda j: adj.get(j, ()), first, size)
                for loc in locations:
                    if time.perf_counter() > stop_at:
                        return best_labels, best, kept
                    if all(best_labels[j] == loc for j in group):
                        continue
                    trial = {**best_labels, **dict.fromkeys(group, loc)}
                    plan = price(trial)
                    if plan is not None and plan.objective.total < best.objective.total - 1e-9:
                        best_labels, best, kept, moved = trial, plan, kept + 1, True
        if not moved:
            break
    return best_labels, best, kept
