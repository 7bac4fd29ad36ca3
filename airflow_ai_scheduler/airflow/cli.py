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
    as_json = Arg(("--json",), action="store_true", help="same as --output json (kept for scripts)")
    output = Arg(("-o", "--output"), metavar="(table, json, yaml, plain)", choices=("table", "json", "yaml", "plain"),
                 default="table", help="Output format. Allowed values: json, yaml, plain, table (default: table)")
    limit = Arg(("--limit",), type=_positive_int, default=50, help="most recent rows (1..100000)")
    check = Arg(("--check",), action="store_true",
                help="ask each Celery fleet's queue which workers serve it and compare their concurrency with slots")
    worker_command = Arg(("--worker-command",), metavar="FLEET",
                         help="print the shell lines that start a worker for this Celery fleet "
                              "(its AI_SCHEDULER_* environment, queue and concurrency = slots)")
    mod = "airflow_ai_scheduler.airflow.cli"
    usage = "airflow_ai_scheduler.airflow.usage_api"
    any_dag = Arg(("dag_id",), nargs="?", help="the DAG id (default: every DAG with measured tries)")
    task = Arg(("task_id",), help="the task id")
    offers = Arg(("--offers",), choices=("fleets", "catalog"), default="fleets",
                 help="rank the configured fleets (default) or every offer of the price catalog")
    top = Arg(("--top",), type=int, default=10, help="how many offers to show")
    return [GroupCommand(
        name="ai-scheduler",
        help="Cost-aware planning: plans, costs and fleets of airflow-ai-scheduler",
        subcommands=[
            ActionCommand(name="plan", help="Show a DAG run's plan", func=lazy_load_command(f"{mod}.plan_command"),
                          args=(dag_id, run_id, output, as_json)),
            ActionCommand(name="report", help="Where each task of a run ran, planned vs actual cost, saving",
                          func=lazy_load_command(f"{mod}.report_command"), args=(dag_id, run_id, output, as_json)),
            ActionCommand(name="history", help="Recorded task tries: fleet, tier, runtime, cost, outcome",
                          func=lazy_load_command(f"{mod}.history_command"), args=(dag_id, task_id, limit, output, as_json)),
            ActionCommand(name="rightsize", help="Per task: requested vs used (p95), a recommended resources "
                          "hint and the money it saves", func=lazy_load_command(f"{usage}.rightsize_command"),
                          args=(any_dag, output, as_json)),
            ActionCommand(name="rank", help="Suitability of each offer for a task: runtime quantiles, P(miss), "
                          "P(interruption), headroom, expected cost, score", func=lazy_load_command(f"{usage}.rank_command"),
                          args=(dag_id, task, offers, top, output, as_json)),
            ActionCommand(name="anomalies", help="Tries flagged as runtime or memory outliers against their "
                          "task's history", func=lazy_load_command(f"{usage}.anomalies_command"),
                          args=(any_dag, limit, output, as_json)),
            ActionCommand(name="fleets", help="The configured fleets with their prices and slots",
                          func=lazy_load_command(f"{mod}.fleets_command"),
                          args=(output, as_json, check, worker_command)),
            *_forecast_commands(Arg, ActionCommand, lazy_load_command, output, as_json),
        ],
    )]


#: a plan's status in words
STATUS = {"optimal": "proven cheapest for its objective", "feasible": "best found within the time limit",
          "repaired": "LLM plan, repaired", "fallback": "fallback plan"}


def _positive_int(value: str) -> int:
    import argparse

    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--limit must be a whole number, got {value!r}") from None
    if not 1 <= n <= 100_000:
        raise argparse.ArgumentTypeError(f"--limit must be between 1 and 100000, got {n}")
    return n


