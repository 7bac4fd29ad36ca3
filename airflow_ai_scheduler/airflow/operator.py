"""``PlanPlacementOperator``: plan the current DAG run explicitly, at the head of the DAG.

Tasks cannot touch the metadata database in Airflow 3, so the plan travels by XCom: the operator pushes
the whole plan under the key :data:`PLAN_XCOM_KEY` and returns a short summary (the task's
``return_value``). Its ``executor_config`` carries a marker; when the executor sees that task finish it
loads the plan from XCom in its background thread, stores it as the run's plan, and routes the run's
later tasks by it. The task log shows the plan table.

The operator plans from the DAG's structure and hints (durations from the hints or the configured
default): history lives in the metadata database, which a task cannot read. Leave it out and the executor
plans each run itself, with history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from airflow.sdk import BaseOperator

PLAN_XCOM_KEY = "ai_scheduler_plan"
#: the LLM planner's audit record (scrubbed of secrets); the executor stores it with the plan
EXCHANGE_XCOM_KEY = "ai_scheduler_llm_exchange"
#: executor_config key marking the planning task (not a placement hint)
PLANNER_MARKER = "ai_scheduler_planner"


class PlanPlacementOperator(BaseOperator):
    """Plan this run's tasks onto the configured fleets; the executor routes the run by this plan.

    :param planner: ``greedy``, ``optimal`` (CP-SAT) or ``llm``.
    :param weights: objective weights ``{"cost": .., "tardiness": .., "risk": ..}``.
    :param allowed_providers: restrict every task to these providers.
    :param allowed_regions: restrict every task to these regions (``region`` or ``provider:region``).
    :param time_limit_seconds: CP-SAT time limit (also the LLM plan's repair limit).
    :param model: LLM model (``llm`` only), e.g. ``google:gemini-2.5-flash``; default from config.
    """

    template_fields: Sequence[str] = ("planner", "model")
    ui_color = "#d6eaf8"

    def __init__(self, *, planner: str = "optimal", weights: Mapping[str, float] | None = None,
                 allowed_providers: Sequence[str] | None = None, allowed_regions: Sequence[str] | None = None,
                 time_limit_seconds: float = 10.0, model: str | None = None, **kwargs: Any) -> None:
        executor_config = dict(kwargs.pop("executor_config", None) or {})
        executor_config[PLANNER_MARKER] = True
        super().__init__(executor_config=executor_config, **kwargs)
        self.planner = planner
        self.weights = dict(weights or {})
        self.allowed_providers = list(allowed_providers) if allowed_providers else None
        self.allowed_regions = list(allowed_regions) if allowed_regions else None
        self.time_limit_seconds = time_limit_seconds
        self.model = model

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow_ai_scheduler.airflow.manifest import RunInfo, TaskInfo, build_manifest
        from airflow_ai_scheduler.cli.plan import format_plan
        from airflow_ai_scheduler.models import Weights
        from airflow_ai_scheduler.planning.base import run_planner

        dag, dag_run = context["dag"], context["dag_run"]
        upstream_of_me = self.get_flat_relative_ids(upstream=True) | {self.task_id}
        tasks = [TaskInfo(task_id=t.task_id, priority_weight=getattr(t, "priority_weight", 1) or 1,
                          executor_config=t.executor_config,
                          upstream_task_ids=sorted(set(t.upstream_task_ids) - upstream_of_me))
                 for t in dag.tasks if t.task_id not in upstream_of_me]
        run_start = getattr(dag_run, "start_date", None) or datetime.now(timezone.utc)
        run = RunInfo(dag_id=dag.dag_id, run_id=dag_run.run_id, run_start=run_start, tasks=tasks)
        from airflow_ai_scheduler.settings import load_settings

        settings = load_settings()
        offers = settings.offers
        weights = Weights(**{**settings.weights.model_dump(by_alias=False), **self.weights})
        manifest = build_manifest(run, now=datetime.now(timezone.utc), offers=offers, weights=weights,
                                  default_duration_hours=settings.default_duration_hours,
                                  defaults=settings.manifest_defaults)
        if self.allowed_providers or self.allowed_regions:
            jobs = [j.model_copy(update={"allowed_providers": j.allowed_providers or self.allowed_providers,
                                         "allowed_regions": j.allowed_regions or self.allowed_regions})
                    for j in manifest.jobs]
            manifest = manifest.model_copy(update={"jobs": jobs})
        docs = {t.task_id: str(t.doc_md) for t in dag.tasks if getattr(t, "doc_md", None)}
        name, kwargs = settings.planner_call(planner=self.planner, time_limit_seconds=self.time_limit_seconds,
                                             model=self.model, job_docs=docs)
        result = run_planner(name, manifest, offers, **kwargs)
        plan = result.plan
        self.log.info("plan for %s/%s:\n%s", dag.dag_id, dag_run.run_id, format_plan(plan, manifest, offers))
        if result.exchange is not None:
            ex = result.exchange
            self.log.info("LLM exchange: model %s, outcome %s (%s), %.1f s, tokens in/out %s/%s, prompt %s",
                          ex.model, ex.outcome, ex.reason, ex.latency_seconds, ex.input_tokens, ex.output_tokens,
                          ex.prompt_hash[:12])
            context["ti"].xcom_push(key=EXCHANGE_XCOM_KEY, value=ex.model_dump(mode="json", by_alias=True))
        context["ti"].xcom_push(key=PLAN_XCOM_KEY, value=plan.model_dump(mode="json"))
        return summary(plan)


def summary(plan: Any) -> dict[str, Any]:
    tiers: dict[str, int] = {}
    for p in plan.placements:
        tiers[p.tier] = tiers.get(p.tier, 0) + 1
    return {"planner": plan.planner, "status": plan.status, "tasks": len(plan.placements), "tiers": tiers,
            "expected_cost_usd": round(plan.objective.cost, 6), "objective": round(plan.objective.total, 6),
            "valid": plan.is_valid, "planning_seconds": plan.planning_seconds}
