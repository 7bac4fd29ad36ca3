"""A lower bound on Ω that counts the pools' capacity: a time-indexed LP relaxation.

The location relaxation (relaxation.py) drops capacity, so where a deadline makes jobs compete for a few
cheap limited pools (a fan-out of hundreds of tasks into one exit task, data that is cheap to read in one
region only) it prices every job at the cheapest pool and its gap says little. This LP keeps:

* **time buckets** 0 = t_0 < t_1 < … < t_B and a last open bucket [t_B, ∞): LP_UNIFORM even steps up to
  1.25 × the latest deadline, plus *critical* points where the most work must have begun or ended on
  time, or may have ended at the earliest (each job's latest on-time start and end along the longest path
  of shortest runtimes to its deadline, and its earliest end; weighted by runtime). y[j,K,b] ≥ 0 is the
  share of job j that runs on key K starting in bucket b; Σ_{K,b} y[j,K,b] = 1;
* **keys**: a location's unlimited offers are one key (the LP would take the least of them anyway); in the
  *class LP* (the planner's) a location's limited pools are one class, in the *per-pool LP*
  (``per_pool=True``, the benchmark's offline bound: several times larger) each pool is its own key. A
  job's coefficient is its own Ω terms (compute cost, dataRegion egress, carbon, tardiness, risk, delay)
  at its best start ≥ max(est[j,o], t_b) — the floors of relaxation.py, read from t_b — the least over the
  key's offers; on a limited class, the time and risk terms plus the class's lowest price × the job's
  shortest runtime there;
* **precedence**: j cannot have started by the end of bucket b unless each dependency i had started by the
  bucket holding t_{b+1} − (i's shortest runtime): Z[j,b] ≤ Z[i,β] with Z the cumulative start shares;
  and a long job (≥ LP_LONG of the horizon) likewise before the deadline job that binds it, lagged by the
  longest path of shortest runtimes between them;
* **capacity, class LP, priced in layers**: for each limited class and each window [0, t_b], the work that
  must fall inside it — at least min(runtime, t_b − t_{b'+1}) for a start in bucket b' — is split over the
  members, each at most its capacity × t_b, and E_C ≥ Σ (member's price − the class's lowest) × its share,
  for every window; E_C joins the objective. A deadline that forces work early thus pays for the dearer
  pools it needs, which the location relaxation never sees;
* **capacity, per-pool LP**: for each pool and each bucket and window [0, t_b], the least time each job
  starting in bucket b' would run inside it fits the pool's capacity × the window;
* **egress** along data-moving edges in the local-polytope form over locations, as the labelling has it.

Every plan is a 0/1 point of this LP (its job's key and start bucket) whose LP value is at most its Ω: a
coefficient is a minimum over later starts and over the key's offers, the work on each pool within a
window is at most its capacity × the window and pays at least its price, precedence holds for the real
times. So the LP optimum is a lower bound on Ω of every plan; the planner reports the larger of it and the
labelling's bound. The bound is computed from the solver's row prices by weak duality
(:meth:`_Lp.dual_bound`), which is valid for *any* prices — so GLOP's, exact when it finishes, or, on a
large LP it does not finish, PDLP's iterate when the time is up. Built from protobuf lists (no Python
object per coefficient); on 300 jobs ~1.5 s to build and 1–8 s to solve.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from airflow_ai_scheduler.models import Job, Manifest, Offer
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

#: evenly spaced breakpoints up to 1.25 × the latest deadline (12 bought < 1 % more of the class LP's bound
#: on the tuning workflows and took 2-4x as long)
LP_UNIFORM = 8
#: the per-pool LP adds up to this many of the jobs' latest on-time starts and ends and earliest ends (the
#: points with the most work first)
LP_CRITICAL = 16
#: the class LP's critical breakpoints: up to LP_CRITICAL, as many as keep its y variables under this
#: (1000genome-328's bound 0.2204 -> 0.2298 with 8, montage-472's 0.6197 -> 0.6522 with 16 — 5.8 -> 16 s)
CLASS_CRITICAL_VARIABLES = 100_000
#: jobs at least this share of the horizon long get a precedence row to the deadline job that binds them
LP_LONG = 0.02
#: above this many variables GLOP's simplex gets GLOP_SHARE of the LP's time and then PDLP the rest (a
#: first-order method: its iterate when the time is up still gives a valid bound). Size alone does not say
#: which finishes: GLOP solved 1000genome-902's 92,000 variables in 2.4 s (PDLP's 20-s iterate: 5 % lower)
#: and needed 33 s for montage-1066's 116,000 (quiet machine)
PDLP_ABOVE = 60_000
GLOP_SHARE = 0.25
#: the class LP is skipped above this many y variables (it would not solve in a useful time on 2 cores)
MAX_LP_VARIABLES = 120_000


def capacity_bound(manifest: Manifest, offers: list[Offer], cands: CandidateIndex,
                   fixed: Mapping[str, Choice] | None, time_limit: float, *, per_pool: bool = False,
                   max_variables: int = MAX_LP_VARIABLES, grid: tuple[int, int] | None = None) -> float:
    """The LP's bound on Ω (module doc), or −inf when it does not apply or is not solved in time.
    ``per_pool``: the finer LP (every limited pool its own capacity, critical breakpoints), several times
    larger and slower — the benchmark's offline bound. ``grid`` = (even steps, critical breakpoints): one
    LP on that grid, GLOP given all the time, instead of the planner's rounds (the benchmark's offline
    bound on a finer grid than the planner can afford)."""
    fixed = fixed or {}
    scorer = Scorer(manifest, offers)
    end = lp_end(scorer, offers)
    if end is None:
        return -math.inf
    keys = _keys(scorer.offers, per_pool)
    size = sum(len({keys[o.offer_id] for o in options(j, cands, scorer, fixed)}) for j in manifest.jobs)
    if grid is not None:
        rounds = [grid]
    elif per_pool:
        rounds = [(LP_UNIFORM, LP_CRITICAL)]
    else:  # the plain class LP first (fast), then with critical breakpoints in what is left of the time
        rounds = [(LP_UNIFORM, 0),
                  (LP_UNIFORM, max(0, min(LP_CRITICAL, CLASS_CRITICAL_VARIABLES // max(1, size) - LP_UNIFORM - 1)))]
    began, best, inputs = time.perf_counter(), -math.inf, None
    for n, (uniform, critical) in enumerate(rounds):
        left = time_limit - (time.perf_counter() - began)
        if left < 1.0 or size * (uniform + 1 + critical) > max_variables or (n and not critical):
            break
        try:
            inputs = inputs or _inputs(scorer, cands, fixed)  # the same for both rounds
            lp = _Lp(scorer, cands, fixed, end, per_pool, began + time_limit, critical, inputs,
                     uniform)
        except TimeoutError:
            break
        left = time_limit - (time.perf_counter() - began)
        if left < 0.5:
            break
        best = max(best, lp.solve(left, fallback=n == 0 and grid is None))
    return best


def lp_end(scorer: Scorer, offers: list[Offer]) -> float | None:
    """The LP's horizon, 1.25 × the latest deadline; None where the LP does not apply (no deadline, or no
    limited pool)."""
    deadlines = [d for d in scorer.deadline_h.values() if d is not None]
    if not deadlines or max(deadlines) <= 0 or not any(o.capacity is not None for o in offers):
        return None
    return 1.25 * max(deadlines)


def _rising(w: object, pf: float, dl: float | None, s: float, rt: float, sigma: float, p_int: float) -> float:
    """Tardiness and risk of a start at ``s`` (non-decreasing in s), as relaxation._min_over_starts has them."""
    if dl is None:
        return w.risk * pf * p_int
    slack = dl - s - rt
    return w.tardiness * pf * max(0.0, -slack) + w.risk * pf * (1.0 - (1.0 - miss_probability(slack, sigma)) * (1.0 - p_int))


def _keys(offers: list[Offer], per_pool: bool) -> dict[str, str]:
    """offer id → its LP key: a location's unlimited offers share one (the LP takes the least of them
    anyway); a limited pool is its own key, or in the class LP one of its location's limited class."""
    return {o.offer_id: (f"{o.location}#unlimited" if o.capacity is None else
                         o.offer_id if per_pool else f"{o.location}#limited") for o in offers}


