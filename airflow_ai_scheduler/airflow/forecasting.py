"""Airflow glue of the demand forecast: DAG facts (owners, tags, team, timetable, task hints), the next
scheduled runs from the timetables, history from our table — handed to the pure :mod:`~..forecast` code.

Runs where the metadata database is reachable (CLI, api-server, scheduler's background thread), never in
a task.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

log = logging.getLogger(__name__)

#: history the forecast reads (four weeks: enough for a weekly season, cheap to read)
LOOKBACK_DAYS = 28


@dataclass
class DagFacts:
    dag_id: str
    owners: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    team: str | None = None
    paused: bool = False
    timetable: Any = None
    tasks: list[Any] = field(default_factory=list)  # TaskSpec from hints (forecast.schedule)
    hint_budgets: dict[str, float] = field(default_factory=dict)  # task_id → placement(budget_usd)


def next_run_times(timetable: Any, start: datetime, end: datetime, limit: int = 10_000) -> list[datetime]:
    """The runs ``timetable`` schedules in [start, end) (aware UTC), through Airflow's own timetable API."""
    import pendulum
    from airflow.timetables.base import TimeRestriction

    if timetable is None or not getattr(timetable, "can_be_scheduled", True):
        return []
    restriction = TimeRestriction(earliest=pendulum.instance(start.astimezone(timezone.utc)), latest=None,
                                  catchup=True)
    out: list[datetime] = []
    last = None
    while len(out) < limit:
        try:
            info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
        except Exception as exc:  # a custom timetable that cannot answer: no scheduled runs from it
            log.warning("timetable %s cannot list its runs: %s", type(timetable).__name__, exc)
            return out
        if info is None:
            return out
        at = datetime.fromtimestamp(info.run_after.timestamp(), tz=timezone.utc)
        if at >= end:
            return out
        if at >= start:
            out.append(at)
        if info.data_interval == last:
            return out
        last = info.data_interval
    return out


def dag_facts(session: Any, dag_ids: Sequence[str] | None = None, with_tasks: bool = True) -> dict[str, DagFacts]:
    """Owners, tags, team, timetable and hinted tasks of the DAGs (all active DAGs by default)."""
    from airflow.models.dag import DagModel, DagTag
    from airflow.models.dagbag import DBDagBag
    from sqlalchemy import select

    q = select(DagModel.dag_id, DagModel.owners, DagModel.is_paused).where(DagModel.is_stale.is_(False))
    if dag_ids is not None:
        q = q.where(DagModel.dag_id.in_(list(dag_ids)))
    facts = {r[0]: DagFacts(dag_id=r[0], paused=bool(r[2]),
                            owners=tuple(o.strip() for o in (r[1] or "").split(",") if o.strip()))
             for r in session.execute(q)}
    for dag_id, tag in session.execute(select(DagTag.dag_id, DagTag.name).where(DagTag.dag_id.in_(list(facts)))):
        facts[dag_id].tags += (tag,)
    try:
        teams = DagModel.get_dag_id_to_team_name_mapping(list(facts), session=session)
    except Exception:  # multi-team mode off, or no team tables
        teams = {}
    for dag_id, team in teams.items():
        if dag_id in facts:
            facts[dag_id].team = team
    if with_tasks:
        bag = DBDagBag()
        for f in facts.values():
            try:
                dag = bag.get_latest_version_of_dag(f.dag_id, session=session)
            except Exception as exc:
                log.warning("cannot read the serialized DAG %s: %s", f.dag_id, exc)
                continue
            if dag is not None:
                f.timetable = dag.timetable
                f.tasks, f.hint_budgets = _task_specs(dag)
    return facts


def _task_specs(dag: Any) -> tuple[list[Any], dict[str, float]]:
    from airflow_ai_scheduler.airflow.hints import parse_hint
    from airflow_ai_scheduler.exceptions import InvalidHintError
    from airflow_ai_scheduler.forecast.schedule import TaskSpec

    specs, budgets = [], {}
    for t in dag.tasks:
        try:
            hint = parse_hint(getattr(t, "executor_config", None), dag_id=dag.dag_id, task_id=t.task_id)
        except InvalidHintError:
            hint = None
        res = hint.resources if hint and hint.resources else None
        specs.append(TaskSpec(task_id=t.task_id, upstream=tuple(sorted(t.upstream_task_ids)),
                              duration_hours=(hint.duration_seconds / 3600 if hint and hint.duration_seconds else 0.1),
                              vcpus=res.vcpus if res else 1.0, gpus=res.gpus if res else 0))
        if hint and hint.budget_usd is not None:
            budgets[t.task_id] = hint.budget_usd
    return specs, budgets


def resource_lookup(facts: dict[str, DagFacts]) -> Callable[[str, str], tuple[float, int]]:
    by = {(f.dag_id, t.task_id): (t.vcpus, t.gpus) for f in facts.values() for t in f.tasks}
    return lambda dag_id, task_id: by.get((dag_id, task_id), (1.0, 0))


def build_forecast(store: Any, session_scope: Callable[[], Any], *, hours: int = 24, by: str = "fleet",
                   metric: str = "task_hours", levels: Sequence[int] = (80, 95), method: str = "auto",
                   now: datetime | None = None, dag_ids: Sequence[str] | None = None,
                   default_fleet: str | None = None, facts: dict[str, DagFacts] | None = None
                   ) -> tuple[Any, Any, Any]:
    """(the forecast, the history frame it was made from, the scheduled frame) for the next ``hours``.

    History: the last :data:`LOOKBACK_DAYS` days of tries. Scheduled runs: each unpaused DAG's timetable
    over the history and the horizon. DAGs with no history are profiled from their hints (noted).
    """
    from airflow_ai_scheduler.forecast.demand import hourly_demand
    from airflow_ai_scheduler.forecast.model import forecast_demand
    from airflow_ai_scheduler.forecast.schedule import learn_profiles, profile_from_tasks, scheduled_demand

    now = (now or datetime.now(timezone.utc)).replace(minute=0, second=0, microsecond=0)
    since = now - timedelta(days=LOOKBACK_DAYS)
    rows = store.tries_between(since, now, dag_ids=dag_ids)
    if facts is None:
        with session_scope() as session:
            facts = dag_facts(session, dag_ids)
    owners = {d: ",".join(f.owners) or "unknown" for d, f in facts.items()}
    resources = resource_lookup(facts)
    first = min((r["actual_start"] for r in rows if r.get("actual_start")), default=now)
    start = max(since, first.replace(minute=0, second=0, microsecond=0))
    hist = hourly_demand(rows, by=by, owners=owners, resources=resources, start=start, end=now)
    profiles = learn_profiles(rows, resources=resources)
    notes = []
    for f in facts.values():
        if f.dag_id not in profiles and f.tasks and f.timetable is not None and not f.paused:
            tasks = [t if t.fleet else _with_fleet(t, default_fleet) for t in f.tasks]
            profiles[f.dag_id] = profile_from_tasks(f.dag_id, tasks)
            notes += list(profiles[f.dag_id].notes)
    until = now + timedelta(hours=hours)
    runs = {f.dag_id: next_run_times(f.timetable, start, until) for f in facts.values() if not f.paused}
    sched = scheduled_demand(runs, profiles, by=by, owners=owners, start=start, end=until)
    fc = forecast_demand(hist, hours, scheduled=sched if not sched.empty else None, metric=metric, levels=levels,
                         method=method)
    fc.notes += notes
    return fc, hist, sched


def _with_fleet(task: Any, fleet: str | None) -> Any:
    from dataclasses import replace

    return replace(task, fleet=fleet)
