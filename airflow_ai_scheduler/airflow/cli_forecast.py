"""``airflow ai-scheduler forecast | budgets | budget-set | budget-delete`` (registered in :mod:`.cli`)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any


def _session_scope() -> Any:
    from airflow.utils.session import create_session

    return create_session()


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def _emit(data: Any, args: Any) -> bool:
    """JSON/YAML through the CLI's printer; False when the caller prints its own table."""
    from airflow_ai_scheduler.airflow.cli import _output, _print

    out = _output(args)
    if out in ("json", "yaml"):
        _print(data, out)
        return True
    return False


def fleet_facts() -> tuple[list[Any], list[Any]]:
    """(fleet specs, FleetFacts) of the configured fleets, priced from the configured catalog."""
    from airflow.configuration import conf

    from airflow_ai_scheduler.config import CONFIG_DEFAULTS, SECTION
    from airflow_ai_scheduler.fleets.base import fleet_offers, load_fleets
    from airflow_ai_scheduler.forecast.sizing import facts_from_specs

    specs = load_fleets(conf.get(SECTION, "fleets", fallback=CONFIG_DEFAULTS["fleets"]),
                        conf.get(SECTION, "fleets_file", fallback=CONFIG_DEFAULTS["fleets_file"]))
    path = conf.get(SECTION, "catalog_path", fallback="")
    catalog = None
    if path:
        from airflow_ai_scheduler.catalog import load_catalog

        catalog = load_catalog(path)
    offers = {o.offer_id: o for o in fleet_offers(specs, catalog)}
    return specs, facts_from_specs(specs, offers)


def forecast_report(*, hours: int = 24, by: str = "fleet", fleet: str | None = None, method: str = "auto",
                    level: int = 80, budget: float | None = None, now: datetime | None = None) -> dict[str, Any]:
    """The forecast, and for ``by=fleet`` the recommended slots per fleet — as one JSON-able dict."""
    from airflow_ai_scheduler.airflow.forecasting import build_forecast
    from airflow_ai_scheduler.exceptions import ForecastError
    from airflow_ai_scheduler.forecast.sizing import size_fleets
    from airflow_ai_scheduler.history.store import HistoryStore

    specs, facts = fleet_facts()
    if fleet and fleet not in {s.name for s in specs}:
        raise ForecastError(f"no fleet named {fleet!r}; configured: {', '.join(s.name for s in specs)}",
                            field="fleet")
    default = next((s.name for s in specs if s.tier == "on-demand"), specs[0].name)
    levels = tuple(sorted({level, 80, 95}))
    fc, hist, _sched = build_forecast(HistoryStore(_session_scope), _session_scope, hours=hours, by=by,
                                      levels=levels, method=method, now=now, default_fleet=default)
    frame = fc.frame if not fleet else fc.frame[fc.frame["unique_id"] == fleet]
    out: dict[str, Any] = {"method": fc.method, "metric": fc.metric, "by": by, "levels": list(fc.levels),
                           "history_hours": fc.history_hours, "notes": fc.notes,
                           "forecast": [{**r, "ds": r["ds"].isoformat() + "Z"} for r in frame.to_dict("records")],
                           "history": [{**r, "ds": r["ds"].isoformat() + "Z"}
                                       for r in hist[["unique_id", "ds", fc.metric]].to_dict("records")
                                       if not fleet or r["unique_id"] == fleet]}
    if by == "fleet":
        plan = size_fleets(frame, [f for f in facts if not fleet or f.name == fleet], level=level,
                           max_cost_usd=budget)
        out["sizing"] = [{"fleet": fs.fleet.name, "backend": fs.fleet.backend, "configured_slots": fs.fleet.slots,
                          "recommended_now": fs.slots_for(1), "peak": max((h.slots for h in fs.hours), default=0),
                          "cost_usd": round(fs.cost, 6), "action": fs.action(),
                          "hours": [{"ds": h.ds.isoformat() + "Z", "slots": h.slots, "mean": h.mean, "upper": h.upper}
                                    for h in fs.hours]} for fs in plan.fleets]
        out["sizing_cost_usd"] = round(plan.cost, 6)
        out["notes"] = [*out["notes"], *plan.notes]
    return out


