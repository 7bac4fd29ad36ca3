"""Throughput of no-op tasks: AiSchedulerExecutor vs the stock LocalExecutor, same machine, same script.

    uv run python bench/executor_throughput.py                         # 500 tasks, 3 reps, SQLite
    uv run python bench/executor_throughput.py --db sqlite postgres    # PostgreSQL too (needs a server URL)
    uv run python bench/executor_throughput.py --tasks 50 --reps 1     # a quick look
    uv run python bench/executor_throughput.py --shape burst --hint none --parallelism 6 --spot-share 0.67

Each measurement is one DAG run on a *fresh* Airflow home (api-server, scheduler, dag-processor started by
:class:`airflow_ai_scheduler.demo.deployment.LocalDeployment`, the class the integration tests use), with
the executors alternating (rep 1: LocalExecutor first, rep 2: ours first, ...). Both get the same
``[core] parallelism``; ours gets two local fleets (one spot, one on-demand) whose slots add up to it.

Measured per run, from the metadata database:

* span: first task instance ``start_date`` → last ``end_date``; ``tasks/s = tasks / span``;
* wall: the run's ``queued_at`` (the REST trigger) → its ``end_date``: adds the latency before the first
  task (scheduling; for ours also planning) and after the last one. The DAG is parsed before the trigger.

Shapes (``--shape``): ``independent`` = N separate no-op ``@task``\\ s; ``mapped`` = one ``@task`` mapped
over N items (``.expand``); ``burst`` = ``--runs`` runs (default 20) of a 3-task no-op chain triggered at
once (the fault matrix's burst, issue 19 item 8), measured per run: trigger → its first task's start, and
→ its end (``--parallelism 6 --spot-share 0.67 --hint none`` mirrors the embedded default fleets, 4 spot + 2
on-demand slots, against LocalExecutor with 6).

The tasks carry a placement hint (``--hint deadline``: expected duration 1 s, deadline 1 s after the run
starts — unmeetable, so the plan is "everything as early as possible" and uses both fleets); ``--hint none``
runs them bare: no deadline, so each task's wait is priced at the default ``delay_cost_per_hour`` ($1/h) —
the plan puts it on the cheaper spot fleet, and the executor moves it to a free on-demand slot when the
queue on spot would cost more in waiting than on-demand's extra price.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from airflow_ai_scheduler.demo.deployment import EXECUTOR, LocalDeployment

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "executor_throughput.json"

DAG_TEMPLATE = '''
from datetime import datetime, timedelta

from airflow.sdk import dag, task

N = {n}
HINT = {hint!r}
if HINT == "deadline":
    from airflow_ai_scheduler.airflow.hints import placement
    DEFAULT_ARGS = {{"executor_config": placement(duration=timedelta(seconds=1), deadline=timedelta(seconds=1))}}
else:
    DEFAULT_ARGS = {{}}


@dag(dag_id="{dag_id}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False,
     max_active_tasks=N, max_active_runs=100, default_args=DEFAULT_ARGS)
def bench():
    @task
    def noop(i=None):
        return None

    if "{shape}" == "mapped":
        noop.expand(i=list(range(N)))
    elif "{shape}" == "burst":  # one short chain (the fault matrix's f_chain); the burst is many runs of it
        noop.override(task_id="third")(noop.override(task_id="second")(noop.override(task_id="first")()))
    else:
        for i in range(N):
            noop.override(task_id=f"noop_{{i:03d}}")()


bench()
'''


def write_dag(folder: Path, n: int, shape: str, hint: str) -> tuple[Path, str]:
    dag_id = f"bench_noop_{shape}"
    path = folder / f"{dag_id}.py"
    path.write_text(DAG_TEMPLATE.format(n=n, hint=hint, dag_id=dag_id, shape=shape))
    return path, dag_id


def fleets_json(parallelism: int, spot_share: float = 0.5) -> str:
    spot = min(parallelism - 1, max(1, round(parallelism * spot_share)))
    base = {"provider": "aws", "region": "us-east-1", "instance_type": "m6i.xlarge", "backend": "local"}
    return json.dumps([{**base, "name": "bench-spot", "tier": "spot", "slots": spot},
                       {**base, "name": "bench-on-demand", "tier": "on-demand", "slots": parallelism - spot}])


def config_for(executor: str, parallelism: int, n: int, planner: str,
               extra: dict[str, str] | None = None, spot_share: float = 0.5) -> dict[str, str]:
    cfg = {
        "core.parallelism": str(parallelism),
        "core.max_active_tasks_per_dag": str(max(n, 16)),
        "scheduler.task_queued_timeout": "600",
    }
    if executor != "LocalExecutor":
        cfg["ai_scheduler.fleets"] = fleets_json(parallelism, spot_share)
        cfg["ai_scheduler.planner"] = planner
        cfg.update(extra or {})
    return cfg


def _utc(v: Any) -> datetime:
    if isinstance(v, str):
        v = datetime.fromisoformat(v)
    return v if v.tzinfo else v.replace(tzinfo=timezone.utc)


def read_run(database_url: str, dag_id: str, run_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as c:
            run = c.execute(text("SELECT state, queued_at, start_date, end_date FROM dag_run "
                                 "WHERE dag_id = :d AND run_id = :r"), {"d": dag_id, "r": run_id}).mappings().one()
            tis = c.execute(text("SELECT task_id, map_index, state, queued_dttm, start_date, end_date, try_number "
                                 "FROM task_instance WHERE dag_id = :d AND run_id = :r"),
                            {"d": dag_id, "r": run_id}).mappings().all()
    finally:
        engine.dispose()
    return dict(run), [dict(t) for t in tis]


def leftover_pids(home: Path) -> list[int]:
    """Processes still running with this deployment's AIRFLOW_HOME (none should be)."""
    me, out = os.getpid(), []
    needle = f"AIRFLOW_HOME={home}".encode()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == me:
            continue
        try:
            if needle in (d / "environ").read_bytes().split(b"\0"):
                out.append(int(d.name))
        except OSError:
            continue
    return out


