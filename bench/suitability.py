"""Calibration of the suitability ranking's P(miss), and the anomaly detector, on synthetic history.

    uv run python bench/suitability.py                 # 200 tasks, 30 future tries each (≈ 2 CPU-minutes)
    uv run python bench/suitability.py --tasks 50      # a quick look

A known runtime model generates each task's tries; the first ``--history`` tries of a task are its history
(what the predictors see), the next ``--future`` tries are the data they are checked on (never seen when
predicting). Nothing is tuned: the bandwidth rule and every constant are fixed in the library.

Runtime model, per task: a median m log-uniform in [3 min, 4 h]; a family — ``lognormal`` (σ_log 0.05–0.5),
``bimodal`` (log-normal σ 0.1 plus a slow mode: 5–20 % of tries take 1.5–3× longer) or ``normal`` (σ 2–15 %
of m, truncated > 0); instance types with true speed factors 0.7 / 1.0 / 1.4 (history tries ran on random
types). A future try gets an offer (type, on-demand or spot with λ ∈ {0.05, 0.2, 0.5}/h), checkpointing
(half the tasks, every 0.25 h) and a deadline at a random quantile u ~ U(0.02, 0.995) of its true work time
on that type — so misses span the whole [0, 1] range. The actual runtime is simulated: Poisson
interruptions during the work, progress lost back to the last checkpoint (all of it without one), 0.05 h
to restart, until the work is done.

Predictors of P(miss):

* ``suitability`` — :func:`airflow_ai_scheduler.planning.suitability.rank_offers` with the task's history.
* ``suitability, no speed factors`` — the same with the instance types hidden (an ablation: what the
  distribution alone buys, without per-type speed).
* ``objective (normal)`` — what the planners use today: μ, σ of the history, E[T] with rework and
  P(miss) = 1 − Φ((slack − E[T]) / σ') from :mod:`airflow_ai_scheduler.planning.objective`.

Reliability table: predictions binned; per bin the mean predicted P(miss) and the observed miss frequency.
Brier score and expected calibration error (ECE: count-weighted |predicted − observed| over the bins).
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone

from airflow_ai_scheduler.history.estimates import mean_std
from airflow_ai_scheduler.models import Job, Offer
from airflow_ai_scheduler.planning import objective
from airflow_ai_scheduler.planning.suitability import TaskEvidence, miss_probability
from airflow_ai_scheduler.usage.anomaly import check

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)
TYPES = {"slow.large": 1.4, "std.large": 1.0, "fast.large": 0.7}
RESTART_H = 0.05
CKPT_H = 0.25
BINS = [0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 1.0001]


class Task:
    def __init__(self, i: int, rnd: random.Random) -> None:
        self.id = f"t{i}"
        self.m = math.exp(rnd.uniform(math.log(0.05), math.log(4.0)))
        self.family = rnd.choice(["lognormal", "bimodal", "normal"])
        self.sigma = rnd.uniform(0.05, 0.5) if self.family == "lognormal" else 0.1
        self.slow_p, self.slow_x = rnd.uniform(0.05, 0.2), rnd.uniform(1.5, 3.0)
        self.cv = rnd.uniform(0.02, 0.15)
        self.checkpointable = rnd.random() < 0.5

    def work(self, rnd: random.Random, kind: str) -> float:
        """True work hours of one try on instance type ``kind``."""
        if self.family == "normal":
            d = max(0.05 * self.m, rnd.gauss(self.m, self.cv * self.m))
        else:
            d = self.m * math.exp(rnd.gauss(0.0, self.sigma))
            if self.family == "bimodal" and rnd.random() < self.slow_p:
                d *= self.slow_x
        return d * TYPES[kind]

    def work_quantile(self, u: float, kind: str, rnd: random.Random, n: int = 400) -> float:
        xs = sorted(self.work(rnd, kind) for _ in range(n))
        return xs[min(n - 1, int(u * n))]


def simulate(work: float, lam: float, checkpoint: float | None, rnd: random.Random) -> float:
    """Actual runtime of ``work`` hours under Poisson(λ) interruptions."""
    if lam <= 0:
        return work
    t, done = 0.0, 0.0
    while True:
        seg = min(checkpoint, work - done) if checkpoint else work - done
        hit = rnd.expovariate(lam)
        if hit >= seg:
            t += seg
            done += seg
            if done >= work - 1e-12:
                return t
        else:
            t += hit + RESTART_H


def normal_miss(job: Job, offer: Offer, hist: list[float], slack: float) -> float:
    mu, sd, n = mean_std(hist)
    j = job.model_copy(update={"estimated_duration_hours": mu, "duration_std_hours": sd if n > 1 else None})
    rt = objective.expected_runtime(j, offer)
    return objective.miss_probability(slack - rt, objective.duration_sigma(j, rt, offer))


def table(preds: list[tuple[float, int]]) -> tuple[list[tuple[str, int, float, float]], float, float]:
    by: dict[int, list[tuple[float, int]]] = defaultdict(list)
    for p, y in preds:
        b = next(i for i in range(len(BINS) - 1) if p < BINS[i + 1])
        by[b].append((p, y))
    rows, ece = [], 0.0
    for b in sorted(by):
        xs = by[b]
        mp = sum(p for p, _ in xs) / len(xs)
        obs = sum(y for _, y in xs) / len(xs)
        ece += len(xs) * abs(mp - obs)
        rows.append((f"{BINS[b]:.2f}–{min(1.0, BINS[b + 1]):.2f}", len(xs), mp, obs))
    brier = sum((p - y) ** 2 for p, y in preds) / len(preds)
    return rows, brier, ece / len(preds)


def calibration(args: argparse.Namespace) -> None:
    rnd = random.Random(args.seed)
    tasks = [Task(i, rnd) for i in range(args.tasks)]
    preds: dict[str, list[tuple[float, int]]] = {"suitability": [], "suitability, no speed factors": [],
                                                 "objective (normal)": []}
    fam: dict[tuple[str, str], list[tuple[float, int]]] = defaultdict(list)
    t0 = time.perf_counter()
    for task in tasks:
        kinds = [rnd.choice(list(TYPES)) for _ in range(args.history)]
        hist = [task.work(rnd, k) for k in kinds]
        ev = TaskEvidence(runtimes_hours=hist, instance_types=kinds)
        pooled = TaskEvidence(runtimes_hours=hist, instance_types=[None] * len(hist))
        for _ in range(args.future):
            kind = rnd.choice(list(TYPES))
            spot = rnd.random() < 0.5
            lam = rnd.choice([0.05, 0.2, 0.5]) if spot else 0.0
            offer = Offer(offer_id=f"{kind}:{lam}", provider="aws", region="us-east-1", instance_type=kind,
                          vcpus=8, memory_gib=32, tier="spot" if spot else "on-demand", price_per_hour=1.0,
                          interruption_rate_per_hour=lam)
            slack = task.work_quantile(rnd.uniform(0.02, 0.995), kind, rnd)
            actual = simulate(task.work(rnd, kind), lam, CKPT_H if task.checkpointable else None, rnd)
            miss = int(actual > slack)
            job = Job(job_id=task.id, estimated_duration_hours=statistics.fmean(hist),
                      deadline=NOW + timedelta(hours=slack), is_checkpointable=task.checkpointable,
                      checkpoint_interval_hours=CKPT_H if task.checkpointable else None,
                      restart_overhead_hours=RESTART_H)
            p_s = miss_probability(job, offer, ev, now=NOW)
            got = {"suitability": p_s, "suitability, no speed factors": miss_probability(job, offer, pooled, now=NOW),
                   "objective (normal)": normal_miss(job, offer, hist, slack)}
            for name, p in got.items():
                preds[name].append((p, miss))
                fam[(name, task.family)].append((p, miss))
    secs = time.perf_counter() - t0
    n = len(preds["suitability"])
    print(f"{args.tasks} tasks x {args.future} future tries = {n} predictions; history {args.history} tries "
          f"per task; seed {args.seed}; {secs:.1f} s\n")
    for name, ps in preds.items():
        rows, brier, ece = table(ps)
        print(f"### {name}: Brier {brier:.4f}, ECE {ece:.4f}\n")
        print("| predicted P(miss) | n | mean predicted | observed miss rate |\n|---|---:|---:|---:|")
        for label, cnt, mp, obs in rows:
            print(f"| {label} | {cnt} | {mp:.3f} | {obs:.3f} |")
        print()
    print("| runtime family | " + " | ".join(f"{name} Brier / ECE" for name in preds) + " |")
    print("|---|" + "---|" * len(preds))
    for family in ("lognormal", "bimodal", "normal"):
        cells = []
        for name in preds:
            _, b, e = table(fam[(name, family)])
            cells.append(f"{b:.4f} / {e:.4f}")
        print(f"| {family} | " + " | ".join(cells) + " |")


def anomalies(args: argparse.Namespace) -> None:
    """Detection of 3x-slow tries and false flags on ordinary ones, with 10 % earlier stuck tries (5x) in the
    history: median/MAD on log scale (ours) vs mean/σ with z > 3."""
    rnd = random.Random(args.seed + 1)
    hits = {"median/MAD (log)": [0, 0], "mean/σ z>3": [0, 0]}
    false = {"median/MAD (log)": [0, 0], "mean/σ z>3": [0, 0]}
    for i in range(args.tasks):
        task = Task(i, rnd)
        task.family = "lognormal" if task.family == "bimodal" else task.family
        hist = [task.work(rnd, "std.large") * 3600 for _ in range(args.history)]
        hist = [h * 5 if rnd.random() < 0.1 else h for h in hist]
        for slow in (False, True):
            for _ in range(10):
                x = task.work(rnd, "std.large") * 3600 * (3 if slow else 1)
                mu, sd, _n = mean_std(hist)
                flagged = {"median/MAD (log)": check("runtime", x, hist) is not None,
                           "mean/σ z>3": sd > 0 and (x - mu) / sd > 3}
                for name, f in flagged.items():
                    (hits if slow else false)[name][0] += int(f)
                    (hits if slow else false)[name][1] += 1
    print("\n| detector | 3x-slow tries flagged | ordinary tries flagged |\n|---|---:|---:|")
    for name in hits:
        print(f"| {name} | {hits[name][0] / hits[name][1]:.1%} | {false[name][0] / false[name][1]:.1%} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", type=int, default=200)
    ap.add_argument("--history", type=int, default=20, help="history tries per task (the fit set)")
    ap.add_argument("--future", type=int, default=30, help="future tries per task (the evaluation set)")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    calibration(args)
    anomalies(args)


if __name__ == "__main__":
    main()
