"""The ``ecs`` backend: a fleet is an ECS capacity provider strategy — ``FARGATE_SPOT`` for a spot fleet,
``FARGATE`` for an on-demand one, or your EC2 capacity providers — on one cluster and task definition::

    {"name": "ecs-spot", "provider": "aws", "region": "us-east-1", "instance_type": "m6i.xlarge",
     "tier": "spot", "slots": 20, "backend": "ecs",
     "options": {"cluster": "airflow", "task_definition": "airflow-worker", "container_name": "worker",
                 "subnets": ["subnet-0abc"], "security_groups": ["sg-0abc"]}}

Built on the amazon provider's parts rather than a copy of them: the run_task kwargs come from its
``build_task_kwargs`` (the same keys as ``[aws_ecs_executor]``, which also supplies defaults for what the
fleet does not set), the client from ``EcsHook`` (credentials from the Airflow connection ``aws_conn_id``),
task states from its ``BotoTaskSchema``/``EcsExecutorTask.get_task_state``. Not its executor: AwsEcsExecutor
re-runs a stopped task itself (``max_run_task_attempts``), which would turn a spot reclaim into a silent
re-run outside the preemption budget, and it reads one cluster from one config section (docs/fleets-cloud.md).

A task stopped with ``stopCode: SpotInterruption`` (or ``TerminationNotice``, its host going away) is
reported PREEMPTED on a spot fleet. Every task carries the attribution tags ``ai-scheduler:dag``, ``:task``,
``:run``, ``:try``, ``:map-index``, ``:fleet`` and ``:tier``.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from airflow_ai_scheduler.exceptions import ConfigError
from airflow_ai_scheduler.fleets.base import FleetContext, FleetSpec
from airflow_ai_scheduler.fleets.base import FleetStatus as S
from airflow_ai_scheduler.fleets.remote import (
    Launched,
    RemoteFleet,
    Verdict,
    aws_tags,
    parse_options,
    short_id,
    task_resources,
    workload_command,
)

#: the capacity provider strategy of ``capacity: spot|on-demand`` when the fleet gives none
FARGATE_STRATEGY = {"spot": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
                    "on-demand": [{"capacityProvider": "FARGATE", "weight": 1}]}
#: stop codes of a task whose capacity was taken away (not the task's own failure)
LOST_STOP_CODES = {"SpotInterruption", "TerminationNotice"}
#: run_task parameters the fleet controls; an executor_config may set the others (as with AwsEcsExecutor)
_OWN = {"cluster", "taskDefinition", "capacityProviderStrategy", "launchType", "count", "startedBy"}


class EcsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cluster: str | None = Field(None, description="default: [aws_ecs_executor] cluster")
    task_definition: str | None = Field(None, description="default: [aws_ecs_executor] task_definition")
    container_name: str | None = Field(None, description="the container that runs Airflow tasks")
    capacity: Literal["spot", "on-demand"] | None = Field(None, description="FARGATE_SPOT or FARGATE; default: tier")
    capacity_provider_strategy: list[dict[str, Any]] | None = Field(
        None, min_length=1, description="e.g. EC2 capacity providers; overrides capacity")
    subnets: list[str] | None = None
    security_groups: list[str] | None = None
    assign_public_ip: bool | None = None
    platform_version: str | None = None
    run_task_kwargs: dict[str, Any] = Field(default_factory=dict, description="merged into every RunTask call")
    aws_conn_id: str | None = Field(None, description="Airflow connection; default [aws_ecs_executor] conn_id")
    region_name: str | None = Field(None, description="default: the fleet's region")
    size_from_hint: bool = Field(True, description="task-level cpu/memory from the task's resources hint")
    tags: dict[str, str] = Field(default_factory=dict, description="extra tags on every task")
    poll_interval_seconds: float = Field(5.0, gt=0, le=300)
    no_capacity_backoff_seconds: float = Field(60.0, ge=0, description="after a launch finds no spot "
                                               "capacity, the fleet offers none for this long")


def ecs_options(spec: FleetSpec) -> EcsOptions:
    return parse_options(spec, EcsOptions, "ecs")


class _FleetConf:
    """What ``build_task_kwargs`` reads (``conf.get("aws_ecs_executor", key)``): the fleet's options first,
    then the deployment's ``[aws_ecs_executor]`` section, then the provider's defaults."""

    def __init__(self, values: dict[str, Any], airflow_conf: Any = None) -> None:
        self.values = values
        self.conf = airflow_conf

    def get(self, section: str, key: str, fallback: Any = None, **_: Any) -> Any:
        if key in self.values:
            return self.values[key]
        if self.conf is not None and key not in ("launch_type", "capacity_provider_strategy"):
            value = self.conf.get(section, key, fallback=None)
            if value not in (None, ""):
                return value
        return fallback


def run_task_template(spec: FleetSpec, opts: EcsOptions, airflow_conf: Any = None) -> dict[str, Any]:
    """The fleet's RunTask kwargs before the per-task parts (command, environment, size, tags)."""
    from airflow.providers.amazon.aws.executors.ecs.ecs_executor_config import build_task_kwargs

    values: dict[str, Any] = {
        "capacity_provider_strategy": opts.capacity_provider_strategy or FARGATE_STRATEGY[opts.capacity or spec.tier],
        "cluster": opts.cluster, "task_definition": opts.task_definition, "container_name": opts.container_name,
        "subnets": ",".join(opts.subnets) if opts.subnets else None,
        "security_groups": ",".join(opts.security_groups) if opts.security_groups else None,
        "assign_public_ip": None if opts.assign_public_ip is None else str(opts.assign_public_ip),
        "platform_version": opts.platform_version,
        "run_task_kwargs": json.dumps(opts.run_task_kwargs) if opts.run_task_kwargs else None,
    }
    values = {k: v for k, v in values.items() if v is not None}
    for needed in ("cluster", "task_definition", "container_name"):
        if needed not in values and not (airflow_conf and airflow_conf.get("aws_ecs_executor", needed, fallback=None)):
            raise ConfigError(f"[ai_scheduler] fleet {spec.name!r} (backend ecs): options.{needed} is required "
                              "(or set it in [aws_ecs_executor])")
    try:
        kwargs = build_task_kwargs(_FleetConf(values, airflow_conf))
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"[ai_scheduler] fleet {spec.name!r} (backend ecs): {exc}") from None
    if "capacityProviderStrategy" in kwargs:
        kwargs.pop("launchType", None)  # ECS refuses both together
    return kwargs


