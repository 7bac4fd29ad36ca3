"""A valid lower bound on Ω, and the data locations that attain it: the *location relaxation*.

Drop the pools' capacities and keep precedence only as an earliest start. What is left of Ω is one term
per job — its compute cost, tardiness and risk, which depend on its own offer and start only — plus the
egress of data moved along dependency edges, which depends on the locations of both ends. So:

1. **Per (job j, offer o) floor** ``f[j,o]`` = min over starts s ≥ est[j,o] of
   w_c·(∫_s^{s+E[T]} p + dataRegion egress) + w_carbon·∫_s^{s+E[T]} c + w_t·π·max(0, s + E[T] − d)
   + w_r·π·(1 − (1 − P_miss(s))(1 − P_int)) + r·max(0, s + E[T] − EF)  (carbon and delay: objective.py).
   est[j,o] is a lower bound on any feasible start: the input's transfer time from ``dataRegion``, and
   for each dependency the smallest (earliest start + E[T] + transfer time to o's location) over the
   dependency's own offers (a critical path of minimal runtimes). Tardiness and risk never decrease with
   s; the compute cost is linear between the points where s or s + E[T] crosses a price change. On each
   such piece [a, b] the floor takes min(cost(a), cost(b)) + (tardiness + risk)(a): a valid minimum.
2. **Location labelling**: every job that moves data picks one location ℓ; its node cost is
   min over its offers at ℓ of f[j,o]; an edge i → j moving g GB (j's input split over its
   dependencies) costs w_c·g·rate(ℓ_i, ℓ_j). Minimised exactly by CP-SAT in the local-polytope form
   (μ[ℓ,ℓ'] per edge, marginals equal to both ends' choices), whose LP is tight enough that 1,000-job
   instances are proven optimal in seconds. Jobs that move no data add min_o f[j,o].

Every plan's Ω is at least its labelling's value (capacity and precedence only restrict plans further),
so the labelling optimum — or, if the time runs out, CP-SAT's proven bound on it — is a lower bound on
every plan's Ω. Costs are rounded *down* to 10⁻⁶ USD-units in the integer model, so rounding never
raises it. Offers removed by dominance pruning (candidates.py) never remove an optimal plan, so the bound
holds for the optimum over all offers. The labelling also seeds the primal side: greedy that looks ahead
to where each job's dependents are labelled (see planner.py) co-locates data that greedy alone scatters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from airflow_ai_scheduler.models import Job, Manifest, Offer
from airflow_ai_scheduler.planning.base import Choice
from airflow_ai_scheduler.planning.candidates import CandidateIndex
from airflow_ai_scheduler.planning.objective import (
    Scorer,
    duration_sigma,
    egress_rate,
    expected_runtime,
    interruption_probability,
    miss_probability,
    priority_factor,
    transfer_hours,
)

#: integer units per Ω unit in the labelling model (costs rounded down, so the bound stays valid)
RELAX_SCALE = 1_000_000
#: how many labellings found before the last one are kept as extra warm starts
ALTERNATIVE_LABELLINGS = 2


@dataclass
class Relaxation:
    bound: float  # lower bound on Ω of every plan
    labels: dict[str, str] = field(default_factory=dict)  # job → location of the labelling found
    status: str = "unknown"  # "optimal" when the labelling was solved exactly
    floors: dict[str, dict[str, float]] = field(default_factory=dict)  # job → offer id → f[j,o]
    #: the labelling the search starts from: everything at the one location with the least node cost —
    #: often as good once capacity counts, and a second warm start for the planner
    common: dict[str, str] = field(default_factory=dict)
    #: other labellings the search passed through on its way to ``labels`` (the last few, best last):
    #: equally or nearly as cheap without capacity, and with capacity sometimes better — more warm starts
    alternatives: list[dict[str, str]] = field(default_factory=list)


def options(job: Job, cands: CandidateIndex, scorer: Scorer, fixed: Mapping[str, Choice]) -> list[Offer]:
    ch = fixed.get(job.job_id)
    return [scorer.offer_map[ch.offer_id]] if ch is not None else cands.for_job(job)


def job_floors(scorer: Scorer, cands: CandidateIndex, fixed: Mapping[str, Choice] | None = None,
               starts: dict[str, dict[str, float]] | None = None) -> dict[str, dict[str, float]]:
    """f[j,o] for every job and candidate offer (step 1 of the module doc); ``starts`` (if given) receives
    est[j,o], the lower bound on j's start on o."""
    fixed = fixed or {}
    eg, w = scorer.manifest.egress, scorer.weights
    finish: dict[str, dict[str, float]] = {}  # job → location → earliest possible expected end
    floors: dict[str, dict[str, float]] = {}
    for job in scorer.order:
        jid, gb = job.job_id, job.input_data_size_gb
        moves = gb > 0 and not job.data_region and bool(job.dependencies)
        share = gb / len(job.dependencies) if job.dependencies else 0.0
        pf, dl = priority_factor(job), scorer.deadline_h[jid]
        mine: dict[str, float] = {}
        ends: dict[str, float] = {}
        at: dict[str, tuple[float, float]] = {}  # location → (est, data cost): the same for all its offers
        for o in options(job, cands, scorer, fixed):
            runtime = expected_runtime(job, o)
            if o.location not in at:
                est, data_cost = 0.0, 0.0
                if job.data_region and gb > 0:
                    est = transfer_hours(eg, gb, job.data_region, o.location)
                    data_cost = gb * egress_rate(eg, job.data_region, o.location)
                for d in job.dependencies:
                    if moves:
                        est = max(est, min(t + transfer_hours(eg, share, loc, o.location) for loc, t in finish[d].items()))
                    else:
                        est = max(est, min(finish[d].values()))
                at[o.location] = (est, data_cost)
            est, data_cost = at[o.location]
            mine[o.offer_id] = w.cost * data_cost + _min_over_starts(scorer, job, o, est, runtime, pf, dl)
            if starts is not None:
                starts.setdefault(jid, {})[o.offer_id] = est
            ends[o.location] = min(ends.get(o.location, math.inf), est + runtime)
        floors[jid], finish[jid] = mine, ends
    return floors


