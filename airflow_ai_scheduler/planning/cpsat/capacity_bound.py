"""A lower bound on Ω that counts the pools' capacity: a time-indexed LP relaxation.

The location relaxation (relaxation.py) drops capacity, so where a deadline makes jobs compete for a few
cheap limited pools (a fan-out of hundreds of tasks into one exit task, data that is cheap to read in one
region only) it prices every job at the cheapest pool and its gap says little. This LP keeps:

* **time buckets** 0 = t_0 < t_1 < … < t_B (B = LP_BUCKETS, evenly up to 1.25 × the latest deadline) and a
  last open bucket [t_B, ∞). y[j,C,b] ≥ 0 is the share of job j that runs on pool class C starting in bucket
  b; Σ_{C,b} y[j,C,b] = 1;
* **pool classes**: per location, all limited pools are one class; each unlimited offer is its own class.
  A job's coefficient on an unlimited offer in bucket b is its own Ω terms (compute cost, dataRegion egress,
  tardiness, risk) at its best start ≥ max(est[j,o], t_b) — the floors of relaxation.py, read from t_b; on
  a limited class, the least over the members it fits of the time and risk terms plus the class's lowest
  price × its shortest runtime there;
* **precedence**: j cannot have started by the end of bucket b unless each dependency i had started by the
  bucket holding t_{b+1} − (i's shortest runtime): Z[j,b] ≤ Z[i,β] with Z the cumulative start shares;
* **capacity, priced in layers**: for each limited class and each window [0, t_b], the work that must fall
  inside it — at least min(runtime, t_b − t_{b'+1}) for a start in bucket b' — is split over the members,
  each at most its capacity × t_b, and E_C ≥ Σ (member's price − the class's lowest) × its share, for every
  window; E_C joins the objective. A deadline that forces work early thus pays for the dearer pools it
  needs, which the location relaxation never sees;
* **egress** along data-moving edges in the local-polytope form over locations, as the labelling has it.

Every plan is a 0/1 point of this LP (its job's class and start bucket) whose LP value is at most its Ω:
a coefficient is a minimum over later starts and over the class's members, the work on each member within
a window is at most its capacity × the window and pays at least its price, precedence holds for the real
times. So the LP optimum, which GLOP solves exactly up to its tolerances (a margin of 10⁻⁶ is taken off), is
a lower bound on Ω of every plan; the planner reports the larger of it and the labelling's bound. Built
from protobuf lists (no Python object per coefficient); on 300 jobs ~1.5 s to build and 1–8 s to solve.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

from airflow_ai_scheduler.models import Manifest, Offer
from airflow_ai_scheduler.planning.base import Choice
from airflow_ai_scheduler.planning.candidates import CandidateIndex
from airflow_ai_scheduler.planning.cpsat.relaxation import _min_over_starts, job_floors, options
from airflow_ai_scheduler.planning.objective import (
    Scorer,
    duration_sigma,
    egress_rate,
    expected_runtime,
    interruption_probability,
    miss_probability,
    priority_factor,
)

LP_BUCKETS = 8  # 12 bought < 1 % more bound on the tuning workflows and took 2-4x as long
#: the LP is skipped above this many y variables (it would not solve in a useful time on 2 cores)
MAX_LP_VARIABLES = 120_000


def capacity_bound(manifest: Manifest, offers: list[Offer], cands: CandidateIndex,
                   fixed: Mapping[str, Choice] | None, time_limit: float) -> float:
    """The LP's bound on Ω (module doc), or −inf when it does not apply or is not solved in time."""
    fixed = fixed or {}
    scorer = Scorer(manifest, offers)
    deadlines = [d for d in scorer.deadline_h.values() if d is not None]
    if not deadlines or max(deadlines) <= 0 or not any(o.capacity is not None for o in offers):
        return -math.inf
    keys = _classes(scorer.offers)[0]
    size = sum(len({keys[o.offer_id] for o in options(j, cands, scorer, fixed)}) for j in manifest.jobs)
    if time_limit < 1.0 or size * (LP_BUCKETS + 1) > MAX_LP_VARIABLES:
        return -math.inf
    began = time.perf_counter()
    try:
        lp = _Lp(scorer, cands, fixed, 1.25 * max(deadlines), began + time_limit)
    except TimeoutError:
        return -math.inf
    left = time_limit - (time.perf_counter() - began)
    return lp.solve(left) if left >= 0.5 else -math.inf


def _rising(w: object, pf: float, dl: float | None, s: float, rt: float, sigma: float, p_int: float) -> float:
    """Tardiness and risk of a start at ``s`` (non-decreasing in s), as relaxation._min_over_starts has them."""
    if dl is None:
        return w.risk * pf * p_int
    slack = dl - s - rt
    return w.tardiness * pf * max(0.0, -slack) + w.risk * pf * (1.0 - (1.0 - miss_probability(slack, sigma)) * (1.0 - p_int))


