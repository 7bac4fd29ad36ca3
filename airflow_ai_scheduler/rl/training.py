"""Train, evaluate and compare the RL dispatcher against the heuristic policies in the simulator.

Workload seeds are split so nothing is evaluated on what it was trained or selected on:

* training episodes: seeds ``TRAIN_BASE + i`` (a fresh workload per episode);
* validation (the learning curve, and which checkpoint is kept): ``VALIDATION_SEEDS``;
* held-out test (``ai-scheduler rl evaluate``, bench/rl_dispatch.py): ``TEST_BASE + i``;
* bench/dispatch.py's policy table uses seeds 0–29, also outside the training range.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from airflow_ai_scheduler.dispatch import get_policy
from airflow_ai_scheduler.dispatch.base import DispatchPolicy
from airflow_ai_scheduler.rl.env import episode_score
from airflow_ai_scheduler.rl.policy import QFunction, RLDispatchPolicy
from airflow_ai_scheduler.simulate.dispatch import DispatchSimulator, SimResult
from airflow_ai_scheduler.simulate.dispatch_compare import METRICS, bootstrap_ci
from airflow_ai_scheduler.simulate.dispatch_workload import Workload, generate_workload

TRAIN_BASE, TEST_BASE = 100_000, 300_000
VALIDATION_SEEDS = tuple(range(200_000, 200_004))
BASELINES = ("fifo", "priority", "edf", "least_slack", "deadline", "sjf", "fair_share", "round_robin", "cost",
             "priority_weight")
EXPLORATION_HEURISTICS = ("least_slack", "sjf", "fifo", "priority", "deadline")


def play(policy: DispatchPolicy, workload: Workload) -> tuple[SimResult, float]:
    r = DispatchSimulator(workload).run(policy)
    return r, episode_score(r)


def validation_metrics(q: QFunction, seeds: Sequence[int] = VALIDATION_SEEDS,
                       workload: Callable[[int], Workload] = generate_workload) -> dict[str, float]:
    rs = [play(RLDispatchPolicy(q=q), workload(s)) for s in seeds]
    n = len(rs)
    return {"score": sum(s for _, s in rs) / n,
            "miss_rate_pct": sum(100 * r.miss_rate for r, _ in rs) / n,
            "mean_completion_h": sum(r.mean_completion_h for r, _ in rs) / n,
            "starved_pct": sum(100 * r.starved / max(1, r.tasks) for r, _ in rs) / n}


def baseline_metrics(names: Sequence[str], seeds: Sequence[int] = VALIDATION_SEEDS,
                     workload: Callable[[int], Workload] = generate_workload) -> dict[str, dict[str, float]]:
    out = {}
    for name in names:
        rs = [play(get_policy(name), workload(s)) for s in seeds]
        n = len(rs)
        out[name] = {"score": sum(s for _, s in rs) / n,
                     "miss_rate_pct": sum(100 * r.miss_rate for r, _ in rs) / n,
                     "mean_completion_h": sum(r.mean_completion_h for r, _ in rs) / n,
                     "starved_pct": sum(100 * r.starved / max(1, r.tasks) for r, _ in rs) / n}
    return out


def heuristic_pick(env: Any, rng: random.Random) -> int:
    """The first choice of a random heuristic among the current decision's candidates (exploration)."""
    d = env.decision
    best = get_policy(rng.choice(EXPLORATION_HEURISTICS)).order(d.candidates, d.view, env.sim.now_dt)[0]
    return next(i for i, c in enumerate(d.candidates) if c is best)


def train_policy(steps: int = 40_000, seed: int = 0, eval_every: int = 5_000,
                 workload: Callable[[int], Workload] = generate_workload, init: QFunction | None = None,
                 pinned: list | None = None, pinned_share: float = 0.0,
                 log: Callable[[str], None] = print) -> tuple[QFunction, list[dict[str, float]]]:
    """Train a DQN dispatcher (seeded: the same seed and steps give the same weights)."""
    from airflow_ai_scheduler.rl.dqn import DQNConfig, train
    from airflow_ai_scheduler.rl.env import make_env

    seeds = [TRAIN_BASE + seed * 10_000 + i for i in range(10_000)]
    env = make_env(seeds, workload)
    cfg = DQNConfig(steps=steps, seed=seed, learning_starts=min(2_000, max(100, steps // 10)),
                    target_every=min(1_000, max(50, steps // 20)))
    q, trace = train(env, cfg, heuristic_pick, lambda q: validation_metrics(q, workload=workload),
                     eval_every=eval_every, init=init, pinned=pinned, pinned_share=pinned_share, log=log)
    q.meta.update({"trained_on": "generate_workload" if workload is generate_workload else "custom",
                   "validation_seeds": list(VALIDATION_SEEDS)})
    return q, trace.points


def evaluate(policies: dict[str, Callable[[], DispatchPolicy]], seeds: Sequence[int],
             workload: Callable[[int], Workload] = generate_workload) -> dict[str, list[tuple[SimResult, float]]]:
    """policy → [(result, score)] per held-out workload (paired: the same workloads for every policy)."""
    out: dict[str, list[tuple[SimResult, float]]] = {n: [] for n in policies}
    for s in seeds:
        w = workload(s)
        for name, make in policies.items():
            out[name].append(play(make(), w))
    return out


def summary_table(results: dict[str, list[tuple[SimResult, float]]]) -> dict[str, dict[str, tuple[float, float, float]]]:
    """policy → metric → (mean, 95 % low, high); metrics: the return ('score') and METRICS."""
    table = {}
    for name, rs in results.items():
        row = {"score": bootstrap_ci([s for _, s in rs])}
        row.update({m: bootstrap_ci([f(r) for r, _ in rs]) for m, f in METRICS.items()})
        table[name] = row
    return table


def paired(results: dict[str, list[tuple[SimResult, float]]], a: str, b: str, metric: str = "score"
           ) -> tuple[float, float, float]:
    """Mean and 95 % interval of a − b on the same workloads (score: positive = a better)."""
    get = (lambda r, s: s) if metric == "score" else (lambda r, s: METRICS[metric](r))
    return bootstrap_ci([get(*x) - get(*y) for x, y in zip(results[a], results[b], strict=True)])