def _min_over_starts(scorer: Scorer, job: Job, o: Offer, est: float, runtime: float, pf: float,
                     dl: float | None) -> float:
    w = scorer.weights
    curve, carbon = scorer.curve(o), scorer.carbon_curve(o)
    p_int = interruption_probability(o, runtime)
    sigma = duration_sigma(job, runtime, o)
    jt = scorer.job_terms(job)

    def rising(s: float) -> float:  # tardiness + risk + delay cost: non-decreasing in s
        delay = jt.delay_rate * max(0.0, s + runtime - jt.earliest_finish)
        if dl is None:
            return w.risk * pf * p_int + delay
        slack = dl - s - runtime
        p_miss = miss_probability(slack, sigma)
        return w.tardiness * pf * max(0.0, -slack) + w.risk * pf * (1.0 - (1.0 - p_miss) * (1.0 - p_int)) + delay

    # price (and carbon) are linear in s between the points where s or s + E[T] crosses a step of either
    steps = [*curve.times[1:], *(carbon.times[1:] if w.carbon > 0 else [])]
    points = sorted({est, *(x for b in steps for x in (b, b - runtime) if x > est)})
    cost = [w.cost * curve.integral(s, s + runtime) + w.carbon * carbon.integral(s, s + runtime) for s in points]
    best = math.inf
    for i, s in enumerate(points):
        piece = min(cost[i], cost[i + 1]) if i + 1 < len(points) else cost[i]  # the last piece is flat
        best = min(best, piece + rising(s))
    return best


