"""Our own large-neighbourhood search around the CP-SAT model (large models, > TOP_K_ABOVE_JOBS jobs).

CP-SAT's generic LNS (``use_lns_only``) frees random variables or random constraint-graph regions; on
the real workflows (bench/README.md, issue 20) it found no plan better than the warm start in 60 s. Here
each step frees a set of *jobs* chosen by the structure of a schedule, fixes every other job's
alternative and start step to the incumbent, and re-solves that sub-model with the incumbent as a
complete hint, briefly:

* ``window``: jobs consecutive in the incumbent's start order — everything competing for the pools at
  one time, so one can give its slot to another;
* ``level``: jobs of consecutive DAG levels (depth from the entry tasks) — a stage of a workflow and its
  fan-out/fan-in neighbours;
* ``pool``: the jobs on one resource (pool or commitment) in start order — who gets the cheap machines;
* ``data``: a job and its dependency neighbourhood (breadth first over both directions) — a chain of data
  that can move to another location together.

Each kind is tried once, then chosen with probability by its recent gain per second (on cycles-993 the
``data`` steps gained most). A step's solution is accepted only when its model objective is strictly lower; the hint is feasible, so a
step never returns a worse assignment than its incumbent. The neighbourhood grows after a step the solver
closed (solved to optimality) and shrinks after one it did not. The model objective steers; given the
planner's exact pricing (re-timed in the solver's start order, planner.py), the accepted assignment of
least Ω is returned.
"""

from __future__ import annotations

import random
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

KINDS = ("window", "level", "pool", "data")
#: jobs freed by the first step, the smallest and the largest neighbourhood
START_SIZE, MIN_SIZE, MAX_SIZE = 40, 8, 400
#: seconds one step may take at most (it also stops at the caller's deadline)
STEP_SECONDS = 3.0


@dataclass
class LnsResult:
    values: list[int]  # a complete assignment of the model's variables
    objective: int  # its model objective (SCALE units)
    steps: int = 0
    improved: Counter = field(default_factory=Counter)  # kind → accepted steps
    tried: Counter = field(default_factory=Counter)  # kind → steps
    best: list[int] = field(default_factory=list)  # the accepted assignment of least exact Ω (search())
    best_omega: float | None = None


def grow(neighbours: Callable[[str], Sequence[str]], seed: str, size: int,
         rng: random.Random | None = None) -> list[str]:
    """Up to ``size`` jobs reached breadth first from ``seed`` (the seed first); each job's neighbours in
    the order ``rng`` shuffles them, if given. The ``data`` neighbourhood, and regions.py's groups."""
    seen, queue, out = {seed}, deque([seed]), [seed]
    while queue and len(out) < size:
        near = list(neighbours(queue.popleft()))
        if rng is not None:
            rng.shuffle(near)
        for n in near:
            if n not in seen:
                seen.add(n)
                out.append(n)
                queue.append(n)
                if len(out) >= size:
                    break
    return out


def model_objective(proto: object, values: Sequence[int]) -> int:
    obj = proto.objective
    return int(sum(c * values[v] for v, c in zip(obj.vars, obj.coeffs, strict=True)) + obj.offset)


