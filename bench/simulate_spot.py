"""Spot policies on real traces: the Can't Be Late single-job benchmark, over every bundled trace family.

    uv run python bench/simulate_spot.py                    # held-out half, 20 starts per trace (the table)
    uv run python bench/simulate_spot.py --split train      # the half the policies were tuned on
    uv run python bench/simulate_spot.py --starts 4 --policies safe_uniform_progress,adaptive_slack  # quick
    uv run python bench/simulate_spot.py --tune --starts 8  # grid search of adaptive_slack on the train half

One 48 h job (progress checkpointed; every (re)start and every spot↔on-demand switch costs the changeover
delay), deadlines 52 h and 70 h, changeover delays 0.02 / 0.05 / 0.1 h, replayed from ``--starts`` evenly
spread start points on each trace of the chosen half (traces wrap around). Every bundled trace family is
used: availability (1-node AWS V100, 16-node AWS V100) and preemption (1-node AWS r5 and V100, 1-node GCP
c3-88, 4-node AWS V100) traces, each read as "spot usable now" per tick.

Train/test split (:func:`split`): within each family, in name order, the 1st, 3rd, 5th, ... trace is held
out (test) and the 2nd, 4th, ... is for tuning (train). Fixed before any policy was tuned.

Score = 100·(OD − mean cost)/(OD − all-spot) per cell (OD and all-spot run the whole job plus one changeover
without interruption); a miss is a run that finished after its deadline (every deadline here is feasible at
the start: 48 h + delay < 52 h). Switches = changes of tier (spot ↔ on-demand) per run, a relaunch on the
same tier after a preemption is not one. Writes bench/results/simulate_spot[_train|_tune].json and prints
the Markdown table for bench/README.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airflow_ai_scheduler.recovery import DEFAULT_POLICY, get_policy  # noqa: E402
from airflow_ai_scheduler.recovery.policy import AdaptiveSlack  # noqa: E402
from airflow_ai_scheduler.simulate.simulator import Job, simulate, start_ticks  # noqa: E402
from airflow_ai_scheduler.simulate.traces import Trace, get_traces  # noqa: E402

FAMILIES = (
    "availability/1-node/aws-02-15-2023",
    "availability/16-node/aws-08-27-2023",
    "preemption/1-node/aws-04-19-2023",
    "preemption/1-node/aws-04-22-2023",
    "preemption/1-node/gcp-04-30-2023",
    "preemption/4-node/aws-08-03-2023",
)
DEADLINES = (52.0, 70.0)
DELAYS = (0.02, 0.05, 0.1)
WORK = 48.0
POLICIES = ("on_demand", "spot_only", "greedy", "uniform_progress", "safe_uniform_progress", "adaptive_slack")
RESULTS = Path(__file__).parent / "results"


def split(families: tuple[str, ...] = FAMILIES) -> dict[str, list[Trace]]:
    """``{"train": [...], "test": [...]}``: alternate traces of each family (name order), the first held out."""
    halves: dict[str, list[Trace]] = {"train": [], "test": []}
    for fam in families:
        for i, tr in enumerate(sorted(get_traces(fam), key=lambda t: t.name)):
            halves["test" if i % 2 == 0 else "train"].append(tr)
    return halves


def switches(decisions: list[str]) -> int:
    """Changes of tier (spot ↔ on-demand) among the ticks that ran something."""
    tiers = [d for d in decisions if d != "wait"]
    return sum(a != b for a, b in zip(tiers, tiers[1:]))


def score(job: Job, mean_cost: float) -> float:
    """100·(OD − mean cost)/(OD − all-spot)."""
    return job.score(mean_cost)


def run_cell(policy, job: Job, traces: list[Trace], starts: int) -> dict:
    runs = [simulate(policy, job, tr, s, record=True) for tr in traces for s in start_ticks(tr, starts)]
    n = len(runs)
    cost = sum(r.cost for r in runs) / n
    return {"runs": n, "cost": cost, "score": score(job, cost),
            "misses": sum(r.missed for r in runs),
            "feasible_misses": sum(r.missed for r in runs) if WORK + job.overhead_hours <= job.deadline_hours else 0,
            "switches": sum(switches(r.decisions) for r in runs) / n,
            "interruptions": sum(r.interruptions for r in runs) / n,
            "spot_hours": sum(r.spot_hours for r in runs) / n, "od_hours": sum(r.od_hours for r in runs) / n,
            "makespan": sum(r.makespan for r in runs) / n}


def run_grid(policies: dict, traces: list[Trace], starts: int) -> list[dict]:
    cells = []
    for deadline, delay in itertools.product(DEADLINES, DELAYS):
        job = Job(WORK, deadline, delay)
        cells.append({"deadline": deadline, "delay": delay,
                      "policies": {n: run_cell(p, job, traces, starts) for n, p in policies.items()}})
    return cells


def summary(cells: list[dict], names: list[str]) -> dict[str, dict]:
    return {n: {"mean_score": sum(c["policies"][n]["score"] for c in cells) / len(cells),
                "misses": sum(c["policies"][n]["misses"] for c in cells),
                "switches": sum(c["policies"][n]["switches"] for c in cells) / len(cells)} for n in names}


def print_table(cells: list[dict], names: list[str], runs: int) -> None:
    print(f"{runs} runs per cell; score (misses, switches per run)\n")
    print("| deadline | delay | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for c in cells:
        row = [f"{c['policies'][n]['score']:.1f} ({c['policies'][n]['misses']}, {c['policies'][n]['switches']:.1f})"
               for n in names]
        print(f"| {c['deadline']:g} h | {c['delay']:g} h | " + " | ".join(row) + " |")
    s = summary(cells, names)
    print("| **mean** | | " + " | ".join(f"**{s[n]['mean_score']:.1f}** ({s[n]['misses']})" for n in names) + " |")


def tune(traces: list[Trace], starts: int, kappas=(0.1, 0.2, 0.3, 0.5, 1.0), resumes=(1.5, 3.0), stints=(1.0,),
         selects=(0.0, 1.0)) -> list[dict]:
    """Grid search of AdaptiveSlack's knobs on ``traces`` (the train half); best mean score first."""
    grid = [dict(kappa=k, resume=r, stint=s, select=c) for k in kappas for r in resumes for s in stints
            for c in selects]
    out = []
    for params in grid:
        t0 = time.perf_counter()
        cells = run_grid({"p": AdaptiveSlack(**params)}, traces, starts)
        s = summary(cells, ["p"])["p"]
        out.append({"params": params, **s, "cells": [round(c["policies"]["p"]["score"], 1) for c in cells]})
        print(f"{params} mean {s['mean_score']:.2f} misses {s['misses']} cells {out[-1]['cells']} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    return sorted(out, key=lambda r: -r["mean_score"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--starts", type=int, default=20)
    ap.add_argument("--split", choices=("test", "train", "all"), default="test")
    ap.add_argument("--policies", default=",".join(POLICIES))
    ap.add_argument("--tune", action="store_true", help="grid-search adaptive_slack on the train half")
    ap.add_argument("--grid", help='JSON axes for --tune, e.g. {"kappas": [0.2, 1.0], "selects": [0, 1]}')
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    halves = split()
    meta = {"starts": args.starts, "work_hours": WORK,
            "train": [t.name for t in halves["train"]], "test": [t.name for t in halves["test"]],
            "machine": f"{platform.machine()} {platform.processor()} py{platform.python_version()}"}
    t0 = time.perf_counter()
    if args.tune:
        axes = json.loads(args.grid) if args.grid else {}
        ranked = tune(halves["train"], args.starts, **axes)
        meta["seconds"] = time.perf_counter() - t0
        if not args.no_write:
            (RESULTS / "simulate_spot_tune.json").write_text(json.dumps({**meta, "ranked": ranked}, indent=2))
        print("best:", ranked[0])
        return
    traces = halves["train"] + halves["test"] if args.split == "all" else halves[args.split]
    names = [n.strip() for n in args.policies.split(",") if n.strip()]
    cells = run_grid({n: get_policy(n) for n in names}, traces, args.starts)
    meta.update(split=args.split, seconds=time.perf_counter() - t0, default=DEFAULT_POLICY,
                summary=summary(cells, names), results=cells)
    if not args.no_write:
        suffix = "" if args.split == "test" else f"_{args.split}"
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"simulate_spot{suffix}.json").write_text(json.dumps(meta, indent=2))
    print(f"{args.split} half: {len(traces)} traces, {meta['seconds']:.0f} s")
    print_table(cells, names, len(traces) * args.starts)


if __name__ == "__main__":
    main()
