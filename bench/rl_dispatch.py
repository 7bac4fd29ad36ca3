"""The RL dispatcher against FIFO, static priority, EDF/least slack and the other policies, held-out workloads.

    uv run python bench/rl_dispatch.py                       # the shipped policy, 20 held-out workloads
    uv run python bench/rl_dispatch.py --policy p.npz --workloads 5

Held-out workloads: seeds 300000+ (training used 100000+, validation 200000-200003). Every policy plays the
same workloads; per metric the mean and a 95 % bootstrap interval, and per baseline the paired difference
of the score (the RL return: −0.1·run-hours − 1·missed runs − 0.2·starved tasks) with its interval.
Writes bench/results/rl_dispatch.json and bench/results/rl_dispatch.png; prints the Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airflow_ai_scheduler.dispatch import get_policy  # noqa: E402
from airflow_ai_scheduler.rl.policy import RLDispatchPolicy  # noqa: E402
from airflow_ai_scheduler.rl.training import BASELINES, TEST_BASE, evaluate, paired, summary_table  # noqa: E402

RESULTS = Path(__file__).parent / "results"
COLS = (("score", "score", 1), ("miss_rate_pct", "misses %", 1), ("mean_completion_h", "mean completion h", 2),
        ("p95_completion_h", "p95 completion h", 1), ("mean_wait_min", "mean wait min", 1),
        ("throughput_per_h", "tasks/h", 1), ("starved_pct", "starved %", 2))


def plot(table: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(table, key=lambda n: -table[n]["score"][0])
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for ax, key, label in zip(axes, ("score", "miss_rate_pct", "mean_completion_h"),
                              ("score (higher is better)", "deadline misses %", "mean run completion h"), strict=True):
        m = [table[n][key][0] for n in names]
        err = [[table[n][key][0] - table[n][key][1] for n in names], [table[n][key][2] - table[n][key][0] for n in names]]
        ax.bar(names, m, yerr=err, capsize=3, color=["#d62728" if n == "rl" else "#4c78a8" for n in names])
        ax.set_title(label + " (95 % CI)")
        ax.tick_params(axis="x", rotation=45)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def latency(policy_path: str | None, seed: int) -> dict[str, float]:
    """Milliseconds per order() call of the rl policy over one held-out workload (every decision timed)."""
    from airflow_ai_scheduler.simulate.dispatch import DispatchSimulator, percentile
    from airflow_ai_scheduler.simulate.dispatch_workload import generate_workload

    inner = RLDispatchPolicy(policy_path)
    times: list[float] = []
    sizes: list[int] = []

    class Timed(RLDispatchPolicy):
        def __init__(self) -> None:
            super().__init__(q=inner.q)

        def order(self, candidates, fleet, now):  # type: ignore[no-untyped-def]
            t = time.perf_counter()
            out = super().order(candidates, fleet, now)
            times.append(1000 * (time.perf_counter() - t))
            sizes.append(len(candidates))
            return out

    DispatchSimulator(generate_workload(seed)).run(Timed())
    return {"decisions": len(times), "p50_ms": percentile(times, 0.5), "p99_ms": percentile(times, 0.99),
            "max_ms": max(times), "max_candidates": max(sizes)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--policy", help="policy file (default: the shipped one)")
    ap.add_argument("--workloads", type=int, default=20)
    args = ap.parse_args()
    policies = {"rl": lambda: RLDispatchPolicy(args.policy)}
    policies.update({n: (lambda n=n: get_policy(n)) for n in BASELINES})
    seeds = [TEST_BASE + i for i in range(args.workloads)]
    t0 = time.perf_counter()
    results = evaluate(policies, seeds)
    elapsed = time.perf_counter() - t0
    table = summary_table(results)
    diffs = {n: paired(results, "rl", n) for n in BASELINES}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "rl_dispatch.json").write_text(json.dumps({
        "seeds": seeds, "seconds": elapsed, "summary": table, "rl_minus": diffs,
        "runs": {n: [{**asdict(r), "score": s} for r, s in rs] for n, rs in results.items()}}, indent=1))
    plot(table, RESULTS / "rl_dispatch.png")
    lat = latency(args.policy, seeds[0])
    (RESULTS / "rl_dispatch.json").write_text(json.dumps({
        **json.loads((RESULTS / "rl_dispatch.json").read_text()), "latency": lat}, indent=1))
    print(f"{len(seeds)} held-out workloads, {elapsed:.0f} s; rl decision latency: {lat}\n")
    print("| policy | " + " | ".join(c[1] for c in COLS) + " |")
    print("|---|" + "---:|" * len(COLS))
    for n in sorted(table, key=lambda n: -table[n]["score"][0]):
        print(f"| {n} | " + " | ".join(f"{table[n][k][0]:.{d}f} [{table[n][k][1]:.{d}f}, {table[n][k][2]:.{d}f}]"
                                       for k, _, d in COLS) + " |")
    print("\n| rl − baseline | score difference [95 % CI] | misses % difference |")
    print("|---|---:|---:|")
    for n in sorted(diffs, key=lambda n: -diffs[n][0]):
        m = paired(results, "rl", n, "miss_rate_pct")
        print(f"| {n} | {diffs[n][0]:+.2f} [{diffs[n][1]:+.2f}, {diffs[n][2]:+.2f}] | "
              f"{m[0]:+.1f} [{m[1]:+.1f}, {m[2]:+.1f}] |")


if __name__ == "__main__":
    main()