class Lns:
    """The search over one built :class:`~.model._Model`, from one complete assignment of it."""

    def __init__(self, model: object, workers: int = 2, seed: int = 0) -> None:
        self.model = model
        self.workers = workers
        self.rng = random.Random(seed)
        self.seed = seed
        self.proto = model.m.Proto()
        self.jobs = list(model.alts)
        jobs = model.scorer.jobs
        self.children: dict[str, list[str]] = {j: [] for j in self.jobs}
        depth: dict[str, int] = {}
        for j in self.jobs:  # model.alts is in topological order
            deps = jobs[j].dependencies
            depth[j] = 1 + max((depth[d] for d in deps), default=-1)
            for d in deps:
                self.children[d].append(j)
        self.depth = depth
        # the variables that fix a job: its alternatives' literals and its start
        self.owned = {j: [x.Index() for x in model.x[j]] + [model.start[j].Index()] for j in self.jobs}
        self.size = START_SIZE

    def choose(self, kind: str, values: Sequence[int], size: int) -> set[str]:
        """The jobs ``kind`` frees around the assignment ``values`` (at most ``size``)."""
        rng, jobs = self.rng, self.jobs
        size = min(size, len(jobs))
        if kind == "data":
            deps = self.model.scorer.jobs
            return set(grow(lambda j: [*deps[j].dependencies, *self.children[j]], rng.choice(jobs), size, rng))
        start = {j: values[self.model.start[j].Index()] for j in jobs}
        if kind == "pool":
            by_res: dict[str, list[str]] = {}
            for j in jobs:
                for r in self.model.scorer.resources.of(self._offer(j, values)):
                    by_res.setdefault(r.resource_id, []).append(j)
            if by_res:
                run = sorted(by_res[rng.choice(sorted(by_res))], key=start.get)
                return self._run(run, size)
            kind = "window"
        if kind == "level":
            run = sorted(jobs, key=lambda j: (self.depth[j], start[j]))
        else:
            run = sorted(jobs, key=start.get)
        return self._run(run, size)

    def _run(self, ordered: list[str], size: int) -> set[str]:
        at = self.rng.randrange(max(1, len(ordered) - size + 1))
        return set(ordered[at:at + size])

    def _offer(self, jid: str, values: Sequence[int]) -> object:
        alts, xs = self.model.alts[jid], self.model.x[jid]
        return next(a.offer for a, x in zip(alts, xs, strict=True) if values[x.Index()])

    def step(self, values: list[int], objective: int, free: set[str], time_limit: float) -> tuple[list[int], int, bool]:
        """Re-solve with every job outside ``free`` fixed to ``values``: (assignment, objective, closed) —
        the incumbent itself unless the solver found a strictly better one."""
        from ortools.sat.python import cp_model

        sub = self.model.m.clone()
        variables = sub.Proto().variables
        for j in self.jobs:
            if j not in free:
                for i in self.owned[j]:
                    domain = variables[i].domain
                    domain.clear()
                    domain.extend([values[i], values[i]])
        hint = sub.Proto().solution_hint
        hint.vars.clear()
        hint.values.clear()
        hint.vars.extend(range(len(values)))
        hint.values.extend(values)
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = max(0.05, time_limit)
        solver.parameters.num_workers = max(1, self.workers)
        solver.parameters.random_seed = self.rng.randrange(1 << 20)
        code = solver.Solve(sub)
        if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return values, objective, False
        new = list(solver.ResponseProto().solution)
        value = model_objective(self.proto, new)
        closed = code == cp_model.OPTIMAL
        if value < objective:
            return new, value, closed
        return values, objective, closed

    def search(self, values: list[int], stop_at: float,
               exact: Callable[[list[int]], float] | None = None) -> LnsResult:
        """Steps until ``stop_at`` (perf_counter seconds). With ``exact`` (assignment → Ω), every accepted
        assignment is also priced exactly and the best so priced is returned (``best``): the model rounds
        durations to steps and reads risk from a table, so its objective and Ω do not always agree."""
        result = LnsResult(list(values), model_objective(self.proto, values))
        best = exact(values) if exact else None
        result.best, result.best_omega = result.values, best
        rate = dict.fromkeys(KINDS, 1.0)  # per kind: a running mean of the objective gained per second
        k = 0
        while True:
            now = time.perf_counter()
            left = stop_at - now
            if left < 0.2:
                return result
            # each kind in turn first, then by its rate (and never less than a tenth of the best kind's)
            if k < len(KINDS):
                kind = KINDS[k]
            else:
                top = max(rate.values())
                kind = self.rng.choices(KINDS, [max(r, 0.1 * top, 1e-9) for r in rate.values()])[0]
            k += 1
            free = self.choose(kind, result.values, self.size)
            new, value, closed = self.step(result.values, result.objective, free, min(STEP_SECONDS, left - 0.1))
            result.steps += 1
            result.tried[kind] += 1
            gain = (result.objective - value) / max(1e-3, time.perf_counter() - now)
            rate[kind] = gain if k <= len(KINDS) else 0.7 * rate[kind] + 0.3 * gain
            if value < result.objective:
                result.improved[kind] += 1
                result.values, result.objective = new, value
                if not exact:
                    result.best = new
                elif time.perf_counter() < stop_at:
                    omega = exact(new)
                    if omega < result.best_omega:
                        result.best, result.best_omega = new, omega
            self.size = min(MAX_SIZE, int(self.size * 1.25) + 1) if closed else max(MIN_SIZE, int(self.size * 0.8))