def _forecast_commands(Arg: Any, ActionCommand: Any, lazy: Any, output: Any, as_json: Any) -> list[Any]:
    """``forecast``, ``budgets``, ``budget-set``, ``budget-delete`` (airflow_ai_scheduler.airflow.cli_forecast)."""
    from airflow_ai_scheduler.budgets.model import PERIODS, POLICIES, SCOPES

    mod = "airflow_ai_scheduler.airflow.cli_forecast"
    scope = Arg(("scope",), choices=SCOPES, help="what the budget binds: " + ", ".join(SCOPES))
    subject = Arg(("subject",), help="the DAG id, owner, tag, team, or dag_id.task_id")
    period = Arg(("period",), choices=PERIODS, help="the window spend is counted over")
    return [
        ActionCommand(name="forecast", help="Demand forecast per fleet with recommended slots and their cost",
                      func=lazy(f"{mod}.forecast_command"), args=(
                          Arg(("--fleet",), help="only this fleet"),
                          Arg(("--hours",), type=int, default=24, help="horizon in hours (default 24)"),
                          Arg(("--by",), choices=("fleet", "dag", "owner", "total"), default="fleet",
                              help="group demand by (sizing needs fleet)"),
                          Arg(("--method",), default="auto", help="auto, schedule, ets, mstl, schedule_ets, ..."),
                          Arg(("--level",), type=int, default=80, help="interval level sizing covers (80)"),
                          Arg(("--budget",), type=float, help="max USD for the recommended fleets over the horizon"),
                          output, as_json)),
        ActionCommand(name="budgets", help="Budgets with their spend in the current period",
                      func=lazy(f"{mod}.budgets_command"), args=(output, as_json)),
        ActionCommand(name="budget-set", help="Create or change a budget", func=lazy(f"{mod}.budget_set_command"),
                      args=(scope, subject, period, Arg(("amount_usd",), type=float, help="USD"),
                            Arg(("--policy",), choices=POLICIES, default="hold",
                                help="over budget: hold the task queued (default) or fail it"),
                            Arg(("--note",), help="why"), output, as_json)),
        ActionCommand(name="budget-delete", help="Remove a budget", func=lazy(f"{mod}.budget_delete_command"),
                      args=(scope, subject, period)),
    ]


def _store() -> Any:
    from airflow.utils.session import create_session

    from airflow_ai_scheduler.history.store import HistoryStore

    return HistoryStore(create_session)


def _output(args: Any) -> str:
    return "json" if getattr(args, "json", False) else getattr(args, "output", None) or "table"


def _print(data: Any, output: str) -> None:
    """Through Airflow's console, as ``airflow dags list`` prints; JSON and YAML keep numbers as numbers."""
    from airflow.cli.simple_table import AirflowConsole

    console = AirflowConsole()
    if output == "json":
        print(json.dumps(data, indent=2, default=str))
    elif output == "yaml":
        import yaml

        print(yaml.safe_dump(json.loads(json.dumps(data, default=str)), sort_keys=False))
    else:
        console.print_as(data, output)


def _catalog() -> Any:
    from airflow.configuration import conf

    from airflow_ai_scheduler.catalog import catalog_from
    from airflow_ai_scheduler.config import CONFIG_DEFAULTS, SECTION

    try:
        return catalog_from(conf.get(SECTION, "catalog_path", fallback=CONFIG_DEFAULTS["catalog_path"]))
    except Exception:  # on-demand prices of the tries then come from the run's own fleets only
        return None


def plan_command(args: Any) -> None:
    store = _store()
    stored = store.latest_plan(args.dag_id, args.run_id)
    if stored is None:
        raise SystemExit(f"no plan stored for {args.dag_id} / {args.run_id}")
    output = _output(args)
    if output in ("json", "yaml"):
        _print(stored.plan.model_dump(mode="json"), output)
        return
    rep = run_report(store, args.dag_id, args.run_id, catalog=_catalog())
    if rep.get("llm"):
        print(format_exchange(rep["llm"]))
    _print([{"task": p["job_id"] + (" *" if p["critical"] else ""), "fleet": p["fleet"], "tier": p["tier"],
             "where": f"{p['provider']}:{p['region']} {p['instance_type']}", "start": p["planned_start"][11:19],
             "expected end": p["planned_end"][11:19], "expected $": f"{p['planned_cost']:.6f}",
             "why": p["rationale"]} for p in rep["placements"]], output)
    o = stored.plan.objective
    print(f"planner {stored.plan.planner} ({STATUS.get(stored.plan.status, stored.plan.status)}) — objective {o.total:.4f} = expected cost "
          f"${o.cost:.6f} + tardiness {o.tardiness:.3f} h + risk {o.risk:.3f} (weighted); * = critical path")
    print(f"expected emissions {o.co2e_kg:.4f} kg CO2e; delay cost ${o.delay_cost:.4f}")
    if stored.plan.commitments:
        from airflow_ai_scheduler.planning.commitments import format_commitment

        for c in stored.plan.commitments:
            print(format_commitment(c))
    print(_planned_line(rep))
    for note in stored.plan.notes:
        print(f"note: {note}")