def relax(manifest: Manifest, offers: list[Offer], cands: CandidateIndex, fixed: Mapping[str, Choice] | None,
          time_limit: float, workers: int = 2, seed: int = 0) -> Relaxation:
    """The location relaxation (module doc): its bound on Ω and the labelling that attains it."""
    from ortools.sat.python import cp_model

    fixed = fixed or {}
    scorer = Scorer(manifest, offers)
    floors = job_floors(scorer, cands, fixed)
    m = cp_model.CpModel()
    constant = 0.0  # exact (float) part: jobs whose location is irrelevant, and each labelled job's minimum
    terms: list = []
    label_vars: dict[str, dict[str, object]] = {}
    for job in scorer.order:
        jid = job.job_id
        by_loc: dict[str, float] = {}
        for o in options(job, cands, scorer, fixed):
            by_loc[o.location] = min(by_loc.get(o.location, math.inf), floors[jid][o.offer_id])
        if not by_loc:
            return Relaxation(bound=-math.inf, status="infeasible", floors=floors)
        low = min(by_loc.values())
        constant += low
        if not cands.location_matters(job):
            continue
        xs = {loc: m.NewBoolVar(f"L_{jid}_{loc}") for loc in by_loc}
        m.AddExactlyOne(xs.values())
        terms += [math.floor(RELAX_SCALE * (v - low)) * xs[loc] for loc, v in by_loc.items() if v > low]
        label_vars[jid] = xs
    terms += _edge_terms(m, scorer, label_vars)
    if not terms:  # nothing couples the jobs: the floors are the bound, any labelling attains it
        labels = {j: min(xs, key=lambda loc, j=j: _floor_at(floors, j, loc, scorer)) for j, xs in label_vars.items()}
        return Relaxation(bound=constant, labels=labels, status="optimal", floors=floors)
    m.Minimize(sum(terms))
    common = _common_location(label_vars, floors, scorer)
    _hint(m, label_vars, common)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.1, time_limit)
    solver.parameters.num_workers = max(1, workers)
    solver.parameters.random_seed = seed
    # presolve's probing spent 1 deterministic second (5-7 s on a busy 2-core machine) on a 286-job workflow
    # before search began, and the time ran out with no labelling at all; the LP-tight model needs none
    solver.parameters.cp_model_probing_level = 0
    seen = _Labellings(label_vars)
    code = solver.Solve(m, seen)
    name = solver.StatusName(code)
    bound = constant + max(0.0, solver.BestObjectiveBound()) / RELAX_SCALE
    if name not in ("OPTIMAL", "FEASIBLE"):
        return Relaxation(bound=constant, status="unknown", floors=floors, common=common)
    labels = {j: next(loc for loc, x in xs.items() if solver.Value(x)) for j, xs in label_vars.items()}
    others = [lab for lab in seen.last if lab != labels and lab != common]
    return Relaxation(bound=bound, labels=labels, status="optimal" if name == "OPTIMAL" else "feasible",
                      floors=floors, common=common, alternatives=others)


def _hint(m: object, label_vars: dict[str, dict[str, object]], labels: dict[str, str]) -> None:
    for j, xs in label_vars.items():
        for loc, x in xs.items():
            m.AddHint(x, loc == labels[j])


def _edge_terms(m: object, scorer: Scorer, label_vars: dict[str, dict[str, object]]) -> list:
    """Egress along each data-moving edge, in the local-polytope form (module doc, step 2)."""
    eg, wc = scorer.manifest.egress, scorer.manifest.weights.cost
    terms: list = []
    for job in scorer.order:
        if not (job.input_data_size_gb > 0 and not job.data_region and job.dependencies):
            continue
        jid = job.job_id
        share = job.input_data_size_gb / len(job.dependencies)
        for d in job.dependencies:
            src, dst = label_vars[d], label_vars[jid]
            mu = {(a, b): m.NewBoolVar(f"mu_{d}_{jid}_{a}_{b}") for a in src for b in dst}
            for a, xa in src.items():
                m.Add(sum(mu[a, b] for b in dst) == xa)
            for b, xb in dst.items():
                m.Add(sum(mu[a, b] for a in src) == xb)
            for (a, b), v in mu.items():
                c = math.floor(RELAX_SCALE * wc * share * egress_rate(eg, a, b))
                if c > 0:
                    terms.append(c * v)
    return terms


def _Labellings(label_vars: dict[str, dict[str, object]], keep: int = ALTERNATIVE_LABELLINGS):  # noqa: N802
    """A solution callback that remembers the last ``keep`` labellings CP-SAT found."""
    from ortools.sat.python import cp_model

    class Callback(cp_model.CpSolverSolutionCallback):
        def __init__(self) -> None:
            super().__init__()
            self.last: list[dict[str, str]] = []

        def on_solution_callback(self) -> None:
            lab = {j: next(loc for loc, x in xs.items() if self.Value(x)) for j, xs in label_vars.items()}
            self.last = [*self.last, lab][-keep - 1:]

    return Callback()


def _floor_at(floors: dict[str, dict[str, float]], jid: str, loc: str, scorer: Scorer) -> float:
    return min(v for oid, v in floors[jid].items() if scorer.offer_map[oid].location == loc)


def _common_location(label_vars: dict[str, dict[str, object]], floors: dict[str, dict[str, float]],
                     scorer: Scorer) -> dict[str, str]:
    """Everything at the one location with the least total node cost (no egress among the jobs that can
    run there; the others at their own cheapest): the labelling's first solution — on large instances
    CP-SAT would otherwise spend the time limit finding one."""
    node = {j: {loc: _floor_at(floors, j, loc, scorer) for loc in xs} for j, xs in label_vars.items()}
    locations = {loc for xs in label_vars.values() for loc in xs}
    if not locations:
        return {}

    def total(loc: str) -> float:
        return sum(c.get(loc, min(c.values())) for c in node.values())

    common = min(sorted(locations), key=total)
    return {j: common if common in c else min(c, key=c.get) for j, c in node.items()}
