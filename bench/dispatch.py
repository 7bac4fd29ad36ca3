"""Dispatch policies in the simulator: a realistic mixed load, every built-in policy, paired workloads.

    uv run python bench/dispatch.py                 # 30 workloads (seeds 0-29), every policy
    uv run python bench/dispatch.py --seeds 5       # a quick look
    uv run python bench/dispatch.py --with-rl       # also the shipped reinforcement-learning policy

Workloads: :func:`airflow_ai_scheduler.simulate.dispatch_workload.generate_workload` (24 h of cron-like DAG
runs from 6-10 DAGs and 3-4 owners, a backfill burst, heavy-tailed runtimes, 60 % of DAGs with deadlines,
a spot fleet whose slots follow a bundled multi-node trace, 3 % failed tries). Every policy plays the same
workloads. Writes bench/results/dispatch.json, bench/results/dispatch_policies.png and prints the
Markdown table for bench/README.md (mean over workloads, 95 % bootstrap interval in brackets).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airflow_ai_scheduler.dispatch import get_policy  # noqa: E402
from airflow_ai_scheduler.dispatch.policies import BUILTIN_POLICIES  # noqa: E402
from airflow_ai_scheduler.simulate.dispatch_compare import as_rows, run_policies, summarize  # noqa: E402

RESULTS = Path(__file__).parent / "results"
COLUMNS = (("mean_wait_min", "mean wait min", 1), ("p95_wait_min", "p95 wait min", 0),
           ("miss_rate_pct", "deadline misses %", 1), ("mean_completion_h", "mean run completion h", 2),
           ("throughput_per_h", "throughput tasks/h", 1), ("starved_pct", "starved %", 2))


def table(summary: dict) -> str:
    lines = ["| policy | " + " | ".join(c[1] for c in COLUMNS) + " |", "|---|" + "---:|" * len(COLUMNS)]
    for name, m in summary.items():
        cells = [f"{m[k][0]:.{d}f} [{m[k][1]:.{d}f}, {m[k][2]:.{d}f}]" for k, _, d in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(summary: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary)
    fig, axes = plt.subplots(2, 2, figsize=(11, 7))
    for ax, (key, label, _) in zip(axes.flat, (COLUMNS[0], COLUMNS[1], COLUMNS[2], COLUMNS[5]), strict=True):
        means = [summary[n][key][0] for n in names]
        err = [[summary[n][key][0] - summary[n][key][1] for n in names],
               [summary[n][key][2] - summary[n][key][0] for n in names]]
        ax.bar(names, means, yerr=err, capsize=3, color="#4c78a8")
        ax.set_title(label + " (95 % CI)")
        ax.tick_params(axis="x", rotation=45)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("dispatch policies, same workloads (lower is better)")
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=30)
    ap.add_argument("--with-rl", action="store_true")
    args = ap.parse_args()
    names = ["priority_weight", *BUILTIN_POLICIES] + (["rl"] if args.with_rl else [])
    factories = {n: (lambda n=n: get_policy(n)) for n in names}
    t0 = time.perf_counter()
    results = run_policies(factories, range(args.seeds))
    elapsed = time.perf_counter() - t0
    summary = summarize(results)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "dispatch.json").write_text(json.dumps({
        "seeds": list(range(args.seeds)), "seconds": elapsed,
        "machine": f"{platform.machine()} py{platform.python_version()}",
        "summary": summary, "runs": as_rows(results)}, indent=1))
    plot(summary, RESULTS / "dispatch_policies.png")
    first = results[names[0]]
    print(f"{args.seeds} workloads, {sum(r.tasks for r in first) / len(first):.0f} tasks and "
          f"{sum(r.runs for r in first) / len(first):.0f} runs each on average; {elapsed:.0f} s\n")
    print(table(summary))


if __name__ == "__main__":
    main()
