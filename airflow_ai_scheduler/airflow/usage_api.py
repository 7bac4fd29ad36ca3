"""Right-sizing, suitability ranking and anomalies of a DAG's tasks, for the CLI and the UI.

Each function reads the history store and the DAG's latest serialized version (so run where the metadata
database is reachable: CLI, api-server, scheduler) and returns a JSON-able pydantic model:
:class:`~airflow_ai_scheduler.usage.rightsize.RightsizeReport`,
:class:`~airflow_ai_scheduler.planning.suitability.Suitability` and :class:`Anomaly`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, Field

from airflow_ai_scheduler.exceptions import AiSchedulerError
from airflow_ai_scheduler.models import Job, Offer, Resources


class Anomaly(BaseModel):
    """A try flagged as an outlier against its task's history."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int
    try_number: int
    flags: list[str] = Field(description="e.g. runtime_high, memory_high")
    detail: str = Field(description="the value, the median it was judged against, the robust z")
    runtime_seconds: float | None = None
    peak_memory_mib: float | None = None
    recorded_at: datetime | None = None


def _store() -> Any:
    from airflow.utils.session import create_session

    from airflow_ai_scheduler.history.store import HistoryStore

    return HistoryStore(create_session)


def dag_tasks(dag_id: str) -> dict[str, tuple[Resources | None, Job | None, Any]]:
    """task_id → (its resources hint, a Job carrying its hint's fields, the hint) of the DAG's latest
    serialized version; {} when the DAG is not in the database."""
    from airflow.models.serialized_dag import SerializedDagModel

    from airflow_ai_scheduler.airflow.hints import parse_hint
    from airflow_ai_scheduler.exceptions import InvalidHintError

    dag = SerializedDagModel.get_dag(dag_id)
    out: dict[str, tuple[Resources | None, Job | None, Any]] = {}
    for task in (dag.tasks if dag is not None else []):
        try:
            hint = parse_hint(task.executor_config, dag_id=dag_id, task_id=task.task_id)
        except InvalidHintError:
            hint = None
        fields = hint.to_job_fields() if hint else {}
        fields.pop("estimated_duration_hours", None)
        fields.pop("duration_std_hours", None)
        out[task.task_id] = (hint.resources if hint else None,
                             Job(job_id=task.task_id, estimated_duration_hours=1.0, **fields), hint)
    return out


def _catalog_offers(locations: Sequence[str]) -> list[Offer]:
    from airflow.configuration import conf

    from airflow_ai_scheduler.catalog import catalog_from
    from airflow_ai_scheduler.config import CONFIG_DEFAULTS, SECTION

    catalog = catalog_from(conf.get(SECTION, "catalog_path", fallback=CONFIG_DEFAULTS["catalog_path"]) or None)
    return catalog.offers(regions=list(locations) or None)


def fleet_offers() -> list[Offer]:
    from airflow.configuration import conf

    from airflow_ai_scheduler.config import CONFIG_DEFAULTS, SECTION
    from airflow_ai_scheduler.fleets.base import fleet_offers as offers_of
    from airflow_ai_scheduler.fleets.base import load_fleets

    return offers_of(load_fleets(conf.get(SECTION, "fleets", fallback=CONFIG_DEFAULTS["fleets"]),
                                 conf.get(SECTION, "fleets_file", fallback=CONFIG_DEFAULTS["fleets_file"])))


def rightsize_report(dag_id: str, *, store: Any = None, offers: Sequence[Offer] | None = None,
                     tasks: dict[str, tuple[Resources | None, Job | None, Any]] | None = None,
                     now: datetime | None = None, lookback: int = 20) -> Any:
    """Every task's right-sizing. Prices: ``offers``, default the catalog in the locations the DAG's tasks
    ran in (where the planner would look for a smaller offer)."""
    from airflow_ai_scheduler.history.usage_queries import task_tries
    from airflow_ai_scheduler.usage.rightsize import rightsize_dag

    store = store or _store()
    now = now or datetime.now(timezone.utc)
    tasks = dag_tasks(dag_id) if tasks is None else tasks
    rows = task_tries(store, dag_id, None, lookback=lookback)
    if offers is None:
        locations = sorted({f"{r['provider']}:{r['region']}" for rs in rows.values() for r in rs if r.get("provider")})
        offers = _catalog_offers(locations)
    wanted = {t: (req, tmpl) for t, (req, tmpl, _h) in tasks.items()} or {t: (None, None) for t in rows}
    return rightsize_dag(dag_id, wanted, rows, offers, now=now)