def _members(offers: list[Offer]) -> dict[str, list[tuple[float, int]]]:
    """Each limited class's members as (lowest price, capacity), cheapest first."""
    members: dict[str, list[tuple[float, int]]] = {}
    for o in offers:
        if o.capacity is not None:
            members.setdefault(f"{o.location}#limited", []).append((_low_price(o), o.capacity))
    for m in members.values():
        m.sort()
    return members


def _low_price(o: Offer) -> float:
    return min([o.price_per_hour, *(p.price_per_hour for p in o.price_schedule or [])])


def _floor(scorer: Scorer, job: Job, o: Offer, rt: float) -> Callable[[float], float]:
    """s ↦ the least Ω terms of the job on the offer over starts ≥ s (relaxation._min_over_starts; the
    constant-price case without carbon written out, as it is most of the calls)."""
    w, curve, jt = scorer.weights, scorer.curve(o), scorer.job_terms(job)
    if curve.constant and w.carbon == 0:
        base = w.cost * curve.prices[0] * rt
        p_int, sigma = interruption_probability(o, rt), duration_sigma(job, rt, o)

        def at(s: float) -> float:
            delay = jt.delay_rate * max(0.0, s + rt - jt.earliest_finish)
            return base + delay + _rising(w, jt.pf, jt.deadline, s, rt, sigma, p_int)
        return at
    return lambda s: _min_over_starts(scorer, job, o, s, rt, jt.pf, jt.deadline)


