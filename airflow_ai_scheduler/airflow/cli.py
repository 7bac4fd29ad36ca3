"""``airflow ai-scheduler …``: a run's plan, its report, task history and the fleets (provider "cli" entry).

Commands run where the metadata database is reachable (like every ``airflow`` command) and read our
tables through :class:`~airflow_ai_scheduler.history.store.HistoryStore`.
"""

from __future__ import annotations

import json
from typing import Any


def get_ai_scheduler_cli_commands() -> list[Any]:
    from airflow.cli.cli_config import ActionCommand, Arg, GroupCommand, lazy_load_command

    dag_id = Arg(("dag_id",), help="the DAG id")
    run_id = Arg(("run_id",), help="the DAG run id")
    task_id = Arg(("task_id",), nargs="?", help="a task id (default: every task)")
    as_json = Arg(("--json",), action="store_true", help="print JSON")
    limit = Arg(("--limit",), type=int, default=50, help="most recent rows")
    check = Arg(("--check",), action="store_true",
                help="ask each Celery fleet's queue which workers serve it and compare their concurrency with slots")
    worker_command = Arg(("--worker-command",), metavar="FLEET",
                         help="print the shell lines that start a worker for this Celery fleet "
                              "(its AI_SCHEDULER_* environment, queue and concurrency = slots)")
    mod = "airflow_ai_scheduler.airflow.cli"
    return [GroupCommand(
        name="ai-scheduler",
        help="Cost-aware planning: plans, costs and fleets of airflow-ai-scheduler",
        subcommands=[
            ActionCommand(name="plan", help="Show a DAG run's plan", func=lazy_load_command(f"{mod}.plan_command"),
                          args=(dag_id, run_id, as_json)),
            ActionCommand(name="report", help="Where each task of a run ran, planned vs actual cost, saving",
                          func=lazy_load_command(f"{mod}.report_command"), args=(dag_id, run_id, as_json)),
            ActionCommand(name="history", help="Recorded task tries: fleet, tier, runtime, cost, outcome",
                          func=lazy_load_command(f"{mod}.history_command"), args=(dag_id, task_id, limit, as_json)),
            ActionCommand(name="fleets", help="The configured fleets with their prices and slots",
                          func=lazy_load_command(f"{mod}.fleets_command"),
                          args=(as_json, check, worker_command)),
        ],
    )]


def _store() -> Any:
    from airflow.utils.session import create_session

    from airflow_ai_scheduler.history.store import HistoryStore

    return HistoryStore(create_session)


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def plan_command(args: Any) -> None:
    from airflow_ai_scheduler.cli.plan import format_plan
    from airflow_ai_scheduler.models import Manifest

    store = _store()
    stored = store.latest_plan(args.dag_id, args.run_id)
    if stored is None:
        raise SystemExit(f"no plan stored for {args.dag_id} / {args.run_id}")
    if args.json:
        print(stored.plan.model_dump_json(indent=2))
        return
    if stored.llm_exchange_id and (llm := exchange_summary(store, stored.llm_exchange_id)):
        print(format_exchange(llm))
    manifest_json = _manifest_json(store, stored.id)
    manifest = Manifest.model_validate_json(manifest_json) if manifest_json else None
    if manifest is not None:
        print(format_plan(stored.plan, manifest, manifest.offers or []))
    else:
        print(json.dumps(stored.plan.model_dump(mode="json"), indent=2))


def _manifest_json(store: Any, plan_id: int) -> str | None:
    """The manifest a plan was made from (read-only; the store has no accessor for it)."""
    from sqlalchemy import select

    from airflow_ai_scheduler.history.tables import plan

    with store.session_scope() as s:
        return s.execute(select(plan.c.manifest_json).where(plan.c.id == plan_id)).scalar_one_or_none()


