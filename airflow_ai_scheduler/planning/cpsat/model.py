"""The CP-SAT model: a time-indexed formulation of the manifest, its warm start and its solve.

Formulation (time in integer steps of Δ minutes from ``now``; Δ grows with the horizon so that the
horizon stays within ~5,000 steps)::

    for each job j and each alternative a = (candidate offer o, price window w of o):
        x[j,a] ∈ {0,1},  optional interval I[j,a] = [s[j,a], s[j,a] + ⌈E[T_jo]/Δ⌉) present iff x[j,a]
        s[j,a] ∈ window w (for offers with a price schedule), ≥ input transfer time from dataRegion
    Σ_a x[j,a] = 1                                       exactly one placement per job
    s[j] = s[j,a], e[j] = s[j,a] + dur[j,a]  if x[j,a]   the job's start and end
    s[j] ≥ e[i] + transfer(loc_i → loc_j)  for i → j     precedence with transfer delay
    Cumulative({I[j,a] : a drawing on r}, demand, cap_r)  every pool and commitment (commitments.py)
    T[j] ≥ e[j] − deadline_j, T[j] ≥ 0                   soft deadlines
    e[j] ≤ deadline_j                    if hardDeadline
    cost[j,a] ≤ budgetUsd_j (alternatives over budget removed); Σ cost ≤ manifest budgetUsd
    Σ co2[j,a]·x[j,a] ≤ carbonBudgetKg                   co2 = kg CO2e of a at its window's start
    egress[i,j] ≥ GB·rate(ℓ,ℓ')·(L[i,ℓ] + L[j,ℓ'] − 1)     L[j,ℓ] = Σ_{a at ℓ} x[j,a]
    R[j] ≥ P_int[j,a] if x[j,a];  R[j] ≥ P_miss(e[j])      (table over e[j] within ±4σ of the deadline)
    minimise  Σ (cost + w_carbon·co2)[j,a]·x[j,a] + Σ egress + w_t·π_j·T[j]·Δ + w_r·π_j·R[j]
              + Σ r_j·Δ·e[j]     (delay cost: its constant −r_j·EF_j dropped)       (× 10⁴, integers)

Approximations, all corrected afterwards: durations are rounded *up* to steps (so every precedence and
capacity constraint holds for the exact times too), a price window's alternative is costed at the price
when it starts, and a job's risk is modelled as max(P_int, P_miss) with P_miss read from a table of the
normal tail over the end step. The plan returned is re-priced exactly by :mod:`..objective` and passes
the validator. Because of these approximations the model's optimum is *not* Ω's, and CP-SAT's bound on
it is not a bound on Ω (it can exceed a feasible plan's Ω): the planner reports the relaxation's bound
(relaxation.py) instead.

Above 200 jobs each job keeps few alternatives (the TOP_K cheapest at its labelled location, or overall
when it has none, the OFF_LABEL_K cheapest elsewhere, the warm start's and one on-demand — a heuristic
cut), the step is the finest the step budget allows (not whole minutes), and CP-SAT's presolve is
skipped (it otherwise spends the whole time limit expanding the risk tables) and the search is
large-neighbourhood search only, from the warm start: our own neighbourhoods (lns.py), or CP-SAT's
``use_lns_only`` when the hint could not be completed. Such models are never proven optimal in the time
limit, and LNS improves the plan much faster than full search does. Their deadlines are moved by the
hint's rounding lag (:meth:`_Model.build`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from airflow_ai_scheduler.exceptions import InfeasiblePlanError, PlannerError
from airflow_ai_scheduler.models import Job, Manifest, Offer
from airflow_ai_scheduler.planning.base import Choice
from airflow_ai_scheduler.planning.candidates import CandidateIndex
from airflow_ai_scheduler.planning.objective import (
    DEFAULT_DURATION_CV,
    Scorer,
    egress_rate,
    expected_runtime,
    interruption_probability,
    miss_probability,
    priority_factor,
    transfer_hours,
    within_budget,
)

SCALE = 10_000  # objective units per USD
TOP_K_ABOVE_JOBS = 200  # larger manifests keep only the TOP_K cheapest alternatives per job (doc)
TOP_K = 4
OFF_LABEL_K = 2
MAX_STEPS = 5_000
MIN_STEP_MINUTES = 0.001  # 0.06 s: real workflows' tasks take seconds, their σ a tenth of a second
RISK_BUCKETS = 16  # per side of a deadline, in a job's P(miss) table


@dataclass
class _Alt:
    offer: Offer
    lo: int  # earliest start step
    hi: int  # latest start step
    dur: int  # steps
    cost: float  # USD, compute + dataRegion egress
    p_int: float
    co2: float = 0.0  # kg CO2e


class _Model:
    def __init__(self, manifest: Manifest, offers: list[Offer], cands: CandidateIndex, fixed: Mapping[str, Choice],
                 horizon_h: float, step_minutes: float | None) -> None:
        from ortools.sat.python import cp_model

        self.cp = cp_model
        self.m = cp_model.CpModel()
        self.manifest, self.offers, self.cands, self.fixed = manifest, offers, cands, fixed
        self.scorer = Scorer(manifest, offers)
        large = len(manifest.jobs) > TOP_K_ABOVE_JOBS
        # whole minutes keep small models provable; large ones (searched by LNS, never proven) get the
        # finest step the step budget allows: rounding each start up to a step cost the 1,000-job fan-out
        # 0.4 % of Ω in the deadline risk of short, tight jobs
        step = step_minutes or (max(MIN_STEP_MINUTES, horizon_h * 60 / MAX_STEPS) if large
                                else max(1.0, math.ceil(horizon_h * 60 / MAX_STEPS)))
        self.step_h = step / 60.0
        self.H = int(math.ceil(horizon_h / self.step_h)) + 1
        self.alts: dict[str, list[_Alt]] = {}
        self.x: dict[str, list] = {}
        self.start: dict[str, object] = {}
        self.end: dict[str, object] = {}
        self.n_alts = 0
        self.keep: dict[str, str] = {}  # job → the warm start's offer (kept by the top-k cut)
        self.labels: dict[str, str] = {}  # job → location of the relaxation's labelling (top-k prefers it)
        self.top_k = TOP_K if large else 0

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
            curve, carbon = self.scorer.curve(o), self.scorer.carbon_curve(o)
            windows = [(lo, self.H)]
            breaks = [] if curve.constant else curve.breakpoints_after(0.0)
            if not carbon.constant and (self.manifest.weights.carbon > 0 or self.manifest.carbon_budget_kg is not None):
                breaks = [*breaks, *carbon.breakpoints_after(0.0)]
            if breaks:
                cuts = sorted({max(lo, self.steps(b)) for b in breaks} | {lo})
                windows = [(a, b - 1) for a, b in zip(cuts, [*cuts[1:], self.H + 1], strict=True) if a <= b - 1]
            for a, b in windows:
                start_h = a * self.step_h
                cost = curve.integral(start_h, start_h + runtime) + data_cost
                co2 = carbon.integral(start_h, start_h + runtime)
                if not within_budget(job, cost) and not fixed:
                    continue
                if fixed and fixed.start_hours is not None:
                    s = max(0, round(fixed.start_hours / self.step_h))
                    if not a <= s <= b:
                        continue
                    a = b = s
                out.append(_Alt(o, a, b, dur, cost, interruption_probability(o, runtime), co2))
        if self.top_k and len(out) > self.top_k and not fixed:
            # large models: the k cheapest (at the labelled location; a few elsewhere), the warm start's,
            # a safe on-demand one
            label = self.labels.get(job.job_id)
            pool = [a for a in out if a.offer.location == label] or out
            wc = self.manifest.weights.carbon
            keep = sorted(pool, key=lambda a: a.cost + a.p_int + wc * a.co2)[: self.top_k]
            if pool is not out:  # and the cheapest elsewhere, should the labelled location's pools be crowded
                keep += sorted((a for a in out if a.offer.location != label),
                               key=lambda a: a.cost + a.p_int + wc * a.co2)[:OFF_LABEL_K]
            hinted = self.keep.get(job.job_id)
            keep += [a for a in out if a not in keep and (a.offer.offer_id == hinted)]
            if not any(a.offer.tier == "on-demand" for a in keep):
                keep += sorted((a for a in out if a.offer.tier == "on-demand"), key=lambda a: a.cost)[:1]
            out = keep
        return out

    def build(self, hints: Mapping[str, Choice] | None = None) -> None:
        """The model, and — given ``hints`` (offers and start hours) — a complete schedule of them on the
        step grid as the solver's hint (:meth:`_hint_schedule`).

        Durations are rounded up to steps, so the hinted schedule ends later than the continuous one it
        stands for — along a chain of hundreds of seconds-long tasks by tens of seconds, which against a
        tight deadline made the model price the warm start at 13× its Ω (cycles-993: P(miss) 1 on every exit
        task), and the search spent its time undoing the rounding. Each deadline is therefore moved by the
        steps its job's hinted end lags behind the continuous end (``self.lag``): the model then prices the
        warm start's risk as Ω does, and a move as the change it makes. The plan is re-timed and re-priced
        exactly afterwards (planner.py), so the shift steers the search only. Only in large models: the
        small ones, on whole minutes, are solved to proven optimality of the model as it was."""
        m, w = self.m, self.manifest.weights
        objective = []
        pools: dict[str, tuple[list, list, float]] = {}  # resource → (intervals, demands, capacity)
        resources = self.scorer.resources
        loc_of: dict[str, dict[str, object]] = {}
        for job in self.scorer.order:
            alts = self._alternatives(job)
            if not alts:
                if not self.cands.for_job(job):
                    raise self.cands.error(job)
                raise InfeasiblePlanError([f"job {job.job_id!r}: every candidate offer is over its budgetUsd "
                                           f"${job.budget_usd}"])
            self.alts[job.job_id] = alts
            self.n_alts += len(alts)
        schedule = self._hint_schedule(hints) if hints else None
        self.lag = self._lags(hints, schedule) if schedule and self.top_k else {}  # large models: see above
        for job in self.scorer.order:
            jid = job.job_id
            alts = self.alts[jid]
            s = m.NewIntVar(0, self.H, f"s_{jid}")
            e_max = self.H + max(a.dur for a in alts)
            e = m.NewIntVar(0, e_max, f"e_{jid}")
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
                for r in resources.of(a.offer):
                    ivs, demands, _ = pools.setdefault(r.resource_id, ([], [], r.capacity))
                    ivs.append(iv)
                    demands.append(r.demand)
                objective.append(int(round(SCALE * (w.cost * a.cost + w.carbon * a.co2))) * x)
                m.Add(risk >= int(round(SCALE * w.risk * pf * a.p_int))).OnlyEnforceIf(x)
                xs.append(x)
            m.AddExactlyOne(xs)
            self.x[jid], self.start[jid], self.end[jid] = xs, s, e
            rate = self.scorer.job_terms(job).delay_rate
            if rate > 0:
                objective.append(int(round(SCALE * rate * self.step_h)) * e)
            deadline = self.scorer.deadline_h[jid]
            if deadline is not None:
                deadline += self.lag.get(jid, 0) * self.step_h
                dl = int(math.floor(deadline / self.step_h + 1e-9))
                if job.hard_deadline:
                    m.Add(e <= dl)
                else:  # lateness as large as the end's own range allows: a deadline days past is priced, not infeasible
                    t = m.NewIntVar(0, max(0, e_max - dl), f"t_{jid}")
                    m.Add(t >= e - dl)
                    objective.append(int(round(SCALE * w.tardiness * pf * self.step_h)) * t)
                self._miss_risk(job, e, e_max, dl, deadline, risk, SCALE * w.risk * pf)
            if self.cands.location_matters(job):
                loc_of[jid] = self._locations(jid, alts, xs)
            self._precedence(job, loc_of, objective)
        self._capacities_and_budgets(pools)
        m.Minimize(sum(objective))
        for jid, (k, start) in (schedule or {}).items():
            for i, x in enumerate(self.x[jid]):
                m.AddHint(x, i == k)
            m.AddHint(self.start[jid], start)
            m.AddHint(self.end[jid], start + self.alts[jid][k].dur)

    def _lags(self, hints: Mapping[str, Choice], schedule: dict[str, tuple[int, int]]) -> dict[str, int]:
        """Steps by which each deadline job's hinted end lags the end its hint stands for (start hours +
        expected runtime): the rounding of durations and transfers up to steps (:meth:`build`)."""
        out = {}
        for jid, (k, start) in schedule.items():
            ch = hints.get(jid)
            if self.scorer.deadline_h[jid] is None or ch is None or ch.start_hours is None:
                continue
            a = self.alts[jid][k]
            exact_end = ch.start_hours + expected_runtime(self.scorer.jobs[jid], a.offer)
            out[jid] = max(0, start + a.dur - self.steps(exact_end))
        return out

    def _capacities_and_budgets(self, pools: dict[str, tuple[list, list, float]]) -> None:
        m = self.m
        for ivs, demands, cap in pools.values():
            if all(d == 1.0 for d in demands) and float(cap).is_integer():
                if len(ivs) > cap:
                    m.AddCumulative(ivs, [1] * len(ivs), int(cap))
            elif sum(demands) > cap:  # USD per hour: demands rounded up and capacity down, in mills
                m.AddCumulative(ivs, [math.ceil(1000 * d - 1e-9) for d in demands], int(1000 * cap + 1e-9))
        if self.manifest.budget_usd is not None:
            m.Add(sum(int(round(SCALE * a.cost)) * x for jid, alts in self.alts.items()
                      for a, x in zip(alts, self.x[jid], strict=True)) <= int(SCALE * self.manifest.budget_usd))
        if self.manifest.carbon_budget_kg is not None:
            m.Add(sum(int(math.ceil(SCALE * a.co2)) * x for jid, alts in self.alts.items()
                      for a, x in zip(alts, self.x[jid], strict=True)) <= int(SCALE * self.manifest.carbon_budget_kg))

    def _miss_risk(self, job: Job, end: object, end_max: int, dl: int, deadline_h: float, risk: object,
                   scale: float) -> None:
        """risk ≥ P(miss): a table of the normal tail over the end step, within ±4σ of the deadline.

        The table has at most 2·RISK_BUCKETS + 1 entries, each for r consecutive end steps: entry i covers
        end steps dl + (i − K)·r … dl + (i − K + 1)·r − 1 and is read at the middle of them. The expected
        end it stands for is that step·Δ less half a step (a duration is rounded *up* to whole steps, by
        Δ/2 on average), and the slack is measured to the exact deadline, not to its step: with σ of a
        minute or less (short jobs) the pessimistic reading — up to two steps of slack lost — priced tight
        jobs' risk several times too high and steered the search. The buckets keep the model small: CP-SAT
        expands each table into one constraint per entry, and tables of a step per entry made the 1,000-job
        model ~660k constraints, on which an LNS neighbourhood took 15 s."""
        sigma = job.duration_std_hours
        if sigma is None:
            sigma = DEFAULT_DURATION_CV * job.estimated_duration_hours
        span = max(1, math.ceil(4 * sigma / self.step_h))  # steps in 4σ
        r = max(1, math.ceil(span / RISK_BUCKETS))
        k = max(1, math.ceil(span / r))
        table = [int(round(scale * miss_probability(deadline_h - (dl + (i - k) * r + (r - 1) / 2 - 0.5) * self.step_h,
                                                    sigma)))
                 for i in range(2 * k + 1)]
        m = self.m
        # domains from the end's own range: a deadline far before ``now`` or far after the horizon is fine
        lo_shift, hi_shift = -dl + k * r, end_max - dl + k * r
        shifted = m.NewIntVar(min(0, lo_shift), max(0, hi_shift), f"sh_{job.job_id}")
        m.Add(shifted == end - dl + k * r)
        low = m.NewIntVar(0, max(0, hi_shift), f"lo_{job.job_id}")
        m.AddMaxEquality(low, [shifted, 0])
        if r > 1:
            bucket = m.NewIntVar(0, max(0, hi_shift) // r + 1, f"bk_{job.job_id}")
            m.AddDivisionEquality(bucket, low, r)
            low = bucket
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

    def _hint_schedule(self, hints: Mapping[str, Choice]) -> dict[str, tuple[int, int]] | None:
        """A complete schedule that is feasible *in the discrete model* — job → (alternative, start step):
        the hinted offers, started in the hinted order but re-timed on whole steps (rounded-up durations,
        capacity, transfer delays), so the solver starts from a solution instead of repairing a
        continuous-time one. None when a hinted offer has no room within the horizon."""
        order = sorted(self.alts, key=lambda j: (hints[j].start_hours or 0.0) if j in hints else math.inf)
        end: dict[str, int] = {}
        out: dict[str, tuple[int, int]] = {}
        self._hinted_loc: dict[str, str] = {}
        usage: dict[str, list[float]] = {}
        for jid in self._topological(order):
            alts, ch = self.alts[jid], hints.get(jid)
            pick = [k for k, a in enumerate(alts) if ch is not None and a.offer.offer_id == ch.offer_id]
            if not pick:
                pick = [min(range(len(alts)), key=lambda k: alts[k].cost)]
            want = 0 if ch is None or ch.start_hours is None else self.steps(ch.start_hours)
            ready = max([want, *(end[d] + self._delay(d, jid, alts[pick[0]]) for d in self.scorer.jobs[jid].dependencies)])
            k, s = self._earliest(alts, pick, ready, usage)
            if k is None:
                return None  # no room on the hinted offer within the horizon: leave the solver unhinted
            a = alts[k]
            end[jid] = s + a.dur
            self._hinted_loc[jid] = a.offer.location
            for r in self.scorer.resources.of(a.offer):
                row = usage.setdefault(r.resource_id, [0.0] * (self.H + a.dur + 2))
                for t in range(s, min(len(row), s + a.dur)):
                    row[t] += r.demand
            out[jid] = (k, s)
        return out

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
                  usage: dict[str, list[float]]) -> tuple[int | None, int]:
        s = ready
        while s <= self.H:
            k = next((k for k in pick if alts[k].hi >= s), None)
            if k is None:
                return None, 0
            a = alts[k]
            s = max(s, a.lo)
            busy = None
            for r in self.scorer.resources.of(a.offer):
                row = usage.get(r.resource_id)
                t = None if row is None else next(
                    (t for t in range(s, min(len(row), s + a.dur)) if row[t] + r.demand > r.capacity + 1e-9), None)
                if t is not None and (busy is None or t > busy):
                    busy = t
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

    def choices(self, value: Callable[[object], int]) -> dict[str, Choice]:
        """Each job's alternative and start (hours) in an assignment: ``value(variable)``."""
        out = {}
        for jid, alts in self.alts.items():
            k = next(i for i, x in enumerate(self.x[jid]) if value(x))
            out[jid] = Choice(alts[k].offer.offer_id, value(self.start[jid]) * self.step_h)
        return out

    def solve(self, time_limit: float, workers: int, seed: int,
              exact: Callable[[dict[str, Choice]], float] | None = None) -> tuple[str, dict[str, Choice], float | None]:
        """(status, choices, CP-SAT's bound on the *model's* objective ÷ SCALE — not a bound on Ω).

        Large models (``top_k``) with a complete hint are searched by our own neighbourhoods (lns.py);
        ``self.search`` then says how (steps, improvements by kind). ``exact`` (choices → Ω) picks, among
        the assignments the search accepts, the one returned."""
        import time

        began = time.perf_counter()
        self._complete_hint(min(5.0, time_limit / 4), workers, seed)
        proto = self.m.Proto()
        self.search = None
        if self.top_k and len(proto.solution_hint.vars) == len(proto.variables):
            from airflow_ai_scheduler.planning.cpsat.lns import Lns

            values = [0] * len(proto.variables)
            for i, v in zip(proto.solution_hint.vars, proto.solution_hint.values, strict=True):
                values[i] = v
            score = (lambda v: exact(self.choices(lambda x: v[x.Index()]))) if exact else None
            self.search = Lns(self, workers, seed).search(values, began + time_limit, score)
            found = self.search.best
            return "feasible", self.choices(lambda x: found[x.Index()]), None
        solver = self.cp.CpSolver()
        solver.parameters.max_time_in_seconds = max(0.1, time_limit - (time.perf_counter() - began))
        if self.top_k:
            # on 1,000 jobs presolve used the whole time limit before search started (measured);
            # without it search starts from the hint at once
            solver.parameters.cp_model_presolve = False
            # and from that first solution, large-neighbourhood search on both workers: on the 1,000-job
            # benchmark it reaches in 20 s what full search (which cannot prove optimality there anyway)
            # had not reached in 45 s — the layered DAG's gap to the bound went from 1.3 % to 0.6 %
            solver.parameters.use_lns_only = True
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
        return (("optimal" if name == "OPTIMAL" else "feasible"), self.choices(solver.Value),
                solver.BestObjectiveBound() / SCALE)
