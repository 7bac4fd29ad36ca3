"""Time the planners at two git revisions in one run, so a slowdown shows as a ratio before it lands.

    flock /work/wt/bench.lock uv run python bench/compare_commits.py BASE HEAD
    uv run python bench/compare_commits.py main WORKTREE --sizes 10000 --reps 5
    uv run python bench/compare_commits.py 8769705~1 8769705 --shapes layered chain --cpsat-sizes 100

Each revision is checked out once into a temporary ``git worktree`` (``WORKTREE`` means this checkout as
it is, uncommitted changes included) and imported from there by a fresh Python process per repetition
(``PYTHONPATH`` = the checkout, this environment's packages). The revisions alternate — A B, B A, A B, … —
so drift in the machine's load hits both alike. Every revision plans the *same* manifests: they are
generated once by this checkout's ``bench/workloads.py`` and written as JSON (defaulted fields left out,
so an older model still reads them).

Printed per workload: the median planning seconds of each revision, wall and CPU (only the ``plan()`` call
is timed; scoring and validation are not), the ratios HEAD / BASE (> 1 = HEAD slower), and whether the two
produced the same plan (offers and start times). On a shared machine read the CPU ratio: a process waiting
for a core accrues wall time, not CPU time. ``--cpsat-sizes`` also runs the CP-SAT planner once per revision
and repetition at those sizes and compares Ω. ``--fail-above 1.1`` exits 1 when a greedy CPU-time ratio exceeds it.
Run it under the bench lock (bench/README.md) and note ``uptime`` next to the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORKTREE = "WORKTREE"

#: What runs inside the checkout under test: reads manifests, times plan(), prints one JSON line each.
CHILD = r"""
import hashlib, json, sys, time
import airflow_ai_scheduler
from airflow_ai_scheduler.models import load_manifest
from airflow_ai_scheduler.planning.base import get_planner
root, planner, limit = sys.argv[1], sys.argv[2], float(sys.argv[3])
if not airflow_ai_scheduler.__file__.startswith(root):
    sys.exit(f"imported {airflow_ai_scheduler.__file__}, not the checkout under {root}")
for path in sys.argv[4:]:
    m = load_manifest(open(path).read())
    kwargs = {"time_limit_seconds": limit} if planner == "optimal" else {}
    p = get_planner(planner, **kwargs)
    t, c = time.perf_counter(), time.process_time()
    plan = p.plan(m)
    seconds, cpu = time.perf_counter() - t, time.process_time() - c
    key = sorted((x.job_id, x.offer_id, round((x.start_time - m.now).total_seconds())) for x in plan.placements)
    print(json.dumps({"path": path, "seconds": seconds, "cpu": cpu, "omega": plan.objective.total, "status": plan.status,
                      "plan": hashlib.sha256(json.dumps(key).encode()).hexdigest()[:12]}), flush=True)
