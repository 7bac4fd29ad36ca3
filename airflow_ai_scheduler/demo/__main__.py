"""The main job: a real Airflow 3 with this executor runs an example DAG end to end, then reports.

    python -m airflow_ai_scheduler.demo [--dag etl_deadline] [--planner optimal] [--keep]

Starts api-server, scheduler and dag-processor on SQLite in a temporary AIRFLOW_HOME, triggers the DAG,
waits for it, and prints where each task ran, its tier, planned vs actual cost, and the saving against
running everything on-demand. Every process is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

DAGS = Path(__file__).resolve().parents[2] / "dags"


def report(af: object, dag_id: str, run_id: str) -> str:
    from airflow_ai_scheduler.demo.deployment import LocalDeployment

    assert isinstance(af, LocalDeployment)
    out = af.airflow("ai-scheduler", "report", dag_id, run_id, check=False)
    return out.stdout if out.returncode == 0 else out.stdout + out.stderr


def main(argv: list[str] | None = None) -> int:
    from airflow_ai_scheduler.demo.deployment import LocalDeployment

    ap = argparse.ArgumentParser(prog="python -m airflow_ai_scheduler.demo")
    ap.add_argument("--dag", default="ml_pipeline", help="example DAG to run (file in dags/)")
    ap.add_argument("--planner", default="optimal")
    ap.add_argument("--keep", action="store_true", help="keep the temporary AIRFLOW_HOME")
    args = ap.parse_args(argv)
    dag_file = DAGS / f"{args.dag}.py"
    if not dag_file.exists():
        print(f"no example DAG {dag_file}", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    print("starting Airflow (api-server, scheduler, dag-processor; SQLite) with AiSchedulerExecutor …", flush=True)
    # two local pools priced as AWS m6i.xlarge; the spot one loses the training task's capacity once, 7 s
    # after a worker picked it up (a few epochs in)
    fleets = json.dumps([
        {"name": "local-spot", "provider": "aws", "region": "us-east-1", "instance_type": "m6i.xlarge",
         "tier": "spot", "slots": 4, "options": {"preempt_after_seconds": 7, "preempt_max": 1,
                                               "preempt_task_ids": ["train"]}},
        {"name": "local-on-demand", "provider": "aws", "region": "us-east-1", "instance_type": "m6i.xlarge",
         "tier": "on-demand", "slots": 2}])
    config = {"ai_scheduler.planner": args.planner, "ai_scheduler.fleets": fleets}
    with LocalDeployment(dags=[dag_file], config=config, keep=args.keep) as af:
        print(f"  up in {time.monotonic() - t0:.0f} s (AIRFLOW_HOME={af.home}); triggering {args.dag} …", flush=True)
        run_id = af.trigger(args.dag)
        state = af.wait_run(args.dag, run_id, timeout=300)
        print(f"  run {run_id}: {state} after {time.monotonic() - t0:.0f} s\n", flush=True)
        time.sleep(2)  # the last history rows are written off the scheduler loop
        print(report(af, args.dag, run_id))
        if args.dag == "ml_pipeline":
            resumed = af.xcom(args.dag, run_id, "train").get("resumed_from_epoch")
            if resumed:
                print(f"\ntrain lost its spot capacity and resumed from its checkpoint at epoch {resumed}")
            elif "preempted" in report(af, args.dag, run_id):
                print("\ntrain lost its spot capacity before its first checkpoint and restarted from epoch 0")
            else:
                print("\ntrain ran without interruption")
    print(f"done in {time.monotonic() - t0:.0f} s; all Airflow processes stopped.")
    return 0 if state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