def run_report(store: Any, dag_id: str, run_id: str) -> dict[str, Any]:
    """Per task: fleet, tier, planned vs actual cost; totals and the saving against all on-demand."""
    stored = store.latest_plan(dag_id, run_id)
    tries = store.history(dag_id, run_id=run_id, limit=10_000)
    planned = {p.job_id: p for p in stored.plan.placements} if stored else {}
    rows = []
    for t in sorted(tries, key=lambda r: r["id"]):
        job = t["task_id"] if t["map_index"] < 0 else f"{t['task_id']}[{t['map_index']}]"
        p = planned.get(job) or planned.get(t["task_id"])
        rows.append({"task": job, "try": t["try_number"], "fleet": t["fleet"], "tier": t["tier"],
                     "where": f"{t['provider']}:{t['region']} {t['instance_type']}" if t["provider"] else "-", "outcome": t["outcome"],
                     "runtime_s": round(t["runtime_seconds"] or 0.0, 1), "planned_fleet": p.offer_id if p else None,
                     "planned_cost": p.estimated_cost if p else None, "actual_cost": t["actual_cost"] or 0.0,
                     "rationale": p.rationale if p else ""})
    actual = sum(r["actual_cost"] for r in rows)
    planned_total = stored.plan.objective.cost if stored else None
    od = stored.on_demand_cost if stored else None
    llm = exchange_summary(store, stored.llm_exchange_id) if stored and stored.llm_exchange_id else None
    return {"dag_id": dag_id, "run_id": run_id, "planner": stored.plan.planner if stored else None, "llm": llm,
            "rows": rows, "planned_cost": planned_total, "actual_cost": actual, "on_demand_planned_cost": od,
            "planned_saving_pct": (100 * (od - planned_total) / od) if od and planned_total is not None else None}


def exchange_summary(store: Any, exchange_id: int) -> dict[str, Any] | None:
    """The audit facts of a plan's LLM exchange (no prompt or response: those stay in the table)."""
    ex = store.llm_exchange(exchange_id)
    if ex is None:
        return None
    repair = ex.get("repair") or {}
    return {"id": ex["id"], "model": ex["model"], "outcome": ex["outcome"], "reason": ex["reason"],
            "latency_seconds": ex["latency_seconds"], "input_tokens": ex["input_tokens"],
            "output_tokens": ex["output_tokens"], "prompt_hash": ex["prompt_hash"], "attempts": ex.get("attempts"),
            "repair": {k: len(v) for k, v in repair.items()}}


def format_exchange(llm: dict[str, Any]) -> str:
    r = llm.get("repair") or {}
    return (f"LLM exchange #{llm['id']}: model {llm['model']}, {llm['outcome']} ({llm['reason']}), "
            f"{(llm['latency_seconds'] or 0):.1f} s, tokens in/out {llm['input_tokens']}/{llm['output_tokens']}, "
            f"prompt {str(llm['prompt_hash'] or '')[:12]}; kept {r.get('kept', 0)}, changed {r.get('changed', 0)}, "
            f"retimed {r.get('retimed', 0)}, added {r.get('added', 0)}")


def report_command(args: Any) -> None:
    rep = run_report(_store(), args.dag_id, args.run_id)
    if args.json:
        print(json.dumps(rep, indent=2, default=str))
        return
    print(format_report(rep))


def format_report(rep: dict[str, Any]) -> str:
    rows = [("task", "try", "fleet", "tier", "where", "outcome", "runtime s", "planned $", "actual $")]
    for r in rep["rows"]:
        rows.append((r["task"], str(r["try"]), str(r["fleet"]), str(r["tier"]), r["where"], r["outcome"],
                     f"{r['runtime_s']:.1f}", "-" if r["planned_cost"] is None else f"{r['planned_cost']:.6f}",
                     f"{r['actual_cost']:.6f}"))
    lines = [f"DAG {rep['dag_id']}, run {rep['run_id']} — planner {rep['planner']}"]
    if rep.get("llm"):
        lines.append(format_exchange(rep["llm"]))
    lines += ["", _table(rows), ""]
    if rep["planned_cost"] is not None:
        lines.append(f"planned cost (expected, at the plan's estimated runtimes): ${rep['planned_cost']:.6f}")
    lines.append(f"actual cost (measured runtimes × price at launch):        ${rep['actual_cost']:.6f}")
    if rep["on_demand_planned_cost"]:
        lines.append(f"the same run all on-demand was planned at ${rep['on_demand_planned_cost']:.6f}: "
                     f"the plan saves {rep['planned_saving_pct']:.1f} %")
    said: set[tuple[str, str]] = set()
    for r in rep["rows"]:  # one line per task and reason: a preempted try repeats its task's placement
        if r["rationale"] and (r["task"], r["rationale"]) not in said:
            said.add((r["task"], r["rationale"]))
            lines.append(f"  why {r['task']}: {r['rationale']}")
    return "\n".join(lines)


