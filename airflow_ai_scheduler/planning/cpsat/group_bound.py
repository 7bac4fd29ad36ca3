"""A lower bound on Ω for workflows with all-pairs steps: the capacity LP branched on where each group sits.

Why. Where a deadline makes a workflow want more cheap spot capacity than one location has, the class LP of
capacity_bound.py can take an *average* of whole-workflow placements — every job 58/22/20 % over three
regions. No data edge then crosses a region in the LP (both ends are split alike), and each region's pools
are priced at a third of the load. On Montage (every pair of a band's reprojected images is read by one
difference fit) that average is far cheaper than any real plan, which must either keep a band in one place
(paying for that region's dearer pools) or move images between regions for many pairs. No LP row over pairs
of jobs cuts the average off: it is a genuine mixture of 0/1 placements.

Pair groups. A *pair group* G is N ≥ MIN_GROUP jobs every two of which some job — a *pair consumer*, with
exactly two dependencies, both in G, and input data to move — reads together. A consumer of members at
locations s and t pays at least ``share × c(s, t)`` with ``c(s, t) = min_u rate(s, u) + rate(t, u)`` (it
runs at some u) and share its GB per dependency. For a plan let r be the location holding most of G (n_r of
its N members, m members elsewhere). Then the pairs that cross cost at least

* **A** = Σ_{j not at r} N/2 · c_pair · share, c_pair the least c(s, t) over s ≠ t: at least m·N/2 pairs
  cross — if n_r ≥ N/2 each of the m meets the n_r; else every n_s ≤ n_r < N/2 and the crossing pairs
  (N² − Σ n_s²)/2 ≥ (N² − N·n_r)/2 = N·m/2;
* **B** = ½ Σ_{j at s ≠ r} (S_j(⌈N/2⌉) · c_min(s) + S_j(⌈N/L⌉) · c(r, s)), L locations, c_min(s) the
  least c(s, t) over t ≠ s and S_j(k) the sum of the k smallest GB per dependency on j's N − 1 pairs (a
  pair read by several consumers counts their sum): counting each crossing pair from both ends, a member j
  at s ≠ r has at least N − n_s ≥ N/2 partners elsewhere (n_s ≤ n_r and n_s + n_r ≤ N), each at
  ≥ c_min(s), and the n_r ≥ N/L members at r count j once more from their end, each at c(r, s).

(A uses the least GB per dependency of the whole group, ``share``; B each member's own, which matters where
the consumers read very different amounts — Montage's background fits read the band's model as well.)

The bound. Branch on r for every group: L^k leaves for k groups. In every leaf the LP leaves the consumers'
own egress out (a relaxation) and adds E_G ≥ A, E_G ≥ B at the price of egress. Every plan lies in the leaf
of its own majority locations, where its 0/1 point satisfies the rows and its LP value is at most its Ω;
so the least leaf bound is at most Ω of every plan. A leaf not solved in time counts at the LP without the
groups' egress (every leaf is that LP plus rows). Each leaf is priced from the solver's row prices by weak
duality, like the capacity LP. Used by the benchmark (bench/planning.py --offline-groups), not by the
planner: on montage-472 it is 64 LPs of ~8 s.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from airflow_ai_scheduler.models import Manifest, Offer
from airflow_ai_scheduler.planning.candidates import CandidateIndex
from airflow_ai_scheduler.planning.cpsat.capacity_bound import LP_CRITICAL, LP_UNIFORM, _Lp, lp_end
from airflow_ai_scheduler.planning.objective import Scorer

#: the least members of a pair group (smaller ones gain little and multiply the leaves)
MIN_GROUP = 4
#: the branching is skipped above this many leaves (locations ** groups)
MAX_LEAVES = 256


@dataclass(frozen=True)
class PairGroup:
    members: tuple[str, ...]
    consumers: frozenset[str]
    share_gb: float  # the least GB a consumer reads per dependency
    #: per member, the GB its consumers read per dependency on each of its N − 1 pairs, ascending
    pair_gb: Mapping[str, tuple[float, ...]]


@dataclass(frozen=True)
class GroupBound:
    bound: float  # −inf when it does not apply
    relaxed: float  # the LP without the groups' egress: what an unsolved leaf counts at
    groups: tuple[int, ...]  # the groups' sizes
    leaves: int
    solved: int
    best_leaf: tuple[str, ...] | None  # the majority locations of the least leaf


def pair_groups(manifest: Manifest, min_size: int = MIN_GROUP) -> list[PairGroup]:
    """The manifest's pair groups (module doc): the connected parts of the pair consumers' dependency pairs
    in which every pair has a consumer. Only pairs of independent jobs count (neither waits for the other),
    so a group is a step's copies compared pairwise: Montage's background model, which every background fit
    reads beside its image, waits for all the images, and taking it in would put the background fits'
    egress — which the LP's own rows price edge by edge — under the coarser pair rows (montage-472's bound
    0.653 with it, 0.68 without)."""
    consumers, shares = _pair_readers(manifest)
    groups = []
    for members, pairs in _connected(consumers):
        n = len(members)
        if n >= min_size and len(pairs) == n * (n - 1) // 2:
            per: dict[str, list[float]] = defaultdict(list)
            for p in pairs:
                for x in p:
                    per[x].append(shares[p])
            groups.append(PairGroup(tuple(sorted(members)), frozenset(c for p in pairs for c in consumers[p]),
                                    min(shares[p] for p in pairs), {x: tuple(sorted(v)) for x, v in per.items()}))
    return sorted(groups, key=lambda g: g.members)


def _pair_readers(manifest: Manifest) -> tuple[dict[frozenset[str], list[str]], dict[frozenset[str], float]]:
    """Each pair of independent jobs read together → its readers, and their GB per dependency summed."""
    jobs = manifest.job_map
    above: dict[str, frozenset[str]] = {}

    def ancestors(x: str) -> frozenset[str]:
        if x not in above:
            todo, seen = list(jobs[x].dependencies), set()
            while todo:
                d = todo.pop()
                if d not in seen:
                    seen.add(d)
                    todo.extend(jobs[d].dependencies)
            above[x] = frozenset(seen)
        return above[x]

    consumers: dict[frozenset[str], list[str]] = defaultdict(list)
    shares: dict[frozenset[str], float] = defaultdict(float)
    for job in manifest.jobs:
        deps = frozenset(job.dependencies)
        if len(job.dependencies) == 2 and len(deps) == 2 and job.input_data_size_gb > 0 and not job.data_region:
            a, b = job.dependencies
            if a not in ancestors(b) and b not in ancestors(a):
                consumers[deps].append(job.job_id)
                shares[deps] += job.input_data_size_gb / 2
    return consumers, shares


def _connected(pairs: Iterable[frozenset[str]]) -> list[tuple[set[str], list[frozenset[str]]]]:
    """The connected parts of a graph given by its edges: (nodes, edges) each (union-find)."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = x = parent[parent[x]]
        return x

    edges = list(pairs)
    for pair in edges:
        a, b = sorted(pair)
        parent[root(a)] = root(b)
    parts: dict[str, tuple[set[str], list[frozenset[str]]]] = {}
    for pair in edges:
        nodes, part = parts.setdefault(root(next(iter(pair))), (set(), []))
        nodes.update(pair)
        part.append(pair)
    return list(parts.values())