def rank_task(dag_id: str, task_id: str, *, store: Any = None, offers: Sequence[Offer] | None = None,
              now: datetime | None = None, top: int | None = 10, lookback: int = 20,
              default_duration_hours: float = 0.1) -> Any:
    """The suitability ranking of ``offers`` (default: the configured fleets) for a task of the DAG started
    now: its hint (deadline counted from now), runtimes and usage from history."""
    from airflow_ai_scheduler.history.usage_queries import task_tries
    from airflow_ai_scheduler.planning.suitability import TaskEvidence, rank_offers

    store = store or _store()
    now = now or datetime.now(timezone.utc)
    tasks = dag_tasks(dag_id)
    rows = task_tries(store, dag_id, [task_id], lookback=lookback).get(task_id, [])
    if task_id not in tasks and not rows:
        raise AiSchedulerError(f"DAG {dag_id!r} has no task {task_id!r} (and no history of one)")
    _req, tmpl, hint = tasks.get(task_id, (None, None, None))
    job = tmpl or Job(job_id=task_id, estimated_duration_hours=1.0)
    ev = TaskEvidence.from_rows(rows)
    hours = (hint.duration_seconds / 3600 if hint and hint.duration_seconds else None) or default_duration_hours
    if ev.runtimes_hours:
        hours = sum(ev.runtimes_hours) / len(ev.runtimes_hours)
    deadline = hint.deadline_at(now) if hint else None
    job = job.model_copy(update={"estimated_duration_hours": max(hours, 1e-4), "deadline": deadline})
    return rank_offers(job, list(offers if offers is not None else fleet_offers()), ev, now=now, top=top)


def recent_anomalies(dag_id: str | None = None, *, store: Any = None, limit: int = 100) -> list[Anomaly]:
    from airflow_ai_scheduler.history.usage_queries import anomalies

    return [Anomaly(dag_id=r["dag_id"], task_id=r["task_id"], run_id=r["run_id"], map_index=r["map_index"],
                    try_number=r["try_number"], flags=str(r["anomaly"]).split(","), detail=r["anomaly_detail"] or "",
                    runtime_seconds=r["runtime_seconds"], peak_memory_mib=r["peak_memory_mib"],
                    recorded_at=r["recorded_at"])
            for r in anomalies(store or _store(), dag_id, limit)]


# -- text output --------------------------------------------------------------------------------------

def format_rightsize(rep: Any) -> str:
    from airflow_ai_scheduler.airflow.cli import _table

    def res(r: Resources) -> str:
        return f"{r.vcpus:g} vCPU {r.memory_gib:g} GiB" + (f" {r.gpus} GPU" if r.gpus else "")

    rows = [("task", "verdict", "requested", "recommended", "cores p95", "mem p95 GiB", "tries", "$/run saved",
             "$/30 d saved")]
    for t in rep.tasks:
        m = t.measured
        rows.append((t.task_id, t.verdict, res(t.requested) + ("" if t.hinted else " (default)"), res(t.recommended),
                     "-" if m.cpu_cores_p95 is None else f"{m.cpu_cores_p95:.2f}",
                     "-" if m.memory_gib_p95 is None else f"{m.memory_gib_p95:.2f}", str(m.tries),
                     "-" if t.saving_per_run_usd is None else f"{t.saving_per_run_usd:.6f}",
                     "-" if t.saving_per_30_days_usd is None else f"{t.saving_per_30_days_usd:.4f}"))
    lines = [f"DAG {rep.dag_id}: right-sizing from measured tries", "", _table(rows), ""]
    for t in rep.tasks:
        if t.requested_offer:
            lines.append(f"  {t.task_id}: cheapest fit {t.requested_offer} (${t.price_per_hour_requested:g}/h) → "
                         f"{t.recommended_offer} (${t.price_per_hour_recommended:g}/h), {t.tier}")
        for reason in t.reasons:
            lines.append(f"  {t.task_id}: {reason}")
    lines.append(f"total saving over the last 30 days' runs: ${rep.total_saving_per_30_days_usd:.4f}")
    return "\n".join(lines)