def ecs_verdict(task: dict[str, Any], tier: str) -> Verdict:
    """What a DescribeTasks task means for the fleet (the provider's state mapping, plus spot reclaims)."""
    from airflow.providers.amazon.aws.executors.ecs.boto_schema import BotoTaskSchema
    from airflow.utils.state import State

    stopped = task.get("lastStatus") == "STOPPED" or task.get("desiredStatus") == "STOPPED"
    code, reason = task.get("stopCode"), task.get("stoppedReason") or ""
    if stopped and code in LOST_STOP_CODES:
        why = f"ECS task stopped: {code} ({reason})"
        return Verdict(S.PREEMPTED if tier == "spot" else S.FAILED, why)
    state = BotoTaskSchema().load(task).get_task_state()
    if state == State.RUNNING:
        return Verdict(S.RUNNING)
    if state == State.SUCCESS:
        return Verdict(S.SUCCESS)
    if state in (State.FAILED, State.REMOVED):
        containers = "; ".join(f"{c.get('name')}: exit {c.get('exitCode')} {c.get('reason', '')}".strip()
                               for c in task.get("containers", []))
        return Verdict(S.FAILED, f"ECS task stopped: {code or '?'} ({reason}); {containers}")
    return Verdict(None)


class NoCapacity(Exception):
    """RunTask answered with failures and no task."""


