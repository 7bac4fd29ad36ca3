"""The exact planner: OR-Tools CP-SAT over a time-indexed model of the manifest.

Formulation (time in integer steps of Δ minutes from ``now``; Δ grows with the horizon so that the
horizon stays within ~5,000 steps)::

    for each job j and each alternative a = (candidate offer o, price window w of o):
        x[j,a] ∈ {0,1},  optional interval I[j,a] = [s[j,a], s[j,a] + ⌈E[T_jo]/Δ⌉) present iff x[j,a]
        s[j,a] ∈ window w (for offers with a price schedule), ≥ input transfer time from dataRegion
    Σ_a x[j,a] = 1                                       exactly one placement per job
    s[j] = s[j,a], e[j] = s[j,a] + dur[j,a]  if x[j,a]   the job's start and end
    s[j] ≥ e[i] + transfer(loc_i → loc_j)  for i → j     precedence with transfer delay
    Cumulative({I[j,a] : a on pool p}, 1, capacity_p)    every pool with a capacity
    T[j] ≥ e[j] − deadline_j, T[j] ≥ 0                   soft deadlines
    e[j] ≤ deadline_j                    if hardDeadline
    cost[j,a] ≤ budgetUsd_j (alternatives over budget removed); Σ cost ≤ manifest budgetUsd
    egress[i,j] ≥ GB·rate(ℓ,ℓ')·(L[i,ℓ] + L[j,ℓ'] − 1)     L[j,ℓ] = Σ_{a at ℓ} x[j,a]
    R[j] ≥ P_int[j,a] if x[j,a];  R[j] ≥ P_miss(e[j])      (table over e[j] within ±4σ of the deadline)
    minimise  Σ cost[j,a]·x[j,a] + Σ egress + w_t·π_j·T[j]·Δ + w_r·π_j·R[j]   (× 10⁴, integers)

Approximations, all documented and all corrected afterwards: durations are rounded *up* to steps (so
every precedence and capacity constraint holds for the exact times too), a price window's alternative
is costed at the price when it starts, and a job's risk is modelled as max(P_int, P_miss) — a lower bound
of Ω's 1 − (1 − P_int)(1 − P_miss) — with P_miss read from a table of the normal tail over the end step
(σ = the job's durationStd). The plan returned is re-priced exactly by :mod:`.objective` and passes the
validator; ``lowerBound`` is the solver's bound on the model's objective, a bound on Ω up to step rounding.
The model starts from the greedy plan: its offers are re-timed on whole steps (rounded-up durations,
capacity, transfer delays) and completed into a full feasible hint by a short solve with those variables
fixed, so CP-SAT holds a solution from the start; it stops at the time limit with the best plan.
Manifests of more than 200 jobs keep, per job, the 4 cheapest alternatives plus the warm start's and one
on-demand (a heuristic cut: the bound is then the bound of that smaller model), and skip CP-SAT's
presolve, which otherwise spends the whole time limit expanding the risk tables.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from airflow_ai_scheduler.exceptions import InfeasiblePlanError, PlannerError
from airflow_ai_scheduler.models import Job, Manifest, Offer, Plan
from airflow_ai_scheduler.planning.base import Choice, Stopwatch, resolve_offers
from airflow_ai_scheduler.planning.candidates import CandidateIndex, fit_problem
from airflow_ai_scheduler.planning.greedy import GreedyPlanner, build_plan
from airflow_ai_scheduler.planning.objective import (
    DEFAULT_DURATION_CV,
    Scorer,
    egress_rate,
    expected_runtime,
    interruption_probability,
    miss_probability,
    priority_factor,
    transfer_hours,
)
from airflow_ai_scheduler.planning.validate import validate

SCALE = 10_000  # objective units per USD
TOP_K_ABOVE_JOBS = 200  # larger manifests keep only the TOP_K cheapest alternatives per job
TOP_K = 4
MAX_STEPS = 5_000


@dataclass
class _Alt:
    offer: Offer
    lo: int  # earliest start step
    hi: int  # latest start step
    dur: int  # steps
    cost: float  # USD, compute + dataRegion egress
    p_int: float


class CpSatPlanner:
    name = "optimal"

    def __init__(self, time_limit_seconds: float = 10.0, num_workers: int = 2, time_step_minutes: float | None = None,
                 horizon_hours: float | None = None, seed: int = 0) -> None:
        self.time_limit = time_limit_seconds
        self.workers = num_workers
        self.step_minutes = time_step_minutes
        self.horizon_hours = horizon_hours
        self.seed = seed

    def plan(self, manifest: Manifest, offers: list[Offer] | None = None, *, fixed: Mapping[str, Choice] | None = None,
             hints: Mapping[str, Choice] | None = None) -> Plan:
        watch = Stopwatch()
        offers = resolve_offers(manifest, offers)
        fixed = dict(fixed or {})
        cands = CandidateIndex(manifest, offers)
        self._check_fixed(manifest, offers, fixed)
        try:
            greedy: Plan | None = GreedyPlanner().plan(manifest, offers)
        except InfeasiblePlanError:
            greedy = None
        if hints is None and greedy is not None:
            hints = {p.job_id: Choice(p.offer_id, manifest.hours(p.start_time)) for p in greedy.placements}
        model = _Model(manifest, offers, cands, fixed, self._horizon(manifest, greedy), self.step_minutes)
        model.keep = {j: c.offer_id for j, c in (hints or {}).items()}
        model.build()
        if hints:
            model.hint(hints)
        status, choices, bound = model.solve(self.time_limit, self.workers, self.seed)
        if status == "infeasible":
            raise InfeasiblePlanError(diagnose(manifest, offers, cands, fixed, model.step_h))
        if status == "unknown":
            if greedy is None:
                raise InfeasiblePlanError(["CP-SAT found no plan within the time limit and greedy none at all: "
                                           "raise the time limit or loosen hard deadlines/capacities"])
            return greedy.model_copy(update={"notes": ["cp-sat found no solution in time; greedy plan"],
                                             "planner": self.name, "planning_seconds": watch.seconds})
        plan = self._best_timing(manifest, offers, choices, fixed)
        if plan is None:  # never ship a broken plan
            if greedy is None:
                raise PlannerError("the CP-SAT plan failed validation and there is no greedy plan")
            return greedy.model_copy(update={"notes": ["cp-sat plan failed validation; greedy plan"],
                                             "planner": self.name, "planning_seconds": watch.seconds})
        notes = [f"CP-SAT {status}, step {model.step_h * 60:g} min, {model.n_alts} alternatives for "
                 f"{len(manifest.jobs)} jobs"]
        if greedy is not None and not fixed and greedy.objective.total < plan.objective.total * (1 - 1e-3):
            # the warm start was better than what the solver reached in time: keep it, with the bound
            plan = greedy.model_copy(update={"planner": self.name})
            status = "feasible"
            notes.append("the greedy warm start beat the solver's best plan in the time limit; kept it")
        total = plan.objective.total
        lb = bound / SCALE if bound is not None else None
        gap = max(0.0, (total - lb) / total) if lb is not None and total > 0 else (0.0 if lb is not None else None)
        return plan.model_copy(update={"status": status, "lower_bound": None if lb is None else round(lb, 6),
                                       "gap": None if gap is None else round(gap, 6),
                                       "planning_seconds": watch.seconds, "notes": notes})

    def _best_timing(self, manifest: Manifest, offers: list[Offer], choices: dict[str, Choice],
                     fixed: Mapping[str, Choice]) -> Plan | None:
        """The solver's offers at its (step-rounded) start times, or as early as each can start — whichever
        valid plan is better: rounding up to steps leaves a little idle time the compact timing removes."""
        timed = build_plan(manifest, offers, choices, planner=self.name)
        compact_choices = {j: c if j in fixed else Choice(c.offer_id) for j, c in choices.items()}
        compact = build_plan(manifest, offers, compact_choices, planner=self.name)
        valid = [p for p in (timed, compact) if not validate(manifest, p, offers)]
        return min(valid, key=lambda p: p.objective.total) if valid else None

    def _horizon(self, manifest: Manifest, greedy: Plan | None) -> float:
        if self.horizon_hours:
            return self.horizon_hours
        ends = [manifest.hours(p.expected_end_time) for p in greedy.placements] if greedy else []
        deadlines = [manifest.hours(j.deadline) for j in manifest.jobs if j.deadline is not None]
        longest = max(j.estimated_duration_hours for j in manifest.jobs)
        total = sum(j.estimated_duration_hours for j in manifest.jobs)
        base = max([*ends, *deadlines, longest, 0.1])
        return min(base * 1.25 + longest, max(base + longest, total * 1.5))

    @staticmethod
    def _check_fixed(manifest: Manifest, offers: list[Offer], fixed: Mapping[str, Choice]) -> None:
        by_id = {o.offer_id: o for o in offers}
        jobs = manifest.job_map
        problems = []
        for jid, ch in fixed.items():
            if jid not in jobs:
                problems.append(f"fixed choice for unknown job {jid!r}")
            elif ch.offer_id not in by_id:
                problems.append(f"job {jid!r}: fixed offer {ch.offer_id!r} does not exist")
            elif (why := fit_problem(jobs[jid], by_id[ch.offer_id])) is not None:
                problems.append(f"job {jid!r}: fixed offer {ch.offer_id!r} does not fit: {why}")
        if problems:
            raise InfeasiblePlanError(problems)


class _Model:
    def __init__(self, manifest: Manifest, offers: list[Offer], cands: CandidateIndex, fixed: Mapping[str, Choice],
                 horizon_h: float, step_minutes: float | None) -> None:
        from ortools.sat.python import cp_model

        self.cp = cp_model
        self.m = cp_model.CpModel()
        self.manifest, self.offers, self.cands, self.fixed = manifest, offers, cands, fixed
        self.scorer = Scorer(manifest, offers)
        step = step_minutes or max(1.0, math.ceil(horizon_h * 60 / MAX_STEPS))
        self.step_h = step / 60.0
        self.H = int(math.ceil(horizon_h / self.step_h)) + 1
        self.alts: dict[str, list[_Alt]] = {}
        self.x: dict[str, list] = {}
        self.start: dict[str, object] = {}
        self.end: dict[str, object] = {}
        self.n_alts = 0
        self.keep: dict[str, str] = {}
        self.top_k = 0 if len(manifest.jobs) <= TOP_K_ABOVE_JOBS else TOP_K

    def steps(self, hours: float) -> int:
        return int(math.ceil(hours / self.step_h - 1e-9))

    def _alternatives(self, job: Job) -> list[_Alt]:
        fixed = self.fixed.get(job.job_id)
        options = [self.scorer.offer_map[fixed.offer_id]] if fixed else self.cands.for_job(job)
        out = []
        for o in options:
            runtime = expected_runtime(job, o)
            dur = max(1, self.steps(runtime))
            data_cost, data_h = self.scorer.egress(job, o, {}) if job.data_region else (0.0, 0.0)
            lo = self.steps(data_h)
            curve = self.scorer.curve(o)
            windows = [(lo, self.H)]
            if not curve.constant:
                cuts = sorted({max(lo, self.steps(b)) for b in curve.breakpoints_after(0.0)} | {lo})
                windows = [(a, b - 1) for a, b in zip(cuts, [*cuts[1:], self.H + 1], strict=True) if a <= b - 1]
            for a, b in windows:
                start_h = a * self.step_h
                cost = curve.integral(start_h, start_h + runtime) + data_cost
                if job.budget_usd is not None and cost > job.budget_usd * (1 + 1e-9) and not fixed:
                    continue
                if fixed and fixed.start_hours is not None:
                    s = max(0, round(fixed.start_hours / self.step_h))
                    if not a <= s <= b:
                        continue
                    a = b = s
                out.append(_Alt(o, a, b, dur, cost, interruption_probability(o, runtime)))
        if self.top_k and len(out) > self.top_k and not fixed:
            # large models: the k cheapest alternatives, plus the warm start's and a safe on-demand one
            keep = sorted(out, key=lambda a: a.cost + a.p_int)[: self.top_k]
            hinted = self.keep.get(job.job_id)
            keep += [a for a in out if a not in keep and (a.offer.offer_id == hinted)]
            if not any(a.offer.tier == "on-demand" for a in keep):
                keep += sorted((a for a in out if a.offer.tier == "on-demand"), key=lambda a: a.cost)[:1]
            out = keep
        return out

    def build(self) -> None:
        m, w = self.m, self.manifest.weights
        objective = []
        pools: dict[str, tuple[list, int]] = {}
        loc_of: dict[str, dict[str, object]] = {}
        for job in self.scorer.order:
            alts = self._alternatives(job)
            if not alts:
                raise InfeasiblePlanError([self.cands.why_none(job) if not self.cands.for_job(job) else
                                           f"job {job.job_id!r}: every candidate offer is over its budgetUsd "
                                           f"${job.budget_usd}"])
            self.alts[job.job_id] = alts
            self.n_alts += len(alts)
            jid = job.job_id
            s = m.NewIntVar(0, self.H, f"s_{jid}")
            e = m.NewIntVar(0, self.H + max(a.dur for a in alts), f"e_{jid}")
            xs = []
            pf = priority_factor(job)
            risk = m.NewIntVar(0, int(SCALE * w.risk * pf) + 1, f"r_{jid}")  # ≥ max(P_int, P_miss)
            objective.append(risk)
            for k, a in enumerate(alts):
                x = m.NewBoolVar(f"x_{jid}_{k}")
                sa = m.NewIntVar(a.lo, a.hi, f"sa_{jid}_{k}")
                iv = m.NewOptionalFixedSizeIntervalVar(sa, a.dur, x, f"i_{jid}_{k}")
                m.Add(s == sa).OnlyEnforceIf(x)
                m.Add(e == sa + a.dur).OnlyEnforceIf(x)
                if a.offer.capacity is not None:
                    pools.setdefault(a.offer.offer_id, ([], a.offer.capacity))[0].append(iv)
                objective.append(int(round(SCALE * w.cost * a.cost)) * x)
                m.Add(risk >= int(round(SCALE * w.risk * pf * a.p_int))).OnlyEnforceIf(x)
                xs.append(x)
            m.AddExactlyOne(xs)
            self.x[jid], self.start[jid], self.end[jid] = xs, s, e
            deadline = self.scorer.deadline_h[jid]
            if deadline is not None:
                dl = int(math.floor(deadline / self.step_h + 1e-9))
                if job.hard_deadline:
                    m.Add(e <= dl)
                else:
                    t = m.NewIntVar(0, self.H * 2, f"t_{jid}")
                    m.Add(t >= e - dl)
                    objective.append(int(round(SCALE * w.tardiness * pf * self.step_h)) * t)
                self._miss_risk(job, e, dl, risk, SCALE * w.risk * pf)
            if self.cands.location_matters(job):
                loc_of[jid] = self._locations(jid, alts, xs)
            self._precedence(job, loc_of, objective)
        for ivs, cap in pools.values():
            if len(ivs) > cap:
                m.AddCumulative(ivs, [1] * len(ivs), cap)
        if self.manifest.budget_usd is not None:
            m.Add(sum(int(round(SCALE * a.cost)) * x for jid, alts in self.alts.items()
                      for a, x in zip(alts, self.x[jid], strict=True)) <= int(SCALE * self.manifest.budget_usd))
        m.Minimize(sum(objective))

    def _miss_risk(self, job: Job, end: object, dl: int, risk: object, scale: float) -> None:
        """risk ≥ P(miss): a table of the normal tail over the end step, within ±4σ of the deadline."""
        sigma = job.duration_std_hours
        if sigma is None:
            sigma = DEFAULT_DURATION_CV * job.estimated_duration_hours
        k = min(500, max(1, math.ceil(4 * sigma / self.step_h)))
        table = [int(round(scale * miss_probability((k - i) * self.step_h, sigma))) for i in range(2 * k + 1)]
        m = self.m
        shifted = m.NewIntVar(-self.H * 4, self.H * 4, f"sh_{job.job_id}")
        m.Add(shifted == end - dl + k)
        low = m.NewIntVar(0, self.H * 4, f"lo_{job.job_id}")
        m.AddMaxEquality(low, [shifted, 0])
        idx = m.NewIntVar(0, 2 * k, f"ix_{job.job_id}")
        m.AddMinEquality(idx, [low, 2 * k])
        pm = m.NewIntVar(0, max(table), f"pm_{job.job_id}")
        m.AddElement(idx, table, pm)
        m.Add(risk >= pm)

    def _locations(self, jid: str, alts: list[_Alt], xs: list) -> dict[str, object]:
        by_loc: dict[str, list] = {}
        for a, x in zip(alts, xs, strict=True):
            by_loc.setdefault(a.offer.location, []).append(x)
        out = {}
        for loc, group in by_loc.items():
            b = self.m.NewBoolVar(f"L_{jid}_{loc}")
            self.m.Add(sum(group) == b)
            out[loc] = b
        return out

    def _precedence(self, job: Job, loc_of: dict[str, dict[str, object]], objective: list) -> None:
        jid = job.job_id
        moves = job.input_data_size_gb > 0 and not job.data_region and job.dependencies
        share = job.input_data_size_gb / len(job.dependencies) if job.dependencies else 0.0
        eg = self.manifest.egress
        for dep in job.dependencies:
            self.m.Add(self.start[jid] >= self.end[dep])
            if not moves:
                continue
            for l1, b1 in loc_of[dep].items():
                for l2, b2 in loc_of[jid].items():
                    rate, hours = egress_rate(eg, l1, l2), transfer_hours(eg, share, l1, l2)
                    both = [b1, b2]
                    if hours > 0:
                        self.m.Add(self.start[jid] >= self.end[dep] + self.steps(hours)).OnlyEnforceIf(both)
                    if rate > 0:
                        c = int(round(SCALE * self.manifest.weights.cost * share * rate))
                        y = self.m.NewBoolVar(f"y_{dep}_{jid}_{l1}_{l2}")
                        self.m.AddBoolOr([b1.Not(), b2.Not(), y])
                        objective.append(c * y)

    def hint(self, hints: Mapping[str, Choice]) -> None:
        """Hint a complete schedule that is feasible *in the discrete model*: the hinted offers, started in
        the hinted order but re-timed on whole steps (rounded-up durations, capacity, transfer delays), so
        the solver starts from a solution instead of repairing a continuous-time one."""
        order = sorted(self.alts, key=lambda j: (hints[j].start_hours or 0.0) if j in hints else math.inf)
        end: dict[str, int] = {}
        self._hinted_loc: dict[str, str] = {}
        usage: dict[str, list[int]] = {}
        for jid in self._topological(order):
            alts, ch = self.alts[jid], hints.get(jid)
            pick = [k for k, a in enumerate(alts) if ch is not None and a.offer.offer_id == ch.offer_id]
            if not pick:
                pick = [min(range(len(alts)), key=lambda k: alts[k].cost)]
            want = 0 if ch is None or ch.start_hours is None else self.steps(ch.start_hours)
            ready = max([want, *(end[d] + self._delay(d, jid, alts[pick[0]]) for d in self.scorer.jobs[jid].dependencies)])
            k, s = self._earliest(alts, pick, ready, usage)
            if k is None:
                return  # no room on the hinted offer within the horizon: leave the solver unhinted
            a = alts[k]
            end[jid] = s + a.dur
            self._hinted_loc[jid] = a.offer.location
            if a.offer.capacity is not None:
                row = usage.setdefault(a.offer.offer_id, [0] * (self.H + a.dur + 2))
                for t in range(s, min(len(row), s + a.dur)):
                    row[t] += 1
            for i, x in enumerate(self.x[jid]):
                self.m.AddHint(x, i == k)
            self.m.AddHint(self.start[jid], s)
            self.m.AddHint(self.end[jid], s + a.dur)

    def _topological(self, order: list[str]) -> list[str]:
        done: set[str] = set()
        out: list[str] = []

        def visit(j: str) -> None:
            if j in done:
                return
            done.add(j)
            for d in self.scorer.jobs[j].dependencies:
                visit(d)
            out.append(j)

        for j in order:
            visit(j)
        return out

    def _delay(self, dep: str, jid: str, alt: _Alt) -> int:
        job = self.scorer.jobs[jid]
        if not (job.input_data_size_gb > 0 and not job.data_region):
            return 0
        src = self._hinted_loc.get(dep)
        share = job.input_data_size_gb / len(job.dependencies)
        return self.steps(transfer_hours(self.manifest.egress, share, src, alt.offer.location)) if src else 0

    def _earliest(self, alts: list[_Alt], pick: list[int], ready: int,
                  usage: dict[str, list[int]]) -> tuple[int | None, int]:
        s = ready
        while s <= self.H:
            k = next((k for k in pick if alts[k].hi >= s), None)
            if k is None:
                return None, 0
            a = alts[k]
            s = max(s, a.lo)
            row = usage.get(a.offer.offer_id)
            cap = a.offer.capacity
            busy = None if cap is None or row is None else next(
                (t for t in range(s, min(len(row), s + a.dur)) if row[t] >= cap), None)
            if busy is None:
                return k, s
            s = busy + 1
        return None, 0

    def _complete_hint(self, time_limit: float, workers: int, seed: int) -> None:
        """Turn the partial hint (offers and steps) into a full assignment by solving with the hinted
        variables fixed: CP-SAT takes a complete feasible hint as its first solution at once, while a
        partial one on a large model it may not complete within the time limit."""
        if not self.m.Proto().solution_hint.vars:
            return
        solver = self.cp.CpSolver()
        solver.parameters.max_time_in_seconds = max(0.1, time_limit)
        solver.parameters.num_workers = max(1, workers)
        solver.parameters.random_seed = seed
        solver.parameters.fix_variables_to_their_hinted_value = True
        if solver.Solve(self.m) not in (self.cp.OPTIMAL, self.cp.FEASIBLE):
            return  # keep the partial hint: the solver still tries it first
        values = solver.ResponseProto().solution
        self.m.ClearHints()
        for i, v in enumerate(values):
            self.m.AddHint(self.m.GetIntVarFromProtoIndex(i), v)

    def solve(self, time_limit: float, workers: int, seed: int) -> tuple[str, dict[str, Choice], float | None]:
        import time

        began = time.perf_counter()
        self._complete_hint(min(5.0, time_limit / 4), workers, seed)
        solver = self.cp.CpSolver()
        solver.parameters.max_time_in_seconds = max(0.1, time_limit - (time.perf_counter() - began))
        if self.top_k:
            # on 1,000 jobs presolve expands the risk tables into ~300k constraints and uses the whole
            # time limit before search starts (measured); without it search starts from the hint at once
            solver.parameters.cp_model_presolve = False
        solver.parameters.num_workers = max(1, workers)
        solver.parameters.random_seed = seed
        code = solver.Solve(self.m)
        name = solver.StatusName(code)
        if name == "INFEASIBLE":
            return "infeasible", {}, None
        if name == "MODEL_INVALID":
            raise PlannerError(f"CP-SAT model invalid: {self.m.Validate()}")
        if name not in ("OPTIMAL", "FEASIBLE"):
            return "unknown", {}, None
        choices = {}
        for jid, alts in self.alts.items():
            k = next(i for i, x in enumerate(self.x[jid]) if solver.Value(x))
            choices[jid] = Choice(alts[k].offer.offer_id, solver.Value(self.start[jid]) * self.step_h)
        return ("optimal" if name == "OPTIMAL" else "feasible"), choices, solver.BestObjectiveBound()


def diagnose(manifest: Manifest, offers: list[Offer], cands: CandidateIndex, fixed: Mapping[str, Choice],
             step_h: float) -> list[str]:
    """Readable reasons a model is infeasible: hard deadlines, budgets, capacity."""
    scorer = Scorer(manifest, offers)
    reasons: list[str] = []
    earliest: dict[str, float] = {}
    chain: dict[str, list[str]] = {}
    for job in scorer.order:
        opts = [scorer.offer_map[fixed[job.job_id].offer_id]] if job.job_id in fixed else cands.for_job(job)
        ready, via = 0.0, []
        for d in job.dependencies:
            if earliest[d] > ready:
                ready, via = earliest[d], chain[d]
        fastest = min(expected_runtime(job, o) for o in opts)
        earliest[job.job_id] = ready + fastest
        chain[job.job_id] = [*via, job.job_id]
        dl = scorer.deadline_h[job.job_id]
        if job.hard_deadline and dl is not None and earliest[job.job_id] > dl + step_h:
            reasons.append(f"job {job.job_id!r}: hard deadline {job.deadline.isoformat() if job.deadline else ''} "
                           f"is {earliest[job.job_id] - dl:.2f} h before the earliest possible end, even on the "
                           f"fastest offers with unlimited capacity (chain {' -> '.join(chain[job.job_id])})")
        cheapest = min(scorer.curve(o).integral(0, expected_runtime(job, o)) for o in opts)
        if job.budget_usd is not None and cheapest > job.budget_usd:
            reasons.append(f"job {job.job_id!r}: budgetUsd ${job.budget_usd} is below its cheapest offer (${cheapest:.4f})")
    if manifest.budget_usd is not None:
        floor = sum(min(scorer.curve(o).integral(0, expected_runtime(j, o)) for o in cands.for_job(j))
                    for j in manifest.jobs if cands.for_job(j))
        if floor > manifest.budget_usd:
            reasons.append(f"manifest budgetUsd ${manifest.budget_usd} is below the cheapest possible plan (${floor:.2f})")
    if not reasons:
        reasons.append("the limited-capacity pools cannot fit every job before its hard deadline "
                       f"(or the fixed choices {sorted(fixed)} conflict)" if fixed else
                       "the limited-capacity pools cannot fit every job before its hard deadline")
    return reasons
