"""Spot policies on real traces: the Can't Be Late single-job benchmark.

    uv run python bench/simulate_spot.py              # 48 h job, deadlines 52/70 h, overheads 0.02/0.05/0.1 h
    uv run python bench/simulate_spot.py --starts 10  # a quick look

Each configuration runs every policy from ``--starts`` evenly spread start points on each of the 9 AWS V100
1-node availability traces (aws-02-15-2023). Score = 100·(OD − cost)/(OD − all-spot), on mean cost.
Writes bench/results/simulate_spot.json and prints a Markdown table for bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airflow_ai_scheduler.recovery import DEFAULT_POLICY, get_policy  # noqa: E402
from airflow_ai_scheduler.simulate.simulator import Job, compare  # noqa: E402
from airflow_ai_scheduler.simulate.traces import get_traces  # noqa: E402

POLICIES = ("on_demand", "spot_only", "greedy", "uniform_progress", DEFAULT_POLICY)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--starts", type=int, default=40)
    ap.add_argument("--trace", default="all")
    ap.add_argument("--work", type=float, default=48.0)
    args = ap.parse_args()
    traces = get_traces(args.trace)
    policies = {n: get_policy(n) for n in POLICIES}
    results = []
    t0 = time.perf_counter()
    for deadline in (52.0, 70.0):
        for overhead in (0.02, 0.05, 0.1):
            res = compare(policies, Job(args.work, deadline, overhead), traces, args.starts)
            results.append({"deadline": deadline, "overhead": overhead, "policies": res})
    elapsed = time.perf_counter() - t0
    out = Path(__file__).parent / "results" / "simulate_spot.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"starts": args.starts, "traces": [t.name for t in traces], "seconds": elapsed,
                               "machine": f"{platform.machine()} {platform.processor()} py{platform.python_version()}",
                               "results": results}, indent=2))
    runs = len(traces) * args.starts
    print(f"{runs} runs per cell ({len(traces)} traces x {args.starts} starts), {elapsed:.0f} s\n")
    print("| deadline | overhead | " + " | ".join(POLICIES) + " |")
    print("|---|---|" + "---|" * len(POLICIES))
    for r in results:
        cells = [f"{r['policies'][p]['score']:.1f} ({r['policies'][p]['misses']} miss)" for p in POLICIES]
        print(f"| {r['deadline']:g} h | {r['overhead']:g} h | " + " | ".join(cells) + " |")
    print("\nmean cost $ / interruptions / spot h / OD h / makespan h:")
    for r in results:
        for p in POLICIES:
            x = r["policies"][p]
            print(f"  D={r['deadline']:g} d={r['overhead']:g} {p:<22} {x['cost']:7.2f} {x['interruptions']:5.1f} "
                  f"{x['spot_hours']:5.1f} {x['od_hours']:5.1f} {x['makespan']:6.1f}")


if __name__ == "__main__":
    main()