def forecast_command(args: Any) -> None:
    from airflow_ai_scheduler.exceptions import ForecastError

    try:
        rep = forecast_report(hours=args.hours, by=args.by, fleet=args.fleet, method=args.method, level=args.level,
                              budget=args.budget)
    except ImportError as exc:
        from airflow_ai_scheduler.forecast import missing_extra_message

        raise SystemExit(f"{missing_extra_message()} ({exc})") from None
    except ForecastError as exc:
        raise SystemExit(str(exc)) from None
    if not _emit(rep, args):
        print(format_forecast(rep))


def format_forecast(rep: dict[str, Any]) -> str:
    lv = max(rep["levels"])
    lines = [f"demand forecast ({rep['metric']} per hour, by {rep['by']}), method {rep['method']}, "
             f"{rep['history_hours']} h of history"]
    lines += [f"  note: {n}" for n in rep["notes"]]
    rows = [("hour (UTC)", "group", "mean", f"{min(rep['levels'])} %", f"{lv} %")]
    lo = min(rep["levels"])
    for r in rep["forecast"]:
        rows.append((r["ds"][:16].replace("T", " "), str(r["unique_id"]), f"{r['mean']:.2f}",
                     f"{r[f'lo-{lo}']:.2f}-{r[f'hi-{lo}']:.2f}", f"{r[f'lo-{lv}']:.2f}-{r[f'hi-{lv}']:.2f}"))
    lines += ["", _table(rows)]
    if "sizing" in rep:
        rows = [("fleet", "backend", "slots now", "recommended now", "peak", "cost $", "apply")]
        for s in rep["sizing"]:
            rows.append((s["fleet"], s["backend"], str(s["configured_slots"]), str(s["recommended_now"]),
                         str(s["peak"]), f"{s['cost_usd']:.4f}", s["action"]))
        lines += ["", _table(rows), f"recommended fleets cost ${rep['sizing_cost_usd']:.4f} over the horizon"]
    return "\n".join(lines)


def _budgets() -> Any:
    from airflow_ai_scheduler.airflow.budgets import BudgetService

    return BudgetService(_session_scope)


def budgets_command(args: Any) -> None:
    rows = _budgets().status(datetime.now(timezone.utc))
    if _emit(rows, args):
        return
    if not rows:
        print("no budgets (set one: airflow ai-scheduler budget-set owner alice day 5)")
        return
    table = [("scope", "subject", "period", "amount $", "policy", "spent $", "left $", "note")]
    for r in rows:
        spent = "-" if r["spent_usd"] is None else f"{r['spent_usd']:.4f}"
        left = "-" if r["remaining_usd"] is None else f"{r['remaining_usd']:.4f}"
        table.append((r["scope"], r["subject"], r["period"], f"{r['amount_usd']:.4f}", r["policy"], spent, left,
                      r["note"] or ""))
    print(_table(table))


def budget_set_command(args: Any) -> None:
    from pydantic import ValidationError

    from airflow_ai_scheduler.budgets import Budget

    try:
        b = Budget(scope=args.scope, subject=args.subject, period=args.period, amount_usd=args.amount_usd,
                   policy=args.policy, note=args.note)
    except ValidationError as exc:
        raise SystemExit("invalid budget: " + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                                         for e in exc.errors(include_url=False))) from None
    saved = _budgets().store.set(b, updated_by="cli")
    if not _emit(saved.model_dump(), args):
        print(f"set {saved.label()} ({saved.policy})")


def budget_delete_command(args: Any) -> None:
    if not _budgets().store.delete(args.scope, args.subject, args.period):
        raise SystemExit(f"no {args.period} budget for {args.scope} {args.subject!r}")
    print(f"deleted the {args.period} budget of {args.scope} {args.subject!r}")
