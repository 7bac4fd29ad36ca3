"""Planning benchmark: greedy and CP-SAT on generated workloads over the bundled catalog.

    uv run python bench/planning.py                 # the full table (10 … 10,000 jobs)
    uv run python bench/planning.py --sizes 10 100  # a quick look
    uv run python bench/planning.py --real report --cpsat-limit 60   # real workflows held out from tuning
    uv run python bench/planning.py --real tune --cpsat-limit 60     # those the settings were tuned on

For each workload: Ω, expected cost, expected deadline misses and planning time of each planner, and for
reference in the same run the all-on-demand cost, the per-job cheapest offer ignoring capacity (what a
per-task optimizer picks) and the CP-SAT planner's lower bound on Ω (its location relaxation,
planning/cpsat/relaxation.py) with the gap of its plan to it. Writes bench/results/planning.json and prints a
Markdown table (paste it into bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from workloads import REAL_REPORT, REAL_TUNE, SHAPES, manifest, real_manifest  # noqa: E402

from airflow_ai_scheduler.catalog import bundled_catalog  # noqa: E402
from airflow_ai_scheduler.models import Manifest, Plan  # noqa: E402
from airflow_ai_scheduler.planning.base import get_planner  # noqa: E402
from airflow_ai_scheduler.planning.objective import Scorer, duration_sigma, miss_probability  # noqa: E402
from airflow_ai_scheduler.planning.reference import on_demand_plan, per_job_cheapest  # noqa: E402
from airflow_ai_scheduler.planning.validate import validate  # noqa: E402


def expected_misses(m: Manifest, plan: Plan) -> float:
    scorer = Scorer(m, m.offers or [])
    placements = plan.placement_map  # a property that builds the dict: once, not per job (O(n²) at 10k)
    total = 0.0
    for jid, s in scorer.score_plan(plan).items():
        d = scorer.deadline_h[jid]
        if d is not None:
            offer = scorer.offer_map[placements[jid].offer_id]
            total += miss_probability(d - s.end, duration_sigma(scorer.jobs[jid], s.runtime, offer))
    return total


def run_one(shape: str, n: int, cpsat_limit: float, with_cpsat: bool, m: Manifest | None = None) -> dict:
    offers = bundled_catalog().offers()
    m = m or manifest(shape, n, offers)
    row: dict = {"shape": shape, "jobs": n, "offers": len(m.offers or [])}
    t = time.perf_counter()
    greedy = get_planner("greedy").plan(m)
    seconds = time.perf_counter() - t  # the plan() call only (the misses below were timed with it before)
    row["greedy"] = {"omega": greedy.objective.total, "cost": greedy.objective.cost,
                     "misses": expected_misses(m, greedy), "seconds": seconds,
                     "valid": not validate(m, greedy, m.offers or [])}
    if with_cpsat:
        t = time.perf_counter()
        opt = get_planner("optimal", time_limit_seconds=cpsat_limit).plan(m)
        seconds = time.perf_counter() - t
        row["optimal"] = {"omega": opt.objective.total, "cost": opt.objective.cost,
                          "misses": expected_misses(m, opt), "seconds": seconds,
                          "status": opt.status, "lower_bound": opt.lower_bound, "gap": opt.gap,
                          "valid": not validate(m, opt, m.offers or []), "notes": opt.notes}
    od = on_demand_plan(m, m.offers or [])
    cheap = per_job_cheapest(m, m.offers or [])
    row["all_on_demand_cost"] = od.objective.cost if od else None
    row["per_job_cheapest_cost"] = cheap.objective.cost if cheap else None
    return row


def markdown(rows: list[dict]) -> str:
    out = ["| workload | jobs | greedy Ω | greedy $ | greedy misses | greedy s | CP-SAT Ω | CP-SAT $ | CP-SAT misses "
           "| CP-SAT s | bound | gap | status | all on-demand $ | per-job cheapest $ (capacity ignored) |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
    for r in rows:
        g, o = r["greedy"], r.get("optimal")
        if o:
            bound = "–" if o["lower_bound"] is None else f"{o['lower_bound']:.2f}"
            gap = "–" if o["gap"] is None else f"{100 * o['gap']:.2f} %"
            opt = (f"{o['omega']:.2f} | {o['cost']:.2f} | {o['misses']:.2f} | {o['seconds']:.1f} | {bound} | "
                   f"{gap} | {o['status']}")
        else:
            opt = "– | – | – | – | – | – | not run"
        out.append(f"| {r['shape']} | {r['jobs']} | {g['omega']:.2f} | {g['cost']:.2f} | {g['misses']:.2f} | "
                   f"{g['seconds']:.2f} | {opt} | {r['all_on_demand_cost'] or 0:.2f} | "
                   f"{r['per_job_cheapest_cost'] or 0:.2f} |")
    return "\n".join(out)


def offline_bound(m: Manifest, opt: dict, seconds: float, grid: tuple[int, int] | None = None,
                  groups: float = 0.0) -> dict:
    """Not timed: the capacity LP given ``seconds`` instead of the planner's share, and the per-pool LP
    (capacity_bound(per_pool=True): every pool its own capacity and price, breakpoints where work must run)
    given as long — how much of the gap is the bound's. With ``grid`` (even steps, critical points) the
    class LP on that grid instead, and no per-pool LP. With ``groups`` seconds, also the class LP branched
    on the pair groups' majority locations (group_bound.py) on ``grid`` (default the planner's). Valid
    bounds like the planner's own; the largest is kept."""
    from airflow_ai_scheduler.planning.candidates import CandidateIndex
    from airflow_ai_scheduler.planning.cpsat.capacity_bound import (
        LP_CRITICAL,
        LP_UNIFORM,
        MAX_LP_VARIABLES,
        capacity_bound,
    )
    from airflow_ai_scheduler.planning.cpsat.group_bound import group_bound

    offers, cands = m.offers or [], CandidateIndex(m, m.offers or [])
    t = time.perf_counter()
    lb = capacity_bound(m, offers, cands, {}, seconds, grid=grid, max_variables=10**9 if grid else MAX_LP_VARIABLES)
    out = {"lp_bound": lb, "lp_seconds": time.perf_counter() - t, "grid": grid, "pool_bound": None,
           "pool_seconds": None}
    if grid is None:
        t = time.perf_counter()
        out["pool_bound"] = capacity_bound(m, offers, cands, {}, seconds, per_pool=True, max_variables=10**9)
        out["pool_seconds"] = time.perf_counter() - t
    if groups:
        t = time.perf_counter()
        g = group_bound(m, offers, cands, groups, grid=grid or (LP_UNIFORM, LP_CRITICAL))
        out["group"] = {"bound": g.bound, "relaxed": g.relaxed, "groups": g.groups, "leaves": g.leaves,
                        "solved": g.solved, "best_leaf": g.best_leaf, "seconds": time.perf_counter() - t}
    best = max(lb, out["pool_bound"] if out["pool_bound"] is not None else lb, opt["lower_bound"] or 0.0,
               out["group"]["bound"] if groups else lb)
    return {**out, "bound": best, "gap": (opt["omega"] - best) / opt["omega"]}