"""


def git(*args: str, cwd: Path = REPO) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def checkout(rev: str, tmp: Path) -> tuple[Path, str]:
    """(directory holding the revision, label) — a detached worktree, or this checkout for WORKTREE."""
    if rev == WORKTREE:
        dirty = " (uncommitted changes)" if git("status", "--porcelain", "--untracked-files=no") else ""
        return REPO, f"worktree@{git('rev-parse', '--short', 'HEAD')}{dirty}"
    sha = git("rev-parse", "--verify", f"{rev}^{{commit}}")
    path = tmp / sha[:12]
    if not path.exists():
        git("worktree", "add", "--detach", str(path), sha)
    return path, f"{rev}@{sha[:9]}"


def write_manifests(shapes: list[str], sizes: list[int], out: Path) -> dict[tuple[str, int], Path]:
    sys.path.insert(0, str(HERE))
    from workloads import manifest

    from airflow_ai_scheduler.catalog import bundled_catalog

    offers = bundled_catalog().offers()
    paths = {}
    for n in sizes:
        for shape in shapes:
            path = out / f"{shape}-{n}.json"
            path.write_text(manifest(shape, n, offers).model_dump_json(exclude_defaults=True))
            paths[shape, n] = path
    return paths


def run_child(root: Path, planner: str, limit: float, paths: list[Path]) -> dict[str, dict]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(root), planner, str(limit), *map(str, paths)],
                          env=env, capture_output=True, text=True, cwd=root)
    if proc.returncode:
        raise SystemExit(f"{planner} at {root} failed:\n{proc.stderr[-3000:]}")
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return {r["path"]: r for r in rows}


def measure(roots: dict[str, Path], planner: str, limit: float, paths: list[Path], reps: int
            ) -> dict[str, dict[str, list[dict]]]:
    """rev → manifest path → one result per repetition, revisions alternating A B, B A, …"""
    out: dict[str, dict[str, list[dict]]] = {rev: {str(p): [] for p in paths} for rev in roots}
    revs = list(roots)
    for rep in range(reps):
        for rev in (revs if rep % 2 == 0 else revs[::-1]):
            for path, row in run_child(roots[rev], planner, limit, paths).items():
                out[rev][path].append(row)
            print(f"  {planner} rep {rep + 1}/{reps} {rev}: done", file=sys.stderr, flush=True)
    return out


def table(title: str, base: str, head: str, labels: dict[str, str], results: dict, paths: dict) -> list[str]:
    lines = [f"### {title}", "", f"BASE = {labels[base]}, HEAD = {labels[head]}", "",
             "| workload | jobs | BASE s | HEAD s | HEAD / BASE | BASE CPU s | HEAD CPU s | CPU HEAD / BASE "
             "| BASE Ω | HEAD Ω | same plan |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    ratios, cpu_ratios = [], []
    for (shape, n), path in paths.items():
        a, b = results[base][str(path)], results[head][str(path)]
        ta, tb = statistics.median(r["seconds"] for r in a), statistics.median(r["seconds"] for r in b)
        ca, cb = statistics.median(r["cpu"] for r in a), statistics.median(r["cpu"] for r in b)
        ratios.append(tb / ta)
        cpu_ratios.append(cb / ca)
        same = "yes" if {r["plan"] for r in a} == {r["plan"] for r in b} else "no"
        lines.append(f"| {shape} | {n} | {ta:.3f} | {tb:.3f} | **{tb / ta:.2f}** | {ca:.3f} | {cb:.3f} | "
                     f"**{cb / ca:.2f}** | {a[0]['omega']:.2f} | {b[0]['omega']:.2f} | {same} |")
    lines.append("")
    lines.append(f"geometric mean HEAD / BASE: wall {statistics.geometric_mean(ratios):.2f}, "
                 f"CPU {statistics.geometric_mean(cpu_ratios):.2f} (medians; CPU time is the steadier on a shared "
                 "machine: waiting for a core does not count)")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("base", help="git revision (or WORKTREE)")
    ap.add_argument("head", nargs="?", default=WORKTREE, help="git revision (default: WORKTREE, this checkout)")
    ap.add_argument("--shapes", nargs="+", default=["chain", "fanout", "layered"])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000], help="greedy workload sizes")
    ap.add_argument("--reps", type=int, default=3, help="repetitions per revision (alternating order)")
    ap.add_argument("--cpsat-sizes", type=int, nargs="*", default=[], help="also run CP-SAT at these sizes")
    ap.add_argument("--cpsat-limit", type=float, default=30.0)
    ap.add_argument("--cpsat-reps", type=int, default=1)
    ap.add_argument("--fail-above", type=float, help="exit 1 when a greedy HEAD / BASE ratio exceeds this")
    ap.add_argument("--keep", action="store_true", help="keep the temporary worktrees")
    args = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="compare-commits-"))
    roots, labels = {}, {}
    try:
        for rev in (args.base, args.head):
            roots[rev], labels[rev] = checkout(rev, tmp)
        if len(roots) < 2:
            raise SystemExit("BASE and HEAD are the same revision")
        print(f"load before: {os.getloadavg()[0]:.2f} (1 min)", file=sys.stderr)
        greedy_paths = write_manifests(args.shapes, args.sizes, tmp)
        greedy = measure(roots, "greedy", 0.0, list(greedy_paths.values()), args.reps)
        lines = table("greedy", args.base, args.head, labels, greedy, greedy_paths)
        worst = max(statistics.median(r["cpu"] for r in greedy[args.head][str(p)]) /
                    statistics.median(r["cpu"] for r in greedy[args.base][str(p)]) for p in greedy_paths.values())
        if args.cpsat_sizes:
            cp_paths = write_manifests(args.shapes, args.cpsat_sizes, tmp)
            cp = measure(roots, "optimal", args.cpsat_limit, list(cp_paths.values()), args.cpsat_reps)
            lines += ["", *table(f"CP-SAT (time limit {args.cpsat_limit:g} s)", args.base, args.head, labels, cp,
                                 cp_paths)]
            lines.append("status per rep, BASE / HEAD: " + "; ".join(
                f"{s}-{n} {','.join(r['status'] for r in cp[args.base][str(p)])} / "
                f"{','.join(r['status'] for r in cp[args.head][str(p)])}" for (s, n), p in cp_paths.items()))
            lines.append("Ω per rep, BASE / HEAD: " + "; ".join(
                f"{s}-{n} {','.join(format(r['omega'], '.2f') for r in cp[args.base][str(p)])} / "
                f"{','.join(format(r['omega'], '.2f') for r in cp[args.head][str(p)])}" for (s, n), p in cp_paths.items()))
        lines.append(f"load after: {os.getloadavg()[0]:.2f} (1 min)")
        print("\n".join(lines))
        return 1 if args.fail_above is not None and worst > args.fail_above else 0
    finally:
        if not args.keep:
            for root in roots.values():
                if root != REPO:
                    subprocess.run(["git", "worktree", "remove", "--force", str(root)], cwd=REPO,
                                   capture_output=True)
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
