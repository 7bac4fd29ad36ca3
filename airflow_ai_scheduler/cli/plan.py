"""``ai-scheduler plan | validate | schema``: plan a manifest, check a plan, print the JSON Schemas."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from airflow_ai_scheduler.models import Manifest, Plan, load_manifest, load_plan


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plan", help="plan a manifest and print the plan table")
    p.add_argument("manifest", type=Path, help="manifest JSON file ('-' for stdin)")
    p.add_argument("--planner", default="greedy", help="greedy | optimal | llm (default: greedy)")
    p.add_argument("--time-limit", type=float, default=10.0, help="seconds for the CP-SAT solver (optimal, llm repair)")
    p.add_argument("--model", help="llm: pydantic-ai model name, e.g. google:gemini-2.5-flash")
    p.add_argument("--dry-run", action="store_true", help="llm: print the prompt, call no model")
    p.add_argument("--exchange", type=Path, metavar="EXCHANGE.json",
                   help="llm: write the audit record (prompt, response, model, latency, tokens, outcome) here")
    p.add_argument("--catalog", type=Path, help="a refreshed price catalog CSV instead of the bundled one")
    p.add_argument("--output", "-o", type=Path, help="write the plan JSON here")
    p.add_argument("--json", action="store_true", help="print the plan JSON instead of the table")
    p.add_argument("--carbon-forecast", type=Path, metavar="FORECAST.csv",
                   help="grid carbon intensity over time (location,from,g_co2e_per_kwh) instead of the bundled table")
    p.add_argument("--pareto", action="store_true",
                   help="print the non-dominated plans over cost × tardiness × risk × carbon (a weight sweep) "
                        "instead of one plan")
    p.add_argument("--pareto-plot", type=Path, metavar="FRONT.png", help="--pareto: also plot the front (plot extra)")
    p.set_defaults(func=cmd_plan)

    v = sub.add_parser("validate", help="check a plan against its manifest")
    v.add_argument("manifest", type=Path)
    v.add_argument("plan", type=Path)
    v.add_argument("--catalog", type=Path)
    v.set_defaults(func=cmd_validate)

    s = sub.add_parser("schema", help="print the JSON Schema of the manifest or the plan")
    s.add_argument("which", choices=["manifest", "plan"])
    s.set_defaults(func=cmd_schema)


def _read(path: Path) -> str:
    return sys.stdin.read() if str(path) == "-" else path.read_text()


def _offers(manifest: Manifest, catalog: Path | None):
    from airflow_ai_scheduler.planning.base import resolve_offers

    if catalog is not None and manifest.offers is None:
        from airflow_ai_scheduler.catalog import load_catalog

        return load_catalog(catalog).offers()
    return resolve_offers(manifest)


def cmd_plan(args: argparse.Namespace) -> int:
    from airflow_ai_scheduler.planning.base import run_planner

    manifest = load_manifest(_read(args.manifest))
    if args.carbon_forecast:
        from airflow_ai_scheduler.catalog.carbon import load_forecast
        from airflow_ai_scheduler.exceptions import CatalogError, ManifestError, Problem

        try:
            forecast = load_forecast(args.carbon_forecast)
        except CatalogError as exc:
            raise ManifestError([Problem("--carbon-forecast", str(exc))], what="carbon forecast") from None
        manifest = load_manifest({**manifest.model_dump(mode="json"), "carbonForecast": forecast})
    offers = _offers(manifest, args.catalog)
    if args.pareto:
        return _pareto(args, manifest, offers)
    if args.planner == "llm" and args.dry_run:
        from airflow_ai_scheduler.planning.llm import build_prompt

        print(build_prompt(manifest, offers))
        return 0
    result = run_planner(args.planner, manifest, offers, **_planner_kwargs(args))
    plan = result.plan
    if result.exchange is not None:
        ex = result.exchange
        print(f"llm: model {ex.model}, {ex.outcome} ({ex.reason}), {ex.latency_seconds:.1f} s, "
              f"tokens in/out {ex.input_tokens}/{ex.output_tokens}", file=sys.stderr)
        if args.exchange:
            args.exchange.write_text(ex.model_dump_json(indent=2, by_alias=True))
    if args.output:
        args.output.write_text(plan.model_dump_json(indent=2))
    if args.json:
        print(plan.model_dump_json(indent=2))
    else:
        print(format_plan(plan, manifest, offers))
    return 0 if plan.is_valid else 1


def _planner_kwargs(args: argparse.Namespace) -> dict[str, object]:
    if args.planner == "optimal":
        return {"time_limit_seconds": args.time_limit}
    if args.planner == "llm":
        return {"fallback_time_limit_seconds": args.time_limit, **({"model": args.model} if args.model else {})}
    return {}


def _pareto(args: argparse.Namespace, manifest: Manifest, offers) -> int:
    from airflow_ai_scheduler.planning.pareto import pareto_front, plot_front

    points = pareto_front(manifest, offers, planner=args.planner, **_planner_kwargs(args))
    rows = [("#", "w_tardiness", "w_risk", "w_carbon $/kg", "cost $", "tardiness h", "risk", "kg CO2e")]
    for i, p in enumerate(points, start=1):
        o, w = p.objective, p.weights
        rows.append((str(i), f"{w.tardiness:g}", f"{w.risk:g}", f"{w.carbon:g}", f"{o.cost:.4f}",
                     _num(o.tardiness, 3), _num(o.risk, 3), _num(o.co2e_kg, 4)))
    if args.json or args.output:
        text = json.dumps([p.as_row() for p in points], indent=2)
        if args.output:
            args.output.write_text(text)
        if args.json:
            print(text)
    if not args.json:
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        print("\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows))
        print(f"{len(points)} non-dominated plan(s) of a {args.planner} weight sweep (w_cost = 1); "
              "each is no worse than every other on some criterion")
    if args.pareto_plot:
        plot_front(points, str(args.pareto_plot), title=f"Pareto front ({args.planner}, {len(manifest.jobs)} jobs)")
    return 0 if points else 1


def _num(v: float, digits: int) -> str:
    """``digits`` decimals, or two significant digits where those would read 0 (as the UI's Pareto table)."""
    if v and abs(v) < 0.5 * 10**-digits:
        return f"{v:.1e}".replace("e-0", "e-")
    return f"{v:.{digits}f}"


def cmd_validate(args: argparse.Namespace) -> int:
    from airflow_ai_scheduler.planning.validate import validate

    manifest = load_manifest(_read(args.manifest))
    plan = load_plan(args.plan.read_text())
    violations = validate(manifest, plan, _offers(manifest, args.catalog))
    if not violations:
        print(f"valid: {len(plan.placements)} placements, objective {plan.objective.total:.4f}")
        return 0
    for v in violations:
        print(f"{v.job_id or '-'}\t{v.rule}\t{v.detail}")
    print(f"invalid: {len(violations)} violation(s)", file=sys.stderr)
    return 2


def cmd_schema(args: argparse.Namespace) -> int:
    model = Manifest if args.which == "manifest" else Plan
    print(json.dumps(model.model_json_schema(by_alias=True), indent=2))
    return 0


def format_plan(plan: Plan, manifest: Manifest, offers) -> str:
    """The plan as an aligned table with the objective and the all-on-demand reference."""
    from airflow_ai_scheduler.planning.reference import on_demand_reference

    rows = [("job", "where", "tier", "start", "end", "cost $", "rationale")]
    for p in sorted(plan.placements, key=lambda p: (p.start_time, p.job_id)):
        rows.append((p.job_id, f"{p.provider}:{p.region} {p.instance_type}", p.tier,
                     p.start_time.strftime("%m-%d %H:%M"), p.expected_end_time.strftime("%m-%d %H:%M"),
                     f"{p.estimated_cost:.4f}", p.rationale))
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:6], widths, strict=True)) + "  " + r[6] for r in rows]
    o = plan.objective
    lines.append("")
    lines.append(f"planner {plan.planner} ({plan.status}) in {plan.planning_seconds:.3f} s — "
                 f"Ω {o.total:.4f} = cost ${o.cost:.4f} + tardiness {o.tardiness:.3f} h + risk {o.risk:.3f}")
    extra = [f"emissions {o.co2e_kg:.4f} kg CO2e" + (f" (w_carbon {manifest.weights.carbon:g} $/kg)"
                                                      if manifest.weights.carbon else "")]
    if o.delay_cost:
        extra.append(f"delay cost ${o.delay_cost:.4f}")
    lines.append("; ".join(extra))
    if plan.commitments:
        from airflow_ai_scheduler.planning.commitments import format_commitment

        lines += [format_commitment(c) for c in plan.commitments]
    if plan.lower_bound is not None:
        lines.append(f"lower bound {plan.lower_bound:.4f}, gap {100 * (plan.gap or 0):.2f} %")
    ref = on_demand_reference(manifest, offers)
    if ref is not None and ref > 0:
        lines.append(f"all on-demand would cost ${ref:.4f}: this plan saves {100 * (ref - o.cost) / ref:.1f} %")
    for note in plan.notes:
        lines.append(f"note: {note}")
    for v in plan.violations:
        lines.append(f"VIOLATION {v.job_id or '-'} {v.rule}: {v.detail}")
    return "\n".join(lines)