def _lb(v: float | None, s: float | None) -> str:
    return "not solved" if v is None or v == float("-inf") else f"{v:.4f} ({s:.0f} s)"


def markdown_real(rows: list[dict]) -> str:
    out = ["| workflow | tasks | greedy Ω | CP-SAT Ω | CP-SAT $ | misses | s | bound | gap | offline LP | per-pool LP "
           "| group-branch LP | gap to the best | load |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        g, o, off = r["greedy"], r["optimal"], r.get("offline")
        bound = "–" if o["lower_bound"] is None else f"{o['lower_bound']:.4f}"
        gap = "–" if o["gap"] is None else f"{100 * o['gap']:.1f} %"
        if off:
            grid = f" on {tuple(off['grid'])}" if off.get("grid") else ""
            pool = "–" if off.get("grid") else _lb(off.get("pool_bound"), off.get("pool_seconds"))
            grp = off.get("group")
            group = "–" if not grp else f"{_lb(grp['bound'], grp['seconds'])}, {grp['solved']}/{grp['leaves']} leaves"
            offline = (f"{_lb(off['lp_bound'], off.get('lp_seconds'))}{grid} | {pool} | {group} | "
                       f"{100 * off['gap']:.1f} %")
        else:
            offline = "– | – | – | –"
        out.append(f"| {r['shape']} | {r['jobs']} | {g['omega']:.4f} | {o['omega']:.4f} | {o['cost']:.4f} | "
                   f"{o['misses']:.3f} | {o['seconds']:.1f} | {bound} | {gap} | {offline} | {r['load'][0]:.1f} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000, 10000])
    ap.add_argument("--shapes", nargs="+", default=list(SHAPES))
    ap.add_argument("--cpsat-limit", type=float, default=30.0)
    ap.add_argument("--cpsat-max-jobs", type=int, default=1000, help="CP-SAT is run up to this size")
    ap.add_argument("--real", choices=["tune", "report"],
                    help="plan the converted WfCommons workflows (bench/workflows/) of that split instead")
    ap.add_argument("--only", nargs="+", help="--real: these instances only")
    ap.add_argument("--offline-bound", type=float, default=0.0, metavar="SECONDS",
                    help="--real: also the capacity LP bound with this much time, after the timed run")
    ap.add_argument("--offline-grid", type=int, nargs=2, metavar=("STEPS", "CRITICAL"),
                    help="--offline-bound: the class LP on this grid (even steps, critical points; e.g. 24 64) "
                    "instead of the planner's, and no per-pool LP")
    ap.add_argument("--offline-groups", type=float, default=0.0, metavar="SECONDS",
                    help="--offline-bound: also the class LP branched on the pair groups' majority locations "
                    "(group_bound.py; on --offline-grid, or the planner's grid) with this much time in all")
    ap.add_argument("--out", help="results file name in bench/results/ (default planning.json, or "
                    "planning_real_<split>.json with --real)")
    ap.add_argument("--offline-only", action="store_true",
                    help="--real: add --offline-bound to the rows of the results file (--out, or the split's "
                    "default) and write it back, its other rows and run settings kept (no planning)")
    args = ap.parse_args()
    rows = []
    out = Path(__file__).parent / "results"
    header = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count()}, "limit": args.cpsat_limit}
    earlier: dict[str, dict] = {}
    if args.real:
        offers = bundled_catalog().offers()
        path = out / (args.out or f"planning_real_{args.real}.json")
        if args.offline_only:  # the planning run's rows and settings stand; only the offline bounds change
            results = json.loads(path.read_text())
            header = {k: v for k, v in results.items() if k != "rows"}
            earlier = {r["shape"]: r for r in results["rows"]}
        for name in args.only or (REAL_TUNE if args.real == "tune" else REAL_REPORT):
            m = real_manifest(name, offers)
            if args.offline_only:
                row = earlier[name]
            else:
                row = run_one(name, len(m.jobs), args.cpsat_limit, True, m)
                row["load"] = os.getloadavg()
            if args.offline_bound:
                row["offline"] = offline_bound(m, row["optimal"], args.offline_bound,
                                               tuple(args.offline_grid) if args.offline_grid else None,
                                               args.offline_groups)
            rows.append(row)
            print(json.dumps(row), flush=True)
    for n in [] if args.real else args.sizes:
        for shape in args.shapes:
            row = run_one(shape, n, args.cpsat_limit, n <= args.cpsat_max_jobs)
            rows.append(row)
            print(json.dumps(row), flush=True)
    out.mkdir(exist_ok=True)
    name = args.out or (f"planning_real_{args.real}.json" if args.real else "planning.json")
    if earlier:  # every row of the file, in its order, those recomputed replaced
        done = {r["shape"]: r for r in rows}
        rows = [done.get(shape, r) for shape, r in earlier.items()]
    (out / name).write_text(json.dumps({**header, "rows": rows}, indent=2))
    print(markdown_real(rows) if args.real else markdown(rows))


if __name__ == "__main__":
    main()