def _planned_line(rep: dict[str, Any]) -> str:
    if rep["planned_cost"] is None:
        return "no plan stored"
    line = f"planned cost (expected, at the plan's estimated runtimes): ${rep['planned_cost']:.6f}"
    if rep["on_demand_planned_cost"]:
        line += (f"; the run planned all on-demand: ${rep['on_demand_planned_cost']:.6f}, so the plan is "
                 f"{rep['planned_saving_pct']:.1f} % cheaper")
    return line


def run_report(store: Any, dag_id: str, run_id: str, catalog: Any = None) -> dict[str, Any]:
    """Per try: fleet, tier, planned vs actual cost; totals; the same numbers the run's page shows."""
    from airflow_ai_scheduler.airflow.ui.run_view import run_view

    view = run_view(store, dag_id, run_id, catalog=catalog) or {
        "plan": None, "tries": [], "placements": [], "summary": {}, "catalog_as_of": None}
    summary = view["summary"] or {}
    rows = [{"task": t["job_id"], "try": t["label"], "try_number": t["try_number"], "attempt": t["attempt"],
             "fleet": t["fleet"], "tier": t["tier"],
             "where": f"{t['provider']}:{t['region']} {t['instance_type']}" if t["provider"] else "-",
             "outcome": t["outcome"], "start": t["actual_start"], "end": t["actual_end"],
             "runtime_s": t["runtime_seconds"], "planned_fleet": t["planned_fleet"],
             "planned_cost": t["planned_cost"], "actual_cost": t["actual_cost"],
             "on_demand_cost": t["on_demand_cost"], "rationale": t["rationale"],
             "co2e_kg": t.get("co2e_kg")} for t in view["tries"]]
    plan = view["plan"]
    llm = exchange_summary(store, plan["llm_exchange_id"]) if plan and plan["llm_exchange_id"] else None
    return {"dag_id": dag_id, "run_id": run_id, "planner": plan["planner"] if plan else None, "llm": llm,
            "rows": rows, "placements": view["placements"], "catalog_as_of": view["catalog_as_of"],
            "planned_cost": summary.get("planned_cost"), "actual_cost": summary.get("actual_cost", 0.0),
            "on_demand_planned_cost": summary.get("on_demand_planned_cost"),
            "planned_saving_pct": summary.get("planned_saving_pct"),
            "actual_on_demand_cost": summary.get("actual_on_demand_cost"),
            "actual_saving_pct": summary.get("actual_saving_pct"),
            "actual_co2e_kg": round(sum(r["co2e_kg"] or 0.0 for r in rows), 8)
            if any(r["co2e_kg"] is not None for r in rows) else None}


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
    rep = run_report(_store(), args.dag_id, args.run_id, catalog=_catalog())
    output = _output(args)
    if output in ("json", "yaml"):
        _print(rep, output)
        return
    head, _table_rows, tail = _report_parts(rep)
    print("\n".join(head))
    _print(_report_rows(rep), output)
    print("\n".join(tail))


def _report_rows(rep: dict[str, Any]) -> list[dict[str, str]]:
    return [{"task": r["task"], "try": str(r["try"]), "fleet": str(r["fleet"]), "tier": str(r["tier"]),
             "where": r["where"], "outcome": r["outcome"], "start": (r.get("start") or "-")[11:19] or "-",
             "runtime s": f"{r['runtime_s']:.1f}",
             "planned $": "-" if r["planned_cost"] is None else f"{r['planned_cost']:.6f}",
             "actual $": f"{r['actual_cost']:.6f}",
             "on-demand $": "-" if r.get("on_demand_cost") is None else f"{r['on_demand_cost']:.6f}",
             **({"kg CO2e": "-" if r.get("co2e_kg") is None else f"{r['co2e_kg']:.6f}"}
                if rep.get("actual_co2e_kg") is not None else {})}
            for r in rep["rows"]]


