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
from airflow_ai_scheduler.simulate.simulator import Job, RunResult, simulate, start_ticks  # noqa: E402
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
    return sum(a != b for a, b in zip(tiers, tiers[1:], strict=False))


def score(job: Job, mean_cost: float) -> float:
    """100·(OD − mean cost)/(OD − all-spot)."""
    return job.score(mean_cost)


def run_cell(policy, job: Job, traces: list[Trace], starts: int) -> dict:
    by_trace = {tr.name: [simulate(policy, job, tr, s, record=True) for s in start_ticks(tr, starts)]
                for tr in traces}
    runs = [r for rs in by_trace.values() for r in rs]
    n = len(runs)
    cost = sum(r.cost for r in runs) / n
    return {"runs": n, "cost": cost, "score": score(job, cost),
            "by_trace": {name: round(score(job, sum(r.cost for r in rs) / len(rs)), 2)
                         for name, rs in by_trace.items()},
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


def simulate_zones(policy, job: Job, zones: list[Trace], start_tick: int, egress_per_move: float = 0.0,
                   record: bool = False) -> tuple[RunResult, int]:
    """:func:`simulate` over several zones' traces at once (the plan's next-best offer first): spot is usable
    when any zone has it; a move to another zone is a (re)start and pays ``egress_per_move`` $. Returns the
    run and the number of zone moves."""
    res = simulate(policy, job, zones[0], start_tick, record=record, more_zones=zones[1:],
                   egress_per_move=egress_per_move)
    return res, res.moves


def zone_groups(traces: list[Trace]) -> dict[str, list[Trace]]:
    """The traces of each family (same tick length) with at least two zones, as one multi-zone pool each."""
    groups: dict[str, list[Trace]] = {}
    for tr in traces:
        groups.setdefault(tr.name.rsplit("/", 1)[0], []).append(tr)
    return {fam: zs for fam, zs in groups.items() if len(zs) > 1 and len({z.gap_seconds for z in zs}) == 1}


def run_zones(names: list[str], traces: list[Trace], starts: int, egress: float) -> list[dict]:
    """Per cell and policy: one zone at a time (each zone of the groups alone) against all zones of a group
    at once (spot elsewhere before on-demand)."""
    groups = zone_groups(traces)
    singles = [z for zs in groups.values() for z in zs]
    cells = []
    for deadline, delay in itertools.product(DEADLINES, DELAYS):
        job = Job(WORK, deadline, delay)
        row: dict = {"deadline": deadline, "delay": delay, "policies": {}}
        for n in names:
            one = run_cell(get_policy(n), job, singles, starts)
            runs = [simulate_zones(get_policy(n), job, zs, s, egress)
                    for zs in groups.values() for s in start_ticks(min(zs, key=lambda z: len(z.available)), starts)]
            cost = sum(r.cost for r, _ in runs) / len(runs)
            row["policies"][n] = {"one_zone": {k: one[k] for k in ("score", "misses", "cost")},
                                  "zones": {"score": score(job, cost), "cost": cost,
                                            "misses": sum(r.missed for r, _ in runs),
                                            "moves": sum(m for _, m in runs) / len(runs)}}
        cells.append(row)
    return cells


def hindsight_bound(job: Job, traces: list[Trace], starts: int) -> float:
    """Score of a clairvoyant policy with free changeovers: every spot hour before the deadline (less one
    changeover) used, on-demand for the rest (not attainable online; the headroom left)."""
    costs = []
    for tr in traces:
        n = int((job.deadline_hours - job.overhead_hours) / tr.step_hours)
        for s in start_ticks(tr, starts):
            spot = min(job.work_hours, sum(tr.at(s + i) for i in range(n)) * tr.step_hours)
            costs.append(spot * job.spot_price + (job.work_hours - spot) * job.od_price
                         + job.overhead_hours * job.spot_price)
    return score(job, sum(costs) / len(costs))


def tune(traces: list[Trace], starts: int, kappas=(0.1, 0.2, 0.3, 0.5, 1.0), stints=(1.0, 3.0),
         selects=(0.0, 1.0)) -> list[dict]:
    """Grid search of AdaptiveSlack's knobs on ``traces`` (the train half); best mean score first."""
    grid = [dict(kappa=k, stint=s, select=c) for k in kappas for s in stints for c in selects]
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
    ap.add_argument("--zones", action="store_true", help="multi-zone recovery: each family's zones of the "
                    "chosen half as one pool, against one zone at a time")
    ap.add_argument("--egress", type=float, default=1.0, help="$ per zone move (the checkpoint's egress)")
    ap.add_argument("--bound", action="store_true", help="print the hindsight bound per cell")
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
    if args.bound:
        for deadline, delay in itertools.product(DEADLINES, DELAYS):
            job = Job(WORK, deadline, delay)
            print(f"D={deadline:g} d={delay:g} bound {hindsight_bound(job, traces, args.starts):.1f}")
        return
    if args.zones:
        cells = run_zones(names, traces, args.starts, args.egress)
        meta.update(split=args.split, egress_per_move=args.egress, groups={f: [z.name for z in zs] for f, zs in
                    zone_groups(traces).items()}, seconds=time.perf_counter() - t0, results=cells)
        if not args.no_write:
            (RESULTS / "simulate_spot_zones.json").write_text(json.dumps(meta, indent=2))
        print(f"{args.split} half, zone groups: {list(meta['groups'])}, {meta['seconds']:.0f} s")
        print("| deadline | delay | " + " | ".join(f"{n}: one zone | {n}: all zones (moves)" for n in names) + " |")
        print("|---|---|" + "---|---|" * len(names))
        for c in cells:
            row = [f"{c['policies'][n]['one_zone']['score']:.1f} ({c['policies'][n]['one_zone']['misses']}) | "
                   f"{c['policies'][n]['zones']['score']:.1f} ({c['policies'][n]['zones']['misses']}, "
                   f"{c['policies'][n]['zones']['moves']:.1f})" for n in names]
            print(f"| {c['deadline']:g} h | {c['delay']:g} h | " + " | ".join(row) + " |")
        return
    cells = run_grid({n: get_policy(n) for n in names}, traces, args.starts)
    meta.update(split=args.split, seconds=time.perf_counter() - t0, default=DEFAULT_POLICY,
                summary=summary(cells, names), results=cells)
    if not args.no_write:
        suffix = "" if args.split == "test" else f"_{args.split}"
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"simulate_spot{suffix}.json").write_text(json.dumps(meta, indent=2))
    print(f"{args.split} half: {len(traces)} traces, {meta['seconds']:.0f} s")
    print_table(cells, names, len(traces) * args.starts)
    if "adaptive_slack" in names and "safe_uniform_progress" in names:
        print("\nper trace and cell, where safe_uniform_progress beats adaptive_slack by > 0.5 point:")
        for c in cells:
            a, b = c["policies"]["adaptive_slack"]["by_trace"], c["policies"]["safe_uniform_progress"]["by_trace"]
            for tr in a:
                if b[tr] > a[tr] + 0.5:
                    print(f"  D={c['deadline']:g} d={c['delay']:g} {tr}: {b[tr]:.1f} vs {a[tr]:.1f}")


if __name__ == "__main__":
    main()
