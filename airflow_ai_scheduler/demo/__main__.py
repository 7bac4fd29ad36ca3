"""The main job: a real Airflow 3 with this executor runs an example DAG end to end, then reports.

    python -m airflow_ai_scheduler.demo [--dag etl_deadline] [--planner optimal] [--keep]
    python -m airflow_ai_scheduler.demo --ui [--host 127.0.0.1] [--port 8080]

Starts api-server, scheduler and dag-processor on SQLite in a temporary AIRFLOW_HOME, triggers the DAG,
waits for it, and prints where each task ran, its tier, planned vs actual cost, and what the same tries
would have cost on-demand. Every process is stopped at the end — with ``--ui`` only on Ctrl-C: the
deployment stays up and the URL of the run's page and the login are printed.
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
    ap.add_argument("--ui", action="store_true", help="keep Airflow up after the run, print its URL and login; "
                                                      "Ctrl-C stops it")
    ap.add_argument("--host", default="127.0.0.1", help="address the api-server binds to (default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=None, help="api-server port (default with --ui: 8080 if free)")
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
    password = None
    if args.ui:  # a real login, as a newcomer meets it: one admin user with a password printed below
        import secrets

        password = secrets.token_urlsafe(9)
        config.update({"core.simple_auth_manager_all_admins": "False", "core.simple_auth_manager_users": "admin:admin"})
    port = args.port or (8080 if args.ui and port_free(args.host, 8080) else None)
    deployment = LocalDeployment(dags=[dag_file], config=config, keep=args.keep, host=args.host, port=port)
    if password:
        deployment.write_passwords({"admin": password})
    with deployment as af:
        if password:
            af.login("admin", password)
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
        if args.ui:
            keep_up(af, args.dag, run_id, password)
    print(f"done in {time.monotonic() - t0:.0f} s; all Airflow processes stopped.")
    return 0 if state == "success" else 1


def port_free(host: str, port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def keep_up(af: object, dag_id: str, run_id: str, password: str | None) -> None:
    """Print where to look, then wait for Ctrl-C (the caller's ``with`` then stops every process)."""
    from urllib.parse import quote

    from airflow_ai_scheduler.airflow.ui.app import NAV_ROUTE, RUN_ROUTE

    host = "127.0.0.1" if af.host in ("0.0.0.0", "::") else af.host  # type: ignore[attr-defined]
    base = f"http://{host}:{af.port}"  # type: ignore[attr-defined]
    print(f"""
Airflow is up with the AI Scheduler. Open

  {base}/dags/{quote(dag_id)}/runs/{quote(run_id, safe='')}/plugin/{RUN_ROUTE}
      this run's "Cost plan" tab: where each task ran, when, what it cost and why; what-if re-planning
  {base}/plugin/{NAV_ROUTE}
      "AI Scheduler" in the navigation: every planned run, plans awaiting approval, the fleets

  login: admin / {password}

Trigger {dag_id} again from the UI for another run. Press Ctrl-C to stop Airflow.""", flush=True)
    import signal

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGHUP):  # a closed terminal or a kill stops Airflow like Ctrl-C
        signal.signal(sig, interrupt)
    try:
        while all(p.poll() is None for p in af.procs.values()):  # type: ignore[attr-defined]
            time.sleep(1)
        print("an Airflow process exited; stopping the others", flush=True)
    except KeyboardInterrupt:
        print("\nstopping Airflow …", flush=True)


if __name__ == "__main__":
    sys.exit(main())