def _report_parts(rep: dict[str, Any]) -> tuple[list[str], list[dict[str, str]], list[str]]:
    head = [f"DAG {rep['dag_id']}, run {rep['run_id']} — planner {rep['planner']}"]
    if rep.get("llm"):
        head.append(format_exchange(rep["llm"]))
    tail = [""]
    tail.append(f"actual cost (measured runtimes × price at launch):   ${rep['actual_cost']:.6f}")
    if rep.get("actual_on_demand_cost") is not None:
        saved = rep["actual_on_demand_cost"] - rep["actual_cost"]
        pct = f" ({rep['actual_saving_pct']:.1f} %)" if rep.get("actual_saving_pct") is not None else ""
        tail.append(f"the same tries on on-demand would have cost:          ${rep['actual_on_demand_cost']:.6f}"
                    f" — saved ${saved:.6f}{pct}")
    if rep.get("actual_co2e_kg") is not None:
        tail.append(f"emissions (measured runtimes × planned kg CO2e per hour): {rep['actual_co2e_kg']:.6f} kg CO2e")
    if rep["planned_cost"] is not None:
        tail.append(_planned_line(rep))
    if rep.get("catalog_as_of"):
        tail.append(f"prices: catalog snapshot of {rep['catalog_as_of']}")
    said: set[tuple[str, str]] = set()
    for r in rep["rows"]:  # one line per task and reason: a preempted try repeats its task's placement
        if r["rationale"] and (r["task"], r["rationale"]) not in said:
            said.add((r["task"], r["rationale"]))
            tail.append(f"  why {r['task']}: {r['rationale']}")
    return head, _report_rows(rep), tail


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def format_report(rep: dict[str, Any]) -> str:
    """The report as plain text (the demo and tests; the command prints the same through Airflow's console)."""
    head, rows, tail = _report_parts(rep)
    table = [tuple(rows[0])] + [tuple(r.values()) for r in rows] if rows else [("no recorded try",)]
    return "\n".join([*head, "", _table(table), *tail])


def history_command(args: Any) -> None:
    rows = _store().history(args.dag_id, args.task_id, limit=args.limit)
    output = _output(args)
    if output in ("json", "yaml"):
        _print(rows, output)
        return
    if not rows:
        print(f"no history for {args.dag_id}")
        return
    _print([{"run": r["run_id"], "task": r["task_id"], "map": "-" if r["map_index"] < 0 else str(r["map_index"]), "try": str(r["try_number"]),
             "fleet": str(r["fleet"]), "tier": str(r["tier"]), "runtime s": f"{r['runtime_seconds'] or 0:.1f}",
             "price/h": f"{r['price_per_hour_at_launch'] or 0:.4f}", "cost $": f"{r['actual_cost'] or 0:.6f}",
             "outcome": r["outcome"]} for r in rows], output)


def fleets_command(args: Any) -> None:
    from airflow_ai_scheduler.settings import load_settings

    settings = load_settings(check=False)  # priced from catalog_path, as the executor prices them
    specs = list(settings.fleets)
    if getattr(args, "worker_command", None):
        print(_worker_lines(specs, args.worker_command))
        return
    offers = {o.offer_id: o for o in settings.offers}
    output = _output(args)
    if output in ("json", "yaml"):
        _print([{**s.model_dump(), "price_per_hour": offers[s.name].price_per_hour,
                 "interruption_rate_per_hour": offers[s.name].interruption_rate_per_hour} for s in specs], output)
        return
    check = getattr(args, "check", False)
    rows = []
    for s in specs:
        o = offers[s.name]
        row = {"fleet": s.name, "tier": s.tier, "where": f"{s.location} {s.instance_type}", "slots": str(s.slots),
               "backend": s.backend, "$/h": f"{o.price_per_hour:.4f}",
               "λ/h (spot interruptions per hour)": f"{o.interruption_rate_per_hour:.5f}"}
        rows.append({**row, "workers": _workers(s)} if check else row)
    _print(rows, output)


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
