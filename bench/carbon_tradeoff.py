"""Carbon trade-off: what each extra USD buys in kg CO2e, and a Pareto front, on the planning workloads.

    uv run python bench/carbon_tradeoff.py                     # greedy at 100 and 1,000 jobs, CP-SAT at 100
    uv run python bench/carbon_tradeoff.py --sizes 100 --cpsat-limit 0   # greedy only

For each workload of bench/workloads.py (the bundled AWS+GCP catalog, spot pools with quotas) it plans
under w_carbon ∈ WEIGHTS (USD per kg CO2e; everything else as the planning benchmark) and records the plan's
expected cost and kg CO2e, so the curve shows how much CO2e a dollar removes. Every plan is validated.
Then it computes the Pareto front over cost × tardiness × risk × carbon of one workload (a greedy weight
sweep, planning/pareto.py). Writes bench/results/carbon_tradeoff.json, carbon_tradeoff.png and
pareto_front.png, and prints Markdown tables for bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from workloads import SHAPES, manifest  # noqa: E402

from airflow_ai_scheduler.catalog import bundled_catalog  # noqa: E402
from airflow_ai_scheduler.planning.base import get_planner  # noqa: E402
from airflow_ai_scheduler.planning.pareto import pareto_front, plot_front  # noqa: E402
from airflow_ai_scheduler.planning.validate import validate  # noqa: E402

WEIGHTS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
OUT = Path(__file__).parent / "results"


def sweep(shape: str, n: int, planner: str, limit: float) -> list[dict]:
    base = manifest(shape, n, bundled_catalog().offers())
    rows = []
    for w in WEIGHTS:
        m = base.model_copy(update={"weights": base.weights.model_copy(update={"carbon": w})})
        kwargs = {"time_limit_seconds": limit} if planner == "optimal" else {}
        t = time.perf_counter()
        plan = get_planner(planner, **kwargs).plan(m)
        seconds = time.perf_counter() - t
        o = plan.objective
        rows.append({"shape": shape, "jobs": n, "planner": planner, "w_carbon": w, "cost": o.cost,
                     "co2e_kg": o.co2e_kg, "tardiness": o.tardiness, "risk": o.risk, "seconds": round(seconds, 2),
                     "status": plan.status, "valid": not validate(m, plan, m.offers or []),
                     "regions": sorted({f"{p.provider}:{p.region}" for p in plan.placements})})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def plot_curves(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    keys = sorted({(r["shape"], r["jobs"], r["planner"]) for r in rows})
    for shape, n, planner in keys:
        pts = [r for r in rows if (r["shape"], r["jobs"], r["planner"]) == (shape, n, planner)]
        c0, k0 = pts[0]["cost"], pts[0]["co2e_kg"]
        ax.plot([100 * (r["cost"] - c0) / c0 for r in pts], [100 * (r["co2e_kg"] - k0) / k0 for r in pts],
                marker="o", label=f"{shape} {n} ({'CP-SAT' if planner == 'optimal' else planner})")
    ax.set_xlabel("extra expected cost vs w_carbon = 0 (%)")
    ax.set_ylabel("change in expected kg CO2e (%)")
    ax.set_title("Cost / CO2e trade-off, w_carbon 0 → 10 $/kg")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown(rows: list[dict]) -> str:
    out = ["| workload | jobs | planner | w_carbon $/kg | cost $ | kg CO2e | Δcost | ΔCO2e | $ per kg avoided | valid |",
           "|---|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    base: dict[tuple, dict] = {}
    for r in rows:
        key = (r["shape"], r["jobs"], r["planner"])
        b = base.setdefault(key, r)
        dc, dk = r["cost"] - b["cost"], b["co2e_kg"] - r["co2e_kg"]
        per = f"{dc / dk:.3f}" if dk > 1e-9 and dc > 0 else "–"
        out.append(f"| {r['shape']} | {r['jobs']} | {'CP-SAT' if r['planner'] == 'optimal' else r['planner']} | "
                   f"{r['w_carbon']:g} | {r['cost']:.2f} | {r['co2e_kg']:.2f} | {100 * dc / b['cost']:+.1f} % | "
                   f"{-100 * dk / b['co2e_kg']:+.1f} % | {per} | {r['valid']} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--shapes", nargs="+", default=list(SHAPES))
    ap.add_argument("--cpsat-limit", type=float, default=20.0, help="0: no CP-SAT rows")
    ap.add_argument("--cpsat-max-jobs", type=int, default=100)
    ap.add_argument("--pareto", default="layered:100", help="SHAPE:JOBS of the Pareto front")
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    load = [os.getloadavg()[0]]
    rows: list[dict] = []
    for n in args.sizes:
        for shape in args.shapes:
            rows += sweep(shape, n, "greedy", 0)
            if args.cpsat_limit > 0 and n <= args.cpsat_max_jobs:
                rows += sweep(shape, n, "optimal", args.cpsat_limit)
    shape, n = args.pareto.split(":")
    m = manifest(shape, int(n), bundled_catalog().offers())
    t = time.perf_counter()
    front = pareto_front(m, m.offers)
    front_seconds = time.perf_counter() - t
    plot_front(front, str(OUT / "pareto_front.png"), title=f"Pareto front, {shape} {n} jobs (greedy weight sweep)")
    load.append(os.getloadavg()[0])
    plot_curves(rows, OUT / "carbon_tradeoff.png")
    (OUT / "carbon_tradeoff.json").write_text(json.dumps(
        {"weights": WEIGHTS, "load_1min": load, "rows": rows,
         "pareto": {"workload": args.pareto, "seconds": round(front_seconds, 1), "points": [p.as_row() for p in front]}},
        indent=2))
    print(markdown(rows))
    print()
    print(f"Pareto front of {args.pareto} ({len(front)} non-dominated of the sweep, {front_seconds:.1f} s):")
    print("| # | w_tardiness | w_risk | w_carbon | cost $ | tardiness h | risk | kg CO2e |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for i, p in enumerate(front, start=1):
        r = p.as_row()
        print(f"| {i} | {r['w_tardiness']:g} | {r['w_risk']:g} | {r['w_carbon']:g} | {r['cost_usd']:.2f} | "
              f"{r['tardiness_h']:.2f} | {r['risk']:.2f} | {r['co2e_kg']:.2f} |")
    print(f"load average (1 min) before/after: {load[0]:.2f} / {load[1]:.2f}")


if __name__ == "__main__":
    main()