@dataclass
class _Inputs:
    """What every LP of one manifest reads of its jobs, whatever its breakpoints and keys."""
    starts: dict[str, dict[str, float]]  # est[j,o] (relaxation.job_floors)
    opts: dict[str, list[Offer]]  # each job's offers
    mindur: dict[str, float]  # each job's shortest runtime
    latest: dict[str, float]  # _latest_starts
    via: dict[str, str]


def _inputs(scorer: Scorer, cands: CandidateIndex, fixed: Mapping[str, Choice]) -> _Inputs:
    starts: dict[str, dict[str, float]] = {}
    job_floors(scorer, cands, fixed, starts)
    opts = {j.job_id: options(j, cands, scorer, fixed) for j in scorer.order}
    mindur = {jid: min(expected_runtime(scorer.jobs[jid], o) for o in os_) for jid, os_ in opts.items()}
    return _Inputs(starts, opts, mindur, *_latest_starts(scorer, mindur))


def _latest_starts(scorer: Scorer, mindur: Mapping[str, float]) -> tuple[dict[str, float], dict[str, str]]:
    """Per job with a deadline at or below it: the latest start that lets every job below it meet its
    deadline on its shortest runtimes, and the deadline job that binds it."""
    children: dict[str, list[str]] = {}
    for job in scorer.order:
        for d in job.dependencies:
            children.setdefault(d, []).append(job.job_id)
    latest: dict[str, float] = {}
    via: dict[str, str] = {}
    for job in reversed(scorer.order):
        jid, dl = job.job_id, scorer.deadline_h[job.job_id]
        best, by = (dl, jid) if dl is not None else (math.inf, "")
        for c in children.get(jid, ()):
            if c in latest and latest[c] < best:
                best, by = latest[c], via[c]
        if by:
            latest[jid], via[jid] = best - mindur[jid], by
    return latest, via


def _breakpoints(inputs: _Inputs, end: float, critical: int, uniform: int = LP_UNIFORM) -> list[float]:
    """0 = t_0 < … < t_B = end: ``uniform`` even steps, and the points where the most work must have begun
    (latest on-time starts) or may have ended at the earliest — where a window catches work every plan
    runs then."""
    starts, mindur = inputs.starts, inputs.mindur
    grain = end / 400
    weight: dict[int, float] = {}
    for jid, late in inputs.latest.items():
        early = min(starts[jid].values()) + mindur[jid]
        for p in (late, early, late + mindur[jid]):
            if 0 < p < end:
                k = round(p / grain)
                weight[k] = weight.get(k, 0.0) + mindur[jid]
    picked = sorted(weight, key=weight.__getitem__, reverse=True)[:critical]
    points = {end * b / uniform for b in range(uniform + 1)} | {k * grain for k in picked}
    out: list[float] = []
    for p in sorted(points):
        if not out or p - out[-1] > 1e-9 * end:
            out.append(p)
    return out