def _classes(offers: list[Offer]) -> tuple[dict[str, str], dict[str, list[tuple[float, int]]]]:
    """offer id → class key, and each limited class's members as (lowest price, capacity), cheapest first."""
    key: dict[str, str] = {}
    members: dict[str, list[tuple[float, int]]] = {}
    for o in offers:
        if o.capacity is None:
            key[o.offer_id] = o.offer_id
        else:
            key[o.offer_id] = f"{o.location}#limited"
            members.setdefault(key[o.offer_id], []).append((_low_price(o), o.capacity))
    for m in members.values():
        m.sort()
    return key, members


def _low_price(o: Offer) -> float:
    return min([o.price_per_hour, *(p.price_per_hour for p in o.price_schedule or [])])


class _Lp:
    def __init__(self, scorer: Scorer, cands: CandidateIndex, fixed: Mapping[str, Choice], end: float,
                 stop_at: float = math.inf) -> None:
        from ortools.linear_solver import linear_solver_pb2

        self.pb = linear_solver_pb2
        self.model = linear_solver_pb2.MPModelProto()
        self.scorer = scorer
        B = LP_BUCKETS  # noqa: N806
        self.t = [end * b / B for b in range(B + 1)]  # bucket b = [t[b], t[b+1]); bucket B = [t[B], ∞)
        starts: dict[str, dict[str, float]] = {}
        job_floors(scorer, cands, fixed, starts)
        classes, self.members = _classes(scorer.offers)
        w = scorer.weights
        self.y: dict[str, dict[tuple[str, int], int]] = {}  # job → (class, bucket) → variable index
        self.area: dict[str, list[tuple[int, float, int]]] = {}  # limited class → (var, runtime, bucket)
        self.loc_of_class: dict[str, str] = {}
        self.mindur: dict[str, float] = {}
        for n, job in enumerate(scorer.order):
            if n % 64 == 0 and time.perf_counter() > stop_at:
                raise TimeoutError
            jid, pf, dl = job.job_id, priority_factor(job), scorer.deadline_h[job.job_id]
            best: dict[tuple[str, int], float] = {}
            dur: dict[str, float] = {}
            for o in options(job, cands, scorer, fixed):
                key = classes[o.offer_id]
                self.loc_of_class[key] = o.location
                rt = expected_runtime(job, o)
                dur[key] = min(dur.get(key, math.inf), rt)
                est = starts[jid][o.offer_id]
                data = w.cost * scorer.egress(job, o, {})[0] if job.data_region else 0.0
                curve = scorer.curve(o)
                limited = key in self.members
                p_int = interruption_probability(o, rt)
                sigma = duration_sigma(job, rt, o)
                for b in range(B + 1):
                    if b < B and self.t[b + 1] <= est:
                        continue  # cannot start in this bucket
                    s = max(est, self.t[b])
                    if limited:  # time and risk terms only: the price is the class's (below)
                        v = 0.0
                    elif not curve.constant:
                        v = _min_over_starts(scorer, job, o, s, rt, pf, dl) - _rising(w, pf, dl, s, rt, sigma, p_int)
                    else:
                        v = w.cost * curve.prices[0] * rt
                    v += data + _rising(w, pf, dl, s, rt, sigma, p_int)
                    if v < best.get((key, b), math.inf):
                        best[(key, b)] = v
            self.mindur[jid] = min(dur.values())
            ys = {}
            for (key, b), v in best.items():
                if key in self.members:  # the class's lowest price on the job's shortest runtime there
                    v += w.cost * self.members[key][0][0] * dur[key]
                ys[(key, b)] = idx = self._var(v)
                if key in self.members:
                    self.area.setdefault(key, []).append((idx, dur[key], b))
            self.y[jid] = ys
            self._row(1.0, 1.0, [(i, 1.0) for i in ys.values()])
        self.n_y = sum(len(v) for v in self.y.values())
        self._precedence()
        self._capacity()
        self._egress()

    def _var(self, cost: float, ub: float = 1.0) -> int:
        v = self.model.variable.add()
        v.lower_bound, v.upper_bound, v.objective_coefficient = 0.0, ub, cost
        return len(self.model.variable) - 1

    def _row(self, lo: float, hi: float, terms: list[tuple[int, float]]) -> None:
        c = self.model.constraint.add()
        c.lower_bound, c.upper_bound = lo, hi
        c.var_index.extend(i for i, _ in terms)
        c.coefficient.extend(a for _, a in terms)

    def _precedence(self) -> None:
        B = LP_BUCKETS  # noqa: N806
        cum: dict[str, list[int]] = {}
        for job in self.scorer.order:
            jid = job.job_id
            by_b: dict[int, list[int]] = {}
            for (_, b), i in self.y[jid].items():
                by_b.setdefault(b, []).append(i)
            z, prev = [], None
            for b in range(B + 1):  # Z[j,b] = Z[j,b-1] + Σ_C y[j,C,b]
                zb = self._var(0.0)
                terms = [(zb, 1.0), *((i, -1.0) for i in by_b.get(b, []))]
                if prev is not None:
                    terms.append((prev, -1.0))
                self._row(0.0, 0.0, terms)
                z.append(zb)
                prev = zb
            cum[jid] = z
            for dep in job.dependencies:
                for b in range(B):
                    limit = self.t[b + 1] - self.mindur[dep]  # dep started before this if j starts in ≤ b
                    beta = max((k for k in range(B + 1) if self.t[k] < limit - 1e-12), default=None)
                    if beta is None:
                        self._row(-math.inf, 0.0, [(z[b], 1.0)])
                    elif beta < b:
                        self._row(-math.inf, 0.0, [(z[b], 1.0), (cum[dep][beta], -1.0)])
                    else:
                        self._row(-math.inf, 0.0, [(z[b], 1.0), (cum[dep][b], -1.0)])

    def _capacity(self) -> None:
        """Per limited class and window [0, t_b]: the work that must fall inside it fits the members'
        capacity × t_b, and whatever exceeds the cheapest members' share pays the dearer members' price
        above the class's lowest (already in each job's coefficient): E_C ≥ that extra, for every window."""
        B, t = LP_BUCKETS, self.t  # noqa: N806
        wc = self.scorer.weights.cost
        for key, items in self.area.items():
            members = self.members[key]
            low = members[0][0]
            extra = self._var(1.0, ub=math.inf)
            for b in range(1, B + 1):
                terms = [(i, -min(rt, t[b] - t[bb + 1])) for i, rt, bb in items if bb < b and t[b] - t[bb + 1] > 0]
                if not terms:
                    continue
                split = [self._var(0.0, ub=cap * t[b]) for _, cap in members]
                self._row(0.0, math.inf, [*((v, 1.0) for v in split), *terms])
                self._row(0.0, math.inf, [(extra, 1.0), *((v, -wc * (p - low)) for v, (p, _) in zip(split, members, strict=True))])

    def _egress(self) -> None:
        scorer, eg, wc = self.scorer, self.scorer.manifest.egress, self.scorer.weights.cost
        loc_vars: dict[str, dict[str, int]] = {}

        def marginals(jid: str) -> dict[str, int]:
            if jid not in loc_vars:
                by_loc: dict[str, list[int]] = {}
                for (key, _), i in self.y[jid].items():
                    by_loc.setdefault(self.loc_of_class[key], []).append(i)
                out = {}
                for loc, idx in by_loc.items():
                    v = self._var(0.0)
                    self._row(0.0, 0.0, [(v, 1.0), *((i, -1.0) for i in idx)])
                    out[loc] = v
                loc_vars[jid] = out
            return loc_vars[jid]

        for job in scorer.order:
            if not (job.input_data_size_gb > 0 and not job.data_region and job.dependencies):
                continue
            share = job.input_data_size_gb / len(job.dependencies)
            dst = marginals(job.job_id)
            for d in job.dependencies:
                src = marginals(d)
                if len(src) == 1 and len(dst) == 1:
                    (a,), (b,) = src, dst
                    self.model.objective_offset += wc * share * egress_rate(eg, a, b)
                    continue
                mu = {(a, b): self._var(wc * share * egress_rate(eg, a, b)) for a in src for b in dst}
                for a, xa in src.items():
                    self._row(0.0, 0.0, [(xa, -1.0), *((mu[a, b], 1.0) for b in dst)])
                for b, xb in dst.items():
                    self._row(0.0, 0.0, [(xb, -1.0), *((mu[a, b], 1.0) for a in src)])

    def solve(self, time_limit: float) -> float:
        from ortools.linear_solver import pywraplp

        request = self.pb.MPModelRequest()
        request.model.CopyFrom(self.model)
        # GLOP: CLP was up to 2x faster but ignores the time limit (58 s on a 15 s budget, measured)
        request.solver_type = self.pb.MPModelRequest.GLOP_LINEAR_PROGRAMMING
        request.solver_time_limit_seconds = max(0.1, time_limit)
        response = self.pb.MPSolutionResponse()
        pywraplp.Solver.SolveWithProto(request, response)
        if response.status != self.pb.MPSOLVER_OPTIMAL:
            return -math.inf
        value = response.objective_value
        return value - 1e-6 * max(1.0, abs(value))