def group_bound(manifest: Manifest, offers: list[Offer], cands: CandidateIndex, time_limit: float, *,
                grid: tuple[int, int] = (LP_UNIFORM, LP_CRITICAL), max_leaves: int = MAX_LEAVES) -> GroupBound:
    """The least leaf bound of the branching over the pair groups' majority locations (module doc), on the
    class LP with ``grid`` = (even steps, critical breakpoints)."""
    began = time.perf_counter()
    scorer = Scorer(manifest, offers)
    end = lp_end(scorer, offers)
    groups = pair_groups(manifest)
    locs = sorted({o.location for o in scorer.offers})
    leaves = len(locs) ** len(groups)
    if not groups or len(locs) < 2 or leaves > max_leaves or end is None:
        return GroupBound(-math.inf, -math.inf, tuple(len(g.members) for g in groups), leaves, 0, None)
    skip = frozenset().union(*(g.consumers for g in groups))
    try:
        lp = _Lp(scorer, cands, {}, end, False, began + time_limit, grid[1], None, grid[0], skip_egress=skip)
    except TimeoutError:
        return GroupBound(-math.inf, -math.inf, tuple(len(g.members) for g in groups), leaves, 0, None)
    relaxed = lp.solve(max(0.1, time_limit - (time.perf_counter() - began)), fallback=False)
    c = {(s, t): min(scorer.rate(s, u) + scorer.rate(t, u) for u in locs) for s in locs for t in locs}
    c_pair = min(c[s, t] for s in locs for t in locs if s != t)
    c_min = {s: min(c[s, t] for t in locs if t != s) for s in locs}
    solved: dict[tuple[str, ...], float] = {}
    for leaf in itertools.product(locs, repeat=len(groups)):
        left = time_limit - (time.perf_counter() - began)
        if left < 0.5:
            break
        n_var, n_row = len(lp.model.variable), len(lp.model.constraint)
        for g, r in zip(groups, leaf, strict=True):
            _crossing_rows(lp, g, r, len(locs), c_pair, c_min, c, scorer.weights.cost)
        solved[leaf] = lp.solve(left, fallback=False)
        del lp.model.variable[n_var:]
        del lp.model.constraint[n_row:]
    best_leaf = min(solved, key=solved.__getitem__) if solved else None
    bound = min([*solved.values(), *([relaxed] if len(solved) < leaves else [])])
    return GroupBound(bound, relaxed, tuple(len(g.members) for g in groups), leaves, len(solved), best_leaf)


def _crossing_rows(lp: _Lp, group: PairGroup, r: str, n_locs: int, c_pair: float, c_min: dict[str, float],
                   c: dict[tuple[str, str], float], price: float) -> None:
    """E ≥ A and E ≥ B (module doc) for ``group`` with its majority at ``r``; E costs ``price`` per USD."""
    n, share = len(group.members), group.share_gb
    half, at_r = math.ceil(n / 2), math.ceil(n / n_locs)
    a: list[tuple[int, float]] = []
    b: list[tuple[int, float]] = []
    most = 0.0  # E's upper bound (dual_bound wants finite ones): each member's dearest term, summed
    for jid in group.members:
        gb = group.pair_gb[jid]
        dearest = 0.0
        for (key, _), idx in lp.y[jid].items():
            s = lp.loc_of[key]
            if s != r:
                a.append((idx, -n / 2 * c_pair * share))
                b.append((idx, -(sum(gb[:half]) * c_min[s] + sum(gb[:at_r]) * c[r, s]) / 2))
                dearest = max(dearest, -a[-1][1], -b[-1][1])
        most += dearest
    e = lp._var(price, ub=most)
    a.insert(0, (e, 1.0))
    b.insert(0, (e, 1.0))
    lp._row(0.0, math.inf, a)
    lp._row(0.0, math.inf, b)


__all__: Sequence[str] = ("GroupBound", "PairGroup", "group_bound", "pair_groups")