def _overlap(lo: float, hi: float, rt: float, a: float, c: float) -> float:
    """The least time a job of runtime ``rt`` starting anywhere in [lo, hi] runs inside [a, c]."""
    def at(s: float) -> float:
        return max(0.0, min(s + rt, c) - max(s, a))
    return 0.0 if hi == math.inf else min(at(lo), at(hi))  # a trapezoid in s: least at an end


class _Lp:
    def __init__(self, scorer: Scorer, cands: CandidateIndex, fixed: Mapping[str, Choice], end: float,
                 per_pool: bool = False, stop_at: float = math.inf, critical: int = 0,
                 inputs: _Inputs | None = None, uniform: int = LP_UNIFORM,
                 skip_egress: frozenset[str] = frozenset()) -> None:
        """``skip_egress``: jobs whose dependency egress the LP leaves out (a relaxation; group_bound.py
        prices it by its own rows instead)."""
        from ortools.linear_solver import linear_solver_pb2

        self.pb = linear_solver_pb2
        self.model = linear_solver_pb2.MPModelProto()
        self.scorer = scorer
        self.inputs = inputs = inputs or _inputs(scorer, cands, fixed)
        starts, opts, self.mindur = inputs.starts, inputs.opts, inputs.mindur
        self.t = t = _breakpoints(inputs, end, critical, uniform)
        self.B = B = len(t) - 1  # noqa: N806 - bucket b = [t[b], t[b+1]); bucket B = [t[B], ∞)
        keys = _keys(scorer.offers, per_pool)
        self.members = {} if per_pool else _members(scorer.offers)
        self.y: dict[str, dict[tuple[str, int], int]] = {}  # job → (key, bucket) → variable index
        self.loc_of: dict[str, str] = {}  # key → location
        #: limited key → (variable, runtime, earliest start in its bucket, bucket) of every job it may run
        self.on: dict[str, list[tuple[int, float, float, int]]] = {}
        w = scorer.weights
        for n, job in enumerate(scorer.order):
            if n % 32 == 0 and time.perf_counter() > stop_at:
                raise TimeoutError
            jid, pf, dl = job.job_id, priority_factor(job), scorer.deadline_h[job.job_id]
            coef: dict[tuple[str, int], float] = {}
            work: dict[tuple[str, int], tuple[float, float]] = {}  # limited (key, b) → (runtime, start)
            for o in opts[jid]:
                key = keys[o.offer_id]
                self.loc_of[key] = o.location
                rt, est = expected_runtime(job, o), starts[jid][o.offer_id]
                data = w.cost * scorer.egress(job, o, {})[0] if job.data_region else 0.0
                floor_at = _floor(scorer, job, o, rt)
                p_int, sigma = interruption_probability(o, rt), duration_sigma(job, rt, o)
                for b in range(B + 1):
                    if b < B and t[b + 1] <= est:
                        continue  # cannot start in this bucket
                    s = max(est, t[b])
                    if key in self.members:  # time and risk only: the class's lowest price is added below
                        v = data + _rising(w, pf, dl, s, rt, sigma, p_int)
                    else:
                        v = data + floor_at(s)
                    if v < coef.get((key, b), math.inf):
                        coef[(key, b)] = v
                    if o.capacity is not None:  # the class's shortest runtime and earliest start
                        r0, s0 = work.get((key, b), (math.inf, math.inf))
                        work[(key, b)] = (min(r0, rt), min(s0, s))
            shortest = {}
            for (key, _), (rt, _) in work.items():
                shortest[key] = min(shortest.get(key, math.inf), rt)
            ys = {}
            for (key, b), v in coef.items():
                if key in self.members:  # the class's lowest price on the job's shortest runtime there
                    v += w.cost * self.members[key][0][0] * shortest[key]
                ys[(key, b)] = idx = self._var(v)
                if (key, b) in work:
                    self.on.setdefault(key, []).append((idx, *work[(key, b)], b))
            self.y[jid] = ys
            self._row(1.0, 1.0, [(i, 1.0) for i in ys.values()])
        self.n_y = sum(len(v) for v in self.y.values())
        self._precedence()
        if per_pool:
            self._pool_capacity()
        else:
            self._class_capacity()
        self._egress(skip_egress)

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
        """Z[j,b]: the share of j started by the end of bucket b. A job started by then had each
        dependency started by t_{b+1} − its shortest runtime; and a long job, by t_{b+1} − the longest
        path of shortest runtimes to the deadline job below it that binds it, if that one has started."""
        B = self.B  # noqa: N806
        cum: dict[str, list[int]] = {}
        children: dict[str, set[str]] = {}
        for job in self.scorer.order:
            jid = job.job_id
            by_b: dict[int, list[int]] = {}
            for (_, b), i in self.y[jid].items():
                by_b.setdefault(b, []).append(i)
            z, prev = [], None
            for b in range(B + 1):  # Z[j,b] = Z[j,b-1] + Σ_key y[j,key,b]
                zb = self._var(0.0)
                terms = [(zb, 1.0), *((i, -1.0) for i in by_b.get(b, []))]
                if prev is not None:
                    terms.append((prev, -1.0))
                self._row(0.0, 0.0, terms)
                z.append(zb)
                prev = zb
            cum[jid] = z
            for dep in job.dependencies:
                self._lagged(z, cum[dep], self.mindur[dep])
                children.setdefault(dep, set()).add(jid)
        latest = self.inputs.latest
        for jid, k in self.inputs.via.items():
            if k != jid and k not in children.get(jid, ()) and self.mindur[jid] >= LP_LONG * self.t[-1]:
                self._lagged(cum[k], cum[jid], latest[k] - latest[jid])

    def _lagged(self, late: list[int], early: list[int], lag: float) -> None:
        """``late`` started by the end of bucket b ⇒ ``early`` started by the bucket holding t_{b+1} − lag."""
        t = self.t
        for b in range(self.B):
            beta = bisect_left(t, t[b + 1] - lag - 1e-12) - 1  # the last k with t[k] < t_{b+1} − lag
            if beta < 0:
                self._row(-math.inf, 0.0, [(late[b], 1.0)])
            else:
                self._row(-math.inf, 0.0, [(late[b], 1.0), (early[min(beta, b)], -1.0)])

    def _class_capacity(self) -> None:
        """Per limited class and window [0, t_b]: the work that must fall inside it fits the members'
        capacity × t_b, and whatever exceeds the cheapest members' share pays the dearer members' price
        above the class's lowest (already in each job's coefficient): E_C ≥ that extra, for every window."""
        B, t = self.B, self.t  # noqa: N806
        wc = self.scorer.weights.cost
        for key, items in self.on.items():
            members = self.members[key]
            low = members[0][0]
            # no plan's extra exceeds the dearest member's premium on all the work (a finite bound keeps
            # the dual bound finite)
            extra = self._var(1.0, ub=wc * (members[-1][0] - low) * sum(rt for _, rt, _, _ in items))
            for b in range(1, B + 1):
                terms = [(i, -min(rt, t[b] - t[bb + 1])) for i, rt, _, bb in items if bb < b and t[b] - t[bb + 1] > 0]
                if not terms:
                    continue
                split = [self._var(0.0, ub=cap * t[b]) for _, cap in members]
                self._row(0.0, math.inf, [*((v, 1.0) for v in split), *terms])
                self._row(0.0, math.inf, [(extra, 1.0), *((v, -wc * (p - low)) for v, (p, _) in zip(split, members, strict=True))])

    def _pool_capacity(self) -> None:
        """Per limited pool, the least time each job would run inside a window fits the pool's capacity ×
        the window: for every bucket and every prefix [0, t_b]."""
        t = self.t
        windows = [(t[k], t[k + 1]) for k in range(self.B)] + [(0.0, c) for c in t[2:]]
        for oid, items in self.on.items():
            cap = self.scorer.offer_map[oid].capacity
            for a, c in windows:
                terms = []
                for i, rt, lo, b in items:
                    if b < self.B and t[b] < c:
                        v = _overlap(lo, t[b + 1], rt, a, c)
                        if v > 1e-12:
                            terms.append((i, v))
                if terms:
                    self._row(-math.inf, cap * (c - a), terms)

    def _egress(self, skip: frozenset[str] = frozenset()) -> None:
        scorer, eg, wc = self.scorer, self.scorer.manifest.egress, self.scorer.weights.cost
        loc_vars: dict[str, dict[str, int]] = {}

        def marginals(jid: str) -> dict[str, int]:
            if jid not in loc_vars:
                by_loc: dict[str, list[int]] = {}
                for (key, _), i in self.y[jid].items():
                    by_loc.setdefault(self.loc_of[key], []).append(i)
                out = {}
                for loc, idx in by_loc.items():
                    v = self._var(0.0)
                    self._row(0.0, 0.0, [(v, 1.0), *((i, -1.0) for i in idx)])
                    out[loc] = v
                loc_vars[jid] = out
            return loc_vars[jid]

        for job in scorer.order:
            if not (job.input_data_size_gb > 0 and not job.data_region and job.dependencies) or job.job_id in skip:
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

    def solve(self, time_limit: float, fallback: bool = True) -> float:
        """The bound of the LP's row prices (:meth:`dual_bound`): GLOP's, exact when it finishes; above
        PDLP_ABOVE variables (and with ``fallback``) GLOP gets GLOP_SHARE of the time and, should it not
        finish, PDLP the rest — a first-order method whose iterate gives a valid bound whenever the time is up."""
        began = time.perf_counter()
        large = fallback and len(self.model.variable) > PDLP_ABOVE
        glop = self._solve(self.pb.MPModelRequest.GLOP_LINEAR_PROGRAMMING,
                           GLOP_SHARE * time_limit if large else time_limit)
        if glop is not None and glop.status == self.pb.MPSOLVER_OPTIMAL:
            return self.dual_bound(glop.dual_value)
        left = time_limit - (time.perf_counter() - began)
        pdlp = self._solve(self.pb.MPModelRequest.PDLP_LINEAR_PROGRAMMING, left) if large and left >= 0.5 else None
        return max((self.dual_bound(r.dual_value) for r in (glop, pdlp) if r is not None), default=-math.inf)

    def _solve(self, solver_type: int, time_limit: float) -> object | None:
        """The solver's response, if it priced every row."""
        from ortools.linear_solver import pywraplp

        request = self.pb.MPModelRequest()
        request.model.CopyFrom(self.model)
        # GLOP: CLP was up to 2x faster but ignores the time limit (58 s on a 15 s budget, measured)
        request.solver_type = solver_type
        request.solver_time_limit_seconds = max(0.1, time_limit)
        response = self.pb.MPSolutionResponse()
        pywraplp.Solver.SolveWithProto(request, response)
        return response if len(response.dual_value) == len(self.model.constraint) else None

    def dual_bound(self, duals: Sequence[float]) -> float:
        """min over the variables' bounds of the Lagrangian c·x + y·(row bound − A x), for any row prices y
        (each projected onto the sign its row's finite bounds allow): weak duality makes it a lower bound
        on the LP optimum, whether the solver finished or not. Every variable has finite bounds."""
        import numpy as np

        m = self.model
        n = len(m.variable)
        lengths = np.fromiter((len(c.var_index) for c in m.constraint), int, len(m.constraint))
        rows = np.repeat(np.arange(len(m.constraint)), lengths)
        cols = np.fromiter((i for c in m.constraint for i in c.var_index), int, int(lengths.sum()))
        vals = np.fromiter((a for c in m.constraint for a in c.coefficient), float, int(lengths.sum()))
        lo_row = np.fromiter((c.lower_bound for c in m.constraint), float, len(m.constraint))
        hi_row = np.fromiter((c.upper_bound for c in m.constraint), float, len(m.constraint))
        y = np.asarray(duals, dtype=float)
        y_lo = np.where(np.isfinite(lo_row), np.maximum(y, 0.0), 0.0)  # prices of binding lower bounds
        y_hi = np.where(np.isfinite(hi_row), np.minimum(y, 0.0), 0.0)  # and of upper ones
        reduced = (np.fromiter((v.objective_coefficient for v in m.variable), float, n)
                   - np.bincount(cols, weights=vals * (y_lo + y_hi)[rows], minlength=n))
        lo = np.fromiter((v.lower_bound for v in m.variable), float, n)
        hi = np.fromiter((v.upper_bound for v in m.variable), float, n)
        value = (m.objective_offset + float(np.dot(np.where(np.isfinite(lo_row), lo_row, 0.0), y_lo))
                 + float(np.dot(np.where(np.isfinite(hi_row), hi_row, 0.0), y_hi))
                 + float(np.sum(np.where(reduced > 0, lo * reduced, hi * reduced))))
        return value - 1e-7 * max(1.0, abs(value)) if math.isfinite(value) else -math.inf