def format_ranking(s: Any) -> str:
    from airflow_ai_scheduler.airflow.cli import _table

    rows = [("#", "offer", "tier", "where", "$/h", "score", "p50 s", "p95 s", "P(miss)", "P(int)", "P(OOM)",
             "cpu/mem headroom", "E[$]")]
    for o in s.offers:
        rows.append((str(o.rank), o.offer_id, o.tier, f"{o.provider}:{o.region} {o.instance_type}",
                     f"{o.price_per_hour:.4f}", f"{o.score:.3f}", f"{o.runtime_hours.p50 * 3600:.1f}",
                     f"{o.runtime_hours.p95 * 3600:.1f}", f"{o.p_miss:.1%}", f"{o.p_interruption:.1%}",
                     f"{o.p_oom:.1%}", f"{o.cpu_headroom:.0%}/{o.memory_headroom:.0%}", f"{o.expected_cost_usd:.6f}"))
    p = s.profile
    head = (f"task {s.job_id}: runtime from {s.evidence} (n={s.samples}); needs {p.cpu_cores:.2f} cores, "
            f"{p.memory_gib:.2f} GiB ({p.source})" + ("" if s.deadline_hours is None else
                                                      f"; deadline in {s.deadline_hours * 3600:.0f} s"))
    tail = [f"  not fit: {k}: {v}" for k, v in list(s.excluded.items())[:5]]
    return "\n".join([head, "", _table(rows), *tail])


# -- commands (``airflow ai-scheduler rightsize|rank|anomalies``) -------------------------------------

def _structured(args: Any) -> str | None:
    """"json"/"yaml" when asked for (``-o``/``--json``), else None (the text tables)."""
    from airflow_ai_scheduler.airflow.cli import _output

    out = _output(args)
    return out if out in ("json", "yaml") else None


def rightsize_command(args: Any) -> None:
    from airflow_ai_scheduler.airflow.cli import _print
    from airflow_ai_scheduler.history.usage_queries import measured_dag_ids

    store = _store()
    dag_ids = [args.dag_id] if args.dag_id else measured_dag_ids(store)
    reports = [rightsize_report(d, store=store) for d in dag_ids]
    if fmt := _structured(args):
        _print([r.model_dump(mode="json") for r in reports], fmt)
        return
    print("\n\n".join(format_rightsize(r) for r in reports) if reports else "no measured tries yet")


def rank_command(args: Any) -> None:
    from airflow_ai_scheduler.airflow.cli import _print

    offers = None
    if args.offers == "catalog":
        from airflow_ai_scheduler.catalog import bundled_catalog

        offers = bundled_catalog().offers()
    if args.top is not None and args.top < 1:
        raise SystemExit(f"--top must be at least 1, got {args.top}")
    try:
        s = rank_task(args.dag_id, args.task_id, offers=offers, top=args.top)
    except AiSchedulerError as exc:
        raise SystemExit(str(exc)) from None
    if fmt := _structured(args):
        _print(s.model_dump(mode="json"), fmt)
        return
    print(format_ranking(s))


def anomalies_command(args: Any) -> None:
    from airflow_ai_scheduler.airflow.cli import _print

    found = recent_anomalies(args.dag_id, limit=args.limit)
    if fmt := _structured(args):
        _print([a.model_dump(mode="json") for a in found], fmt)
        return
    if not found:
        print("no anomalies recorded")
    for a in found:
        print(f"{a.dag_id} / {a.run_id} / {a.task_id}"
              f"{'' if a.map_index < 0 else f'[{a.map_index}]'} try {a.try_number}: {', '.join(a.flags)} — {a.detail}")
