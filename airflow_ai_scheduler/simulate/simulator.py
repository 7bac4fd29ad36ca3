"""Step-based replay of one long job on a spot trace, driven by a :class:`SpotPolicy`.

Model (the Can't Be Late paper's): progress is checkpointed, so a preemption loses no work, but every
(re)start — a launch after a wait or preemption, or a switch between spot and on-demand — spends
``overhead`` hours before progress resumes. Each tick of the trace the policy decides; spot runs only while
the trace says it is available; losing availability while on spot is a preemption. Cost is billed for every
hour an instance is held, overhead included.

Prices: GCP us-central1 n1-standard-8 + 1×V100 from the bundled catalog (on-demand 2.86 $/h, spot
1.37954 $/h); the score depends only on their ratio.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from airflow_ai_scheduler.recovery.policy import ProgressState, SpotPolicy
from airflow_ai_scheduler.simulate.traces import Trace

OD_PRICE, SPOT_PRICE = 2.86, 1.37954
_EPS = 1e-9


@dataclass(frozen=True)
class Job:
    work_hours: float
    deadline_hours: float
    overhead_hours: float
    od_price: float = OD_PRICE
    spot_price: float = SPOT_PRICE

    @property
    def od_cost(self) -> float:
        """Whole job on on-demand, one start, no interruption."""
        return (self.work_hours + self.overhead_hours) * self.od_price

    @property
    def spot_cost(self) -> float:
        """Whole job on spot, one start, no interruption (the unattainable lower bound)."""
        return (self.work_hours + self.overhead_hours) * self.spot_price

    def score(self, cost: float) -> float:
        """100·(OD − cost)/(OD − all-spot): 0 = as dear as on-demand, 100 = uninterrupted spot."""
        return 100.0 * (self.od_cost - cost) / (self.od_cost - self.spot_cost)


@dataclass
class RunResult:
    cost: float = 0.0
    spot_hours: float = 0.0
    od_hours: float = 0.0
    makespan: float = 0.0
    interruptions: int = 0
    finished: bool = False
    missed: bool = False
    decisions: list[str] = field(default_factory=list, repr=False)
    moves: int = 0  #: spot launches in another zone than the last one (several zones only)

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("decisions")
        d.pop("moves")
        return d


def simulate(policy: SpotPolicy, job: Job, trace: Trace, start_tick: int = 0, max_hours: float | None = None,
             record: bool = False, *, more_zones: Sequence[Trace] = (), egress_per_move: float = 0.0) -> RunResult:
    """Run ``job`` from ``start_tick`` until done (or ``max_hours``, default 20× the deadline: a miss).

    ``more_zones``: other zones' traces (same tick length): spot is usable when any zone has it. A spot launch
    goes to the zone last used if it has capacity, else to the first that has (``trace`` first, then
    ``more_zones`` in order); a move is a (re)start like any other (the changeover delay) and pays
    ``egress_per_move`` $ to bring the checkpoint along (counted in ``moves``)."""
    zones = [trace, *more_zones]
    step = trace.step_hours
    limit = max_hours if max_hours is not None else 20 * max(job.deadline_hours, job.work_hours)
    res = RunResult()
    t = done = pending = 0.0
    current = "none"
    tick, zone = start_tick, 0
    while job.work_hours - done > _EPS and t < limit:
        up = [z.at(tick) for z in zones]
        avail = any(up)
        if current == "spot" and not up[zone]:
            res.interruptions += 1
            current = "none"
        state = ProgressState(t, done, job.work_hours, job.deadline_hours, job.overhead_hours, step, avail,
                              current)  # type: ignore[arg-type]
        decision = policy.decide(state)
        if decision == "spot" and not avail:
            decision = "wait"  # a policy can ask, but there is nothing to launch
        if record:
            res.decisions.append(decision)
        tick += 1
        if decision == "wait":
            current = "none"
            t += step
            continue
        if decision == "spot" and current != "spot" and not up[zone]:
            zone = up.index(True)
            res.moves += 1
            res.cost += egress_per_move
        if decision != current:
            pending = job.overhead_hours  # a (re)start: relaunch, restore the checkpoint
            current = decision
        overhead_now = min(pending, step)
        pending -= overhead_now
        progress = min(step - overhead_now, job.work_hours - done)
        dt = overhead_now + progress
        done += progress
        t += dt
        if decision == "spot":
            res.spot_hours += dt
            res.cost += dt * job.spot_price
        else:
            res.od_hours += dt
            res.cost += dt * job.od_price
    res.finished = job.work_hours - done <= _EPS
    res.makespan = t
    res.missed = not res.finished or (not math.isinf(job.deadline_hours) and t > job.deadline_hours + _EPS)
    return res


def start_ticks(trace: Trace, n: int) -> list[int]:
    """``n`` start points spread evenly over the trace."""
    length = len(trace.available)
    return [i * length // n for i in range(n)]


def compare(policies: dict[str, SpotPolicy], job: Job, traces: list[Trace], starts: int) -> dict[str, dict]:
    """Per policy, mean cost/makespan/hours/interruptions/score and the number of misses over all runs."""
    out: dict[str, dict] = {}
    for name, policy in policies.items():
        runs = [simulate(policy, job, tr, s) for tr in traces for s in start_ticks(tr, starts)]
        n = len(runs)
        mean_cost = sum(r.cost for r in runs) / n
        out[name] = {
            "runs": n,
            "cost": mean_cost,
            "misses": sum(r.missed for r in runs),
            "makespan": sum(r.makespan for r in runs) / n,
            "interruptions": sum(r.interruptions for r in runs) / n,
            "spot_hours": sum(r.spot_hours for r in runs) / n,
            "od_hours": sum(r.od_hours for r in runs) / n,
            "score": job.score(mean_cost),
        }
    return out