def measure(executor: str, dag_path: Path, dag_id: str, *, n: int, parallelism: int, planner: str,
            database_url: str | None, timeout: float, keep: bool = False,
            extra: dict[str, str] | None = None, runs: int = 1, spot_share: float = 0.5) -> dict[str, Any]:
    label = "LocalExecutor" if executor == "LocalExecutor" else "AiSchedulerExecutor"
    af = LocalDeployment(dags=[dag_path], executor=executor, database_url=database_url,
                         config=config_for(executor, parallelism, n, planner, extra, spot_share), keep=True)
    home = af.home
    try:
        af.start()
        af.wait_dag(dag_id, timeout=180)
        time.sleep(2)  # let the scheduler settle after the first parse
        t0 = time.monotonic()
        run_ids = [af.trigger(dag_id) for _ in range(runs)]
        pending = set(run_ids)
        while pending and time.monotonic() - t0 < timeout:
            pending -= {r for r in list(pending) if af.run_state(dag_id, r) in ("success", "failed")}
            time.sleep(0.25 if runs == 1 else 1.0)
        observed = time.monotonic() - t0
        read = [read_run(af.database_url, dag_id, r) for r in run_ids]
        sched_log = af.logs("scheduler")
    except BaseException:
        af.print_logs()
        raise
    finally:
        af.stop()
        stray = leftover_pids(home)
        for pid in stray:  # our own deployment's processes only, by pid
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if keep:
            print(f"kept {home}", file=sys.stderr)
        else:
            import shutil

            shutil.rmtree(home, ignore_errors=True)
    tis = [t for _run, run_tis in read for t in run_tis]
    starts = [_utc(t["start_date"]) for t in tis if t["start_date"]]
    ends = [_utc(t["end_date"]) for t in tis if t["end_date"]]
    span = (max(ends) - min(starts)).total_seconds()
    queued = min(_utc(r["queued_at"]) for r, _ in read)
    done = [_utc(r["end_date"]) for r, _ in read if r["end_date"]]
    wall = (max(done) - queued).total_seconds() if len(done) == len(read) else None
    states = Counter(r["state"] for r, _ in read)
    run = {"state": "success" if set(states) == {"success"} else dict(states)}
    runtimes = sorted((_utc(t["end_date"]) - _utc(t["start_date"])).total_seconds()
                      for t in tis if t["start_date"] and t["end_date"])
    fleets = Counter(m.group(1) for m in re.finditer(r"routed .*? to fleet (\S+)", sched_log))
    result = {
        "executor": label, "run_state": run["state"], "tasks": len(tis),
        "succeeded": sum(1 for t in tis if t["state"] == "success"),
        "retries": sum(1 for t in tis if (t["try_number"] or 1) > 1),
        "span_seconds": round(span, 3), "tasks_per_second": round(len(tis) / span, 3),
        "wall_seconds": round(wall, 3) if wall else None,
        "wall_tasks_per_second": round(len(tis) / wall, 3) if wall else None,
        "observed_wall_seconds": round(observed, 2),
        "first_start_after_trigger_seconds": round((min(starts) - queued).total_seconds(), 3),
        "median_task_runtime_seconds": round(statistics.median(runtimes), 3),
        "stray_processes_killed": len(stray),
    }
    if fleets:
        result["routed_by_fleet"] = dict(fleets)
    if runs > 1:  # per run: its trigger (queued_at) → its first task's start, and → its end
        firsts = [min(_utc(t["start_date"]) for t in run_tis if t["start_date"]) - _utc(r["queued_at"])
                  for r, run_tis in read if any(t["start_date"] for t in run_tis)]
        lasts = [_utc(r["end_date"]) - _utc(r["queued_at"]) for r, _ in read if r["end_date"]]
        result.update(runs=runs, median_first_start_seconds=round(statistics.median(
            f.total_seconds() for f in firsts), 2), median_run_seconds=round(statistics.median(
            x.total_seconds() for x in lasts), 2) if lasts else None)
    if run["state"] != "success":
        print(f"WARNING: {label} run ended {run['state']}", file=sys.stderr)
    return result


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label in ("LocalExecutor", "AiSchedulerExecutor"):
        mine = [r for r in rows if r["executor"] == label]
        if not mine:
            continue
        out[label] = {
            "median_tasks_per_second": round(statistics.median(r["tasks_per_second"] for r in mine), 3),
            "median_wall_tasks_per_second": round(statistics.median(r["wall_tasks_per_second"] or 0 for r in mine), 3),
            "median_span_seconds": round(statistics.median(r["span_seconds"] for r in mine), 2),
            "median_wall_seconds": round(statistics.median(r["wall_seconds"] or 0 for r in mine), 2),
            "median_first_start_after_trigger_seconds": round(
                statistics.median(r["first_start_after_trigger_seconds"] for r in mine), 2),
            "tasks_per_second_each": [r["tasks_per_second"] for r in mine],
        }
        if "median_first_start_seconds" in mine[0]:  # a burst: per-run latencies
            out[label]["median_run_first_start_seconds"] = round(
                statistics.median(r["median_first_start_seconds"] for r in mine), 2)
            out[label]["median_run_seconds"] = round(statistics.median(r["median_run_seconds"] or 0 for r in mine), 2)
    if len(out) == 2 and "median_run_first_start_seconds" in out["LocalExecutor"]:
        out["ratio_first_start"] = round(out["AiSchedulerExecutor"]["median_run_first_start_seconds"]
                                         / out["LocalExecutor"]["median_run_first_start_seconds"], 3)
        out["first_start_within_2x"] = out["ratio_first_start"] <= 2.0
    if len(out) == 2:
        lo, ai = out["LocalExecutor"], out["AiSchedulerExecutor"]
        out["ratio_tasks_per_second"] = round(ai["median_tasks_per_second"] / lo["median_tasks_per_second"], 3)
        out["ratio_wall_tasks_per_second"] = round(
            ai["median_wall_tasks_per_second"] / lo["median_wall_tasks_per_second"], 3)
        out["within_5_percent"] = out["ratio_tasks_per_second"] >= 0.95
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=500)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--parallelism", type=int, default=8, help="LocalExecutor parallelism = our total fleet slots")
    ap.add_argument("--shape", nargs="+", choices=["independent", "mapped", "burst"], default=["independent"],
                    help="burst: --runs runs of a 3-task chain triggered at once (issue 19 item 8)")
    ap.add_argument("--runs", type=int, default=20, help="runs triggered at once for --shape burst")
    ap.add_argument("--spot-share", type=float, default=0.5,
                    help="our spot fleet's share of the slots (the embedded default is 4 of 6: 0.67)")
    ap.add_argument("--db", nargs="+", choices=["sqlite", "postgres"], default=["sqlite"])
    ap.add_argument("--postgres-url", default=os.environ.get("AI_SCHEDULER_TEST_POSTGRES_URL"))
    ap.add_argument("--hint", choices=["deadline", "none"], default="deadline")
    ap.add_argument("--planner", default="optimal", help="[ai_scheduler] planner for our executor")
    ap.add_argument("--only", choices=["LocalExecutor", "AiSchedulerExecutor"], help="measure one executor")
    ap.add_argument("--timeout", type=float, default=1200)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="extra Airflow config for our executor only, e.g. ai_scheduler.measure_usage=False")
    ap.add_argument("--keep", action="store_true", help="keep each Airflow home (logs) for inspection")
    ap.add_argument("--no-write", action="store_true", help="print only; leave the results file alone")
    args = ap.parse_args(argv)
    extra = dict(kv.split("=", 1) for kv in args.set)

    executors = ["LocalExecutor", EXECUTOR]
    if args.only:
        executors = [e for e in executors if (e == "LocalExecutor") == (args.only == "LocalExecutor")]
    groups = []
    with tempfile.TemporaryDirectory(prefix="bench-dags-") as tmp:
        for db in args.db:
            url = None
            if db == "postgres":
                if not args.postgres_url:
                    sys.exit("--db postgres needs --postgres-url or AI_SCHEDULER_TEST_POSTGRES_URL")
                url = args.postgres_url
            for shape in args.shape:
                dag_path, dag_id = write_dag(Path(tmp), args.tasks, shape, args.hint)
                rows = []
                for rep in range(args.reps):
                    order = executors if rep % 2 == 0 else list(reversed(executors))
                    for ex in order:
                        r = measure(ex, dag_path, dag_id, n=args.tasks, parallelism=args.parallelism,
                                    planner=args.planner, database_url=url, timeout=args.timeout, keep=args.keep,
                                    extra=extra, runs=args.runs if shape == "burst" else 1,
                                    spot_share=args.spot_share)
                        r["rep"] = rep + 1
                        rows.append(r)
                        print(json.dumps({"db": db, "shape": shape, **r}), flush=True)
                summary = summarize(rows)
                print(json.dumps({"db": db, "shape": shape, "summary": summary}, indent=2), flush=True)
                groups.append({"db": db, "shape": shape, "runs": rows, "summary": summary})
    out = {
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "load_average_at_end": os.getloadavg()},
        "airflow": _airflow_version(),
        "settings": {"tasks": args.tasks, "reps": args.reps, "parallelism": args.parallelism,
                     "fleets": json.loads(fleets_json(args.parallelism, args.spot_share)), "hint": args.hint,
                     "planner": args.planner, "logging_level": "INFO", "extra_config": extra},
        "groups": groups,
    }
    if not args.no_write:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=2, default=str) + "\n")
        print(f"wrote {args.out}")


def _airflow_version() -> str:
    try:
        return subprocess.run([sys.executable, "-c", "import airflow; print(airflow.__version__)"],
                              capture_output=True, text=True, timeout=120).stdout.strip()
    except Exception:  # noqa: BLE001
        return "?"


if __name__ == "__main__":
    main()