class EcsFleet(RemoteFleet):
    backend_name = "ecs"

    @classmethod
    def validate_options(cls, spec: FleetSpec) -> None:
        ecs_options(spec)

    def __init__(self, spec: FleetSpec, context: FleetContext | None = None) -> None:
        super().__init__(spec, context)
        self.options = ecs_options(spec)
        self.poll_interval = self.options.poll_interval_seconds
        self.client: Any = None
        self.template: dict[str, Any] = {}
        self._no_capacity_until = 0.0

    def _connect(self, airflow_conf: Any = None) -> None:
        from airflow.providers.amazon.aws.hooks.ecs import EcsHook

        if airflow_conf is None:
            from airflow.configuration import conf as airflow_conf
        self.template = run_task_template(self.spec, self.options, airflow_conf)
        conn_id = self.options.aws_conn_id or airflow_conf.get("aws_ecs_executor", "conn_id", fallback="aws_default")
        region = self.options.region_name or airflow_conf.get("aws_ecs_executor", "region_name", fallback=None) \
            or (self.spec.region if self.spec.provider == "aws" else None)
        self.client = EcsHook(aws_conn_id=conn_id, region_name=region).conn

    def spot_available(self) -> bool:
        return self.spec.tier != "spot" or time.monotonic() >= self._no_capacity_until

    def free_slots(self) -> int:
        return super().free_slots() if self.spot_available() else 0

    def run_task_kwargs(self, item: Launched) -> dict[str, Any]:
        """The exact RunTask request for a workload."""
        from airflow.utils.helpers import merge_dicts

        workload = item.workload
        extra = {k: v for k, v in (getattr(workload.ti, "executor_config", None) or {}).items()
                 if k in self._run_task_members() and k not in _OWN}
        kwargs = merge_dicts(json.loads(json.dumps(self.template)), extra)
        container = next(c for c in kwargs["overrides"]["containerOverrides"]
                         if c.get("name") == self.template["overrides"]["containerOverrides"][0]["name"])
        container["command"] = workload_command(workload)
        env = {e["name"]: e["value"] for e in container.get("environment", [])}
        env.update({**self.spec.environment(), "AIRFLOW_IS_EXECUTOR_CONTAINER": "true"})
        container["environment"] = [{"name": k, "value": v} for k, v in env.items()]
        res = task_resources(workload) if self.options.size_from_hint else None
        if res is not None:
            kwargs["overrides"]["cpu"] = str(int(res.vcpus * 1024))
            kwargs["overrides"]["memory"] = str(int(res.memory_gib * 1024))
        tags = {**self.options.tags, **aws_tags(workload, self.spec)}
        kwargs["tags"] = [*kwargs.get("tags", []), *({"key": k, "value": v} for k, v in tags.items())]
        kwargs["enableECSManagedTags"] = True
        kwargs["startedBy"] = short_id(item.external_id)  # 36 characters: what adoption looks up
        return kwargs

    def _run_task_members(self) -> set[str]:
        return set(self.client.meta.service_model.operation_model("RunTask").input_shape.members)

    def _launch(self, item: Launched) -> str:
        response = self.client.run_task(**self.run_task_kwargs(item))
        if not response.get("tasks"):
            raise NoCapacity("; ".join(f.get("reason", "?") for f in response.get("failures", [])) or "no task")
        return str(response["tasks"][0]["taskArn"])

    def _launch_failed(self, item: Launched, exc: Exception) -> Verdict | None:
        if self.spec.tier == "spot" and isinstance(exc, NoCapacity) and "capacity" in str(exc).lower():
            self._no_capacity_until = time.monotonic() + self.options.no_capacity_backoff_seconds
            return self.lost(f"no spot capacity on fleet {self.spec.name}: {exc}")
        return None

    def _observe(self, items: list[Launched]) -> dict[str, Verdict]:
        by_arn = {t.cloud_id: t for t in items}
        out: dict[str, Verdict] = {}
        arns = list(by_arn)
        cluster = self.template["cluster"]
        for i in range(0, len(arns), 100):
            response = self.client.describe_tasks(cluster=cluster, tasks=arns[i:i + 100])
            for task in response.get("tasks", []):
                t = by_arn.get(task["taskArn"])
                if t is not None:
                    out[t.external_id] = ecs_verdict(task, self.spec.tier)
            for failure in response.get("failures", []):
                t = by_arn.get(failure.get("arn"))
                if t is not None and failure.get("reason") == "MISSING":
                    out[t.external_id] = Verdict(S.FAILED, f"ECS task {t.cloud_id} is gone (MISSING)")
        return out

    def _find(self, item: Launched) -> str | None:
        for status in ("RUNNING", "STOPPED"):
            arns = self.client.list_tasks(cluster=self.template["cluster"], startedBy=short_id(item.external_id),
                                          desiredStatus=status).get("taskArns", [])
            if arns:
                return str(arns[0])
        return None

    def _cancel(self, item: Launched) -> None:
        self.client.stop_task(cluster=self.template["cluster"], task=item.cloud_id,
                              reason="revoked by airflow-ai-scheduler (stuck in queued)")
