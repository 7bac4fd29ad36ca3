"""``ai-scheduler simulate``: replay spot traces against one long job for several spot policies."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

BASELINES = ("on_demand", "spot_only", "greedy", "uniform_progress")
PLOT_SLACKS = (1.0, 4.0, 10.0, 22.0, 40.0)  # hours of slack beyond the work, for the cost-vs-slack plot


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="replay spot availability traces against spot policies")
    p.add_argument("--manifest", type=Path, help="plan this manifest (greedy) and replay its spot jobs instead "
                                                 "of one long job")
    p.add_argument("--work-hours", type=float, default=48.0)
    p.add_argument("--deadline-hours", type=float, default=52.0)
    p.add_argument("--overhead", type=float, default=0.05, help="hours lost on every (re)start")
    p.add_argument("--trace", default="all", help="'all', a bundled trace (e.g. us-east-1a_v100_1), a folder "
                                                  "under simulate/data/spot-traces, or a JSON file")
    p.add_argument("--policies", help="comma-separated policy names or import paths (default: baselines + "
                                      "the default policy)")
    p.add_argument("--starts", type=int, default=10, help="start points per trace, spread evenly")
    p.add_argument("--plot", type=Path, help="write a PNG of mean cost against deadline slack")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_simulate)


def cmd_simulate(args: argparse.Namespace) -> int:
    from airflow_ai_scheduler.exceptions import ConfigError
    from airflow_ai_scheduler.recovery import DEFAULT_POLICY, get_policy
    from airflow_ai_scheduler.simulate.simulator import Job, compare
    from airflow_ai_scheduler.simulate.traces import get_traces

    if args.work_hours <= 0 or args.overhead < 0 or args.starts < 1:
        raise ConfigError("simulate: --work-hours must be > 0, --overhead >= 0 and --starts >= 1")
    names = [n.strip() for n in (args.policies or ",".join((*BASELINES, DEFAULT_POLICY))).split(",") if n.strip()]
    policies = {n: get_policy(n) for n in names}
    traces = get_traces(args.trace)
    if args.manifest:
        return _manifest_mode(args, policies, traces)
    job = Job(args.work_hours, args.deadline_hours, args.overhead)
    table = compare(policies, job, traces, args.starts)
    if args.plot:
        from airflow_ai_scheduler.simulate.plot import plot_cost_vs_slack

        rows: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
        for slack in PLOT_SLACKS:
            res = compare(policies, Job(args.work_hours, args.work_hours + slack, args.overhead), traces, args.starts)
            for n in names:
                rows[n].append((slack, res[n]["cost"]))
        plot_cost_vs_slack(rows, args.plot, f"{args.work_hours:g} h job, overhead {args.overhead:g} h")
    if args.json:
        print(json.dumps({"job": {"workHours": job.work_hours, "deadlineHours": job.deadline_hours,
                                  "overheadHours": job.overhead_hours, "odCost": job.od_cost,
                                  "spotCost": job.spot_cost},
                          "traces": [t.name for t in traces], "policies": table}, indent=2))
        return 0
    print(f"{job.work_hours:g} h work, deadline {job.deadline_hours:g} h, overhead {job.overhead_hours:g} h; "
          f"{len(traces)} trace(s) x {args.starts} starts; OD ${job.od_cost:.2f}, all-spot ${job.spot_cost:.2f}")
    print(f"{'policy':<24}{'cost $':>9}{'misses':>8}{'makespan h':>12}{'interr.':>9}{'spot h':>8}{'OD h':>8}"
          f"{'score':>8}")
    for n, r in table.items():
        print(f"{n:<24}{r['cost']:>9.2f}{r['misses']:>5}/{r['runs']:<3}{r['makespan']:>11.1f}"
              f"{r['interruptions']:>9.1f}{r['spot_hours']:>8.1f}{r['od_hours']:>8.1f}{r['score']:>8.1f}")
    return 0


def _manifest_mode(args: argparse.Namespace, policies: dict, traces: list) -> int:
    from airflow_ai_scheduler.models import load_manifest
    from airflow_ai_scheduler.simulate.workload import simulate_manifest

    manifest = load_manifest(args.manifest.read_text())
    keys = ("cost", "misses", "makespan", "interruptions", "spot_hours", "od_hours", "replans", "capacity_wait_hours")
    table: dict[str, dict] = {}
    for name, policy in policies.items():
        runs = [simulate_manifest(manifest, policy, tr, shift=i * 997) for tr in traces for i in range(args.starts)]
        table[name] = {"runs": len(runs), "jobs": runs[0]["jobs"],
                       **{k: sum(r[k] for r in runs) / len(runs) for k in keys}}
    if args.json:
        print(json.dumps({"manifest": str(args.manifest), "traces": [t.name for t in traces], "policies": table},
                         indent=2))
        return 0
    print(f"{args.manifest}: {table[next(iter(table))]['jobs']} jobs planned by greedy; "
          f"{len(traces)} trace(s) x {args.starts} starts (means per run)")
    print(f"{'policy':<24}{'cost $':>9}{'misses':>8}{'makespan h':>12}{'interr.':>9}{'spot h':>8}{'OD h':>8}"
          f"{'re-plans':>10}{'cap. wait h':>13}")
    for n, r in table.items():
        print(f"{n:<24}{r['cost']:>9.2f}{r['misses']:>8.2f}{r['makespan']:>12.1f}{r['interruptions']:>9.1f}"
              f"{r['spot_hours']:>8.1f}{r['od_hours']:>8.1f}{r['replans']:>10.1f}{r['capacity_wait_hours']:>13.2f}")
    return 0