def history_command(args: Any) -> None:
    rows = _store().history(args.dag_id, args.task_id, limit=args.limit)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return
    table = [("run", "task", "map", "try", "fleet", "tier", "runtime s", "price/h", "cost $", "outcome")]
    for r in rows:
        table.append((r["run_id"], r["task_id"], str(r["map_index"]), str(r["try_number"]), str(r["fleet"]),
                      str(r["tier"]), f"{r['runtime_seconds'] or 0:.1f}", f"{r['price_per_hour_at_launch'] or 0:.4f}",
                      f"{r['actual_cost'] or 0:.6f}", r["outcome"]))
    print(_table(table) if rows else f"no history for {args.dag_id}")


def fleets_command(args: Any) -> None:
    from airflow.configuration import conf

    from airflow_ai_scheduler.config import CONFIG_DEFAULTS, SECTION
    from airflow_ai_scheduler.fleets.base import fleet_offers, load_fleets

    specs = load_fleets(conf.get(SECTION, "fleets", fallback=CONFIG_DEFAULTS["fleets"]),
                        conf.get(SECTION, "fleets_file", fallback=CONFIG_DEFAULTS["fleets_file"]))
    if getattr(args, "worker_command", None):
        print(_worker_lines(specs, args.worker_command))
        return
    offers = {o.offer_id: o for o in fleet_offers(specs)}
    if args.json:
        print(json.dumps([{**s.model_dump(), "price_per_hour": offers[s.name].price_per_hour,
                           "interruption_rate_per_hour": offers[s.name].interruption_rate_per_hour} for s in specs],
                         indent=2))
        return
    rows = [("fleet", "tier", "where", "slots", "backend", "$/h", "λ/h")]
    check = getattr(args, "check", False)
    if check:
        rows[0] += ("workers",)
    for s in specs:
        o = offers[s.name]
        row = (s.name, s.tier, f"{s.location} {s.instance_type}", str(s.slots), s.backend,
               f"{o.price_per_hour:.4f}", f"{o.interruption_rate_per_hour:.5f}")
        rows.append(row + ((_workers(s),) if check else ()))
    print(_table(rows))


def _worker_lines(specs: Any, name: str) -> str:
    """``export AI_SCHEDULER_…`` and ``airflow celery worker …`` for one Celery fleet, ready for a shell."""
    import shlex

    from airflow_ai_scheduler.fleets.celery import worker_command, worker_environment

    by_name = {s.name: s for s in specs}
    spec = by_name.get(name)
    if spec is None:
        raise SystemExit(f"no fleet named {name!r}; configured: {', '.join(sorted(by_name)) or 'none'}")
    if spec.backend != "celery":
        raise SystemExit(f"fleet {name!r} has backend {spec.backend!r}: its tasks run in the scheduler's "
                         "process pool, no worker to start")
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(worker_environment(spec).items()))
    return f"export {env}\n{shlex.join(worker_command(spec))}"


def _workers(spec: Any) -> str:
    """What serves a fleet: for Celery, the live workers on its queue and their concurrency vs slots."""
    if spec.backend != "celery":
        return "scheduler's process pool"
    from airflow_ai_scheduler.fleets.celery import CeleryFleet, queue_concurrency

    try:
        fleet = CeleryFleet(spec)
        found = queue_concurrency(fleet._make_app(), fleet.queue)
    except Exception as exc:
        return f"cannot ask Celery: {exc}"
    total = sum(found.values())
    if not found:
        return f"NONE on queue {fleet.queue!r}"
    verdict = "ok" if total == spec.slots else f"MISMATCH: slots {spec.slots}"
    return f"{len(found)} on {fleet.queue!r}, concurrency {total} ({verdict})"
