"""DAG run → job manifest: the task instances of one run, their hints, their history, the fleets' offers.

:func:`build_manifest` is pure (plain data in, :class:`Manifest` out) so it is tested without a database;
:func:`collect_run` reads that data for one DAG run in the scheduler process.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airflow_ai_scheduler.exceptions import InvalidHintError
from airflow_ai_scheduler.models import Job, Manifest, Offer, Weights

log = logging.getLogger(__name__)

#: states in which a task instance is already done with (it is left out of a new plan)
FINISHED_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
#: states in which it already runs somewhere (its placement is kept; dependents start after it)
ACTIVE_STATES = frozenset({"running", "deferred", "restarting"})


def job_id_for(task_id: str, map_index: int) -> str:
    return task_id if map_index is None or map_index < 0 else f"{task_id}[{map_index}]"


@dataclass
class TaskInfo:
    """What the manifest needs of one task instance."""

    task_id: str
    map_index: int = -1
    state: str | None = None
    priority_weight: int = 1
    executor_config: Mapping[str, Any] | None = None
    upstream_task_ids: Sequence[str] = ()
    doc: str | None = None


@dataclass
class RunInfo:
    dag_id: str
    run_id: str
    run_start: datetime
    tasks: list[TaskInfo]
    dag_deadline_at: datetime | None = None
    docs: dict[str, str] = field(default_factory=dict)
    #: each task's recent measured successful tries (history rows), set by the planning service
    usage: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: per-DAG (``params``) and per-run (``conf``) planning options: ``ai_scheduler_planner``,
    #: ``ai_scheduler_llm_model``; the run's conf wins over the DAG's params
    options: dict[str, Any] = field(default_factory=dict)
    #: task_id → Airflow ``owner`` (what dispatch policies and budgets share fleets by)
    owners: dict[str, str] = field(default_factory=dict)


def build_manifest(run: RunInfo, *, now: datetime, offers: Sequence[Offer],
                   estimates: Mapping[str, tuple[float, float, int]] | None = None,
                   default_duration_hours: float = 0.1, weights: Weights | None = None,
                   measured: Mapping[str, Any] | None = None, defaults: Mapping[str, Any] | None = None) -> Manifest:
    """The manifest of the run's unfinished task instances.

    Dependencies are the upstream tasks' instances in this run (every map index of a mapped upstream).
    Runtime μ/σ come from history (``estimates[task_id] = (mu_h, sigma_h, n)``), else the hint's
    ``duration``, else ``default_duration_hours``. Priority is the TI's ``priority_weight``. A task whose
    hint says ``rightsize=True`` is planned with its measured needs (``measured[task_id]``, a
    :class:`~airflow_ai_scheduler.usage.rightsize.MeasuredProfile`) when there are enough of them. A hint that
    fails to parse here (it passed at import) is logged and ignored: planning never stops a run.
    ``defaults``: manifest fields from ``[ai_scheduler]`` and the fleets (:mod:`.objective_options`), which the
    run's DAG params / conf may override.
    """
    from airflow_ai_scheduler.airflow.hints import parse_hint

    estimates = estimates or {}
    by_task: dict[str, list[TaskInfo]] = {}
    for t in run.tasks:
        by_task.setdefault(t.task_id, []).append(t)
    pending = [t for t in run.tasks if (t.state or "") not in FINISHED_STATES | ACTIVE_STATES]
    pending_ids = {job_id_for(t.task_id, t.map_index) for t in pending}
    downstream: set[str] = {u for t in run.tasks for u in t.upstream_task_ids}

    jobs = []
    for t in pending:
        try:
            hint = parse_hint(t.executor_config, dag_id=run.dag_id, task_id=t.task_id)
        except InvalidHintError as exc:
            log.warning("ignoring placement hint: %s", exc)
            hint = None
        fields: dict[str, Any] = hint.to_job_fields() if hint else {}
        if hint is not None and hint.rightsize and measured and t.task_id in measured:
            from airflow_ai_scheduler.models import Resources
            from airflow_ai_scheduler.usage.rightsize import planning_resources

            fields["resources"] = planning_resources(hint.resources or Resources(), measured[t.task_id])
        deadline = hint.deadline_at(run.run_start) if hint else None
        if deadline is None and run.dag_deadline_at is not None and t.task_id not in downstream:
            deadline = run.dag_deadline_at  # a DAG-level DeadlineAlert binds the run's final tasks
        mu, sigma, n = estimates.get(t.task_id, (0.0, 0.0, 0))
        duration = mu if n > 0 and mu > 0 else fields.pop("estimated_duration_hours", None) or default_duration_hours
        fields.pop("estimated_duration_hours", None)
        if n > 1:
            fields["duration_std_hours"] = sigma
        deps = [job_id_for(u.task_id, u.map_index) for up in t.upstream_task_ids for u in by_task.get(up, [])]
        fields.setdefault("priority", max(1, t.priority_weight))
        jobs.append(Job(job_id=job_id_for(t.task_id, t.map_index), estimated_duration_hours=max(duration, 1e-4),
                        dependencies=[d for d in deps if d in pending_ids], deadline=deadline, **fields))
    from airflow_ai_scheduler.airflow.objective_options import apply_run_options

    extra, weights = apply_run_options(defaults or {}, weights or Weights(), run.options, where=f"DAG {run.dag_id}: ")
    return Manifest(now=now, weights=weights, jobs=jobs, offers=list(offers), **extra)


def collect_run(dag_id: str, run_id: str, session: Any) -> RunInfo | None:
    """Read one DAG run's task instances and serialized DAG (scheduler process only)."""
    from airflow.models.dag_version import DagVersion  # noqa: F401  (mapper registry)
    from airflow.models.dagbag import DBDagBag
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import select

    dr = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
    if dr is None:
        return None
    dag = DBDagBag().get_dag_for_run(dag_run=dr, session=session)
    tis = session.scalars(select(TaskInstance).where(TaskInstance.dag_id == dag_id,
                                                     TaskInstance.run_id == run_id)).all()
    run_start = dr.start_date or dr.queued_at or dr.logical_date or dr.run_after
    tasks, docs, owners = [], {}, {}
    for ti in tis:
        task = dag.get_task(ti.task_id) if dag and dag.has_task(ti.task_id) else None
        tasks.append(TaskInfo(
            task_id=ti.task_id, map_index=ti.map_index, state=str(ti.state.value if hasattr(ti.state, "value") else ti.state) if ti.state else None,
            priority_weight=ti.priority_weight or 1, executor_config=ti.executor_config or (task.executor_config if task else None),
            upstream_task_ids=sorted(task.upstream_task_ids) if task else [],
        ))
        if task is not None and getattr(task, "owner", None):
            owners[ti.task_id] = str(task.owner)
        doc = getattr(task, "doc_md", None) or getattr(task, "doc", None) if task else None
        if doc:
            docs[ti.task_id] = str(doc)
    from airflow_ai_scheduler.airflow.hints import resolve_dag_deadline

    deadline = resolve_dag_deadline(dag, queued_at=dr.queued_at or run_start, logical_date=dr.logical_date,
                                    session=session) if dag else None
    return RunInfo(dag_id=dag_id, run_id=run_id, run_start=run_start, tasks=tasks, dag_deadline_at=deadline,
                   docs=docs, options=run_options(getattr(dag, "params", None), getattr(dr, "conf", None)),
                   owners=owners)


OPTION_KEYS = ("ai_scheduler_planner", "ai_scheduler_llm_model", "ai_scheduler_require_approval",
               "ai_scheduler_approval_timeout_minutes", "ai_scheduler_approval_on_timeout",
               # objective_options.RUN_OPTION_KEYS (kept literal: this module imports nothing heavy)
               "ai_scheduler_delay_cost_per_hour", "ai_scheduler_carbon_weight", "ai_scheduler_carbon_budget_kg")


def run_options(params: Any, conf: Any) -> dict[str, Any]:
    """The planning options a DAG's ``params`` and a run's ``conf`` set (conf wins); other keys ignored."""
    out: dict[str, Any] = {}
    for source in (params, conf):
        if not source:
            continue
        try:
            values = source.dump() if hasattr(source, "dump") else dict(source)
        except Exception:  # an unresolvable param must not stop planning
            continue
        out.update({k: values[k] for k in OPTION_KEYS if values.get(k) not in (None, "")})
    return out
