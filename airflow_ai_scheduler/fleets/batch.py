"""The ``batch`` backend: a fleet is an AWS Batch job queue — one in front of a spot compute environment for
a spot fleet, one in front of an on-demand environment for the other::

    {"name": "batch-spot", "provider": "aws", "region": "us-east-1", "instance_type": "m6i.xlarge",
     "tier": "spot", "slots": 50, "backend": "batch",
     "options": {"job_queue": "airflow-spot", "job_definition": "airflow-worker"}}

Built on the amazon provider's parts: SubmitJob kwargs from its ``build_submit_kwargs`` (the keys of
``[aws_batch_executor]``, which supplies defaults), the client from ``BatchClientHook`` (credentials from
the Airflow connection), job states from its ``BatchJob.get_job_state``. Not AwsBatchExecutor itself: it
re-submits a failed job on its own and serves one queue per executor (docs/fleets-cloud.md).

An attempt whose host was terminated under it — Batch's ``statusReason`` "Host EC2 (instance i-…)
terminated.", what a spot reclaim looks like — is reported PREEMPTED on a spot fleet. Every job carries the
attribution tags ``ai-scheduler:dag``, ``:task``, ``:run``, ``:try``, ``:map-index``, ``:fleet``, ``:tier``
(propagated to the ECS task, so they reach the cost and usage report).
"""

from __future__ import annotations

import json
import re
from typing import Any

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

#: what Batch says of an attempt whose instance went away (a spot reclaim, or a scale-in)
HOST_TERMINATED = re.compile(r"Host EC2 \(instance [^)]*\) terminated", re.IGNORECASE)
_OWN = {"jobName", "jobQueue", "jobDefinition"}


class BatchOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    job_queue: str | None = Field(None, description="the fleet's queue; default [aws_batch_executor] job_queue")
    job_definition: str | None = Field(None, description="default: [aws_batch_executor] job_definition")
    submit_job_kwargs: dict[str, Any] = Field(default_factory=dict, description="merged into every SubmitJob")
    aws_conn_id: str | None = Field(None, description="Airflow connection; default [aws_batch_executor] conn_id")
    region_name: str | None = Field(None, description="default: the fleet's region")
    size_from_hint: bool = Field(True, description="vCPU/memory/GPU resourceRequirements from the task's hint")
    tags: dict[str, str] = Field(default_factory=dict)
    poll_interval_seconds: float = Field(5.0, gt=0, le=300)


def batch_options(spec: FleetSpec) -> BatchOptions:
    return parse_options(spec, BatchOptions, "batch")


class _FleetConf:
    def __init__(self, values: dict[str, Any], airflow_conf: Any = None) -> None:
        self.values, self.conf = values, airflow_conf

    def get(self, section: str, key: str, fallback: Any = None, **_: Any) -> Any:
        if key in self.values:
            return self.values[key]
        if self.conf is not None:
            value = self.conf.get(section, key, fallback=None)
            if value not in (None, ""):
                return value
        return fallback


def submit_template(spec: FleetSpec, opts: BatchOptions, airflow_conf: Any = None) -> dict[str, Any]:
    from airflow.providers.amazon.aws.executors.batch.batch_executor_config import build_submit_kwargs

    values = {"job_queue": opts.job_queue, "job_definition": opts.job_definition,
              "submit_job_kwargs": json.dumps(opts.submit_job_kwargs) if opts.submit_job_kwargs else None}
    values = {k: v for k, v in values.items() if v is not None}
    try:
        kwargs = build_submit_kwargs(_FleetConf(values, airflow_conf))
    except (ValueError, KeyError) as exc:
        raise ConfigError(f"[ai_scheduler] fleet {spec.name!r} (backend batch): {exc}") from None
    for needed in ("jobQueue", "jobDefinition"):
        if not kwargs.get(needed):
            option = "job_queue" if needed == "jobQueue" else "job_definition"
            raise ConfigError(f"[ai_scheduler] fleet {spec.name!r} (backend batch): options.{option} is required "
                              "(or set it in [aws_batch_executor])")
    return kwargs


def batch_verdict(job: dict[str, Any], tier: str) -> Verdict:
    """What a DescribeJobs job means for the fleet (the provider's state mapping, plus reclaimed hosts)."""
    from airflow.providers.amazon.aws.executors.batch.utils import BatchJob
    from airflow.utils.state import State

    reasons = [job.get("statusReason") or ""] + [a.get("statusReason") or "" for a in job.get("attempts", [])]
    state = BatchJob(job["jobId"], job["status"], job.get("statusReason")).get_job_state()
    if state == State.FAILED:
        host = next((r for r in reversed(reasons) if HOST_TERMINATED.search(r)), None)
        if host is not None:
            return Verdict(S.PREEMPTED if tier == "spot" else S.FAILED, f"Batch job {job['jobId']}: {host}")
        attempts = job.get("attempts") or [{}]
        exit_code = (job.get("container") or {}).get("exitCode", (attempts[-1].get("container") or {}).get("exitCode"))
        return Verdict(S.FAILED, f"Batch job {job['jobId']} failed: {job.get('statusReason', '')} (exit {exit_code})")
    if state == State.SUCCESS:
        return Verdict(S.SUCCESS)
    if state == State.RUNNING:
        return Verdict(S.RUNNING)
    return Verdict(None)


class BatchFleet(RemoteFleet):
    backend_name = "batch"

    @classmethod
    def validate_options(cls, spec: FleetSpec) -> None:
        batch_options(spec)

    def __init__(self, spec: FleetSpec, context: FleetContext | None = None) -> None:
        super().__init__(spec, context)
        self.options = batch_options(spec)
        self.poll_interval = self.options.poll_interval_seconds
        self.client: Any = None
        self.template: dict[str, Any] = {}

    def _connect(self, airflow_conf: Any = None) -> None:
        from airflow.providers.amazon.aws.hooks.batch_client import BatchClientHook

        if airflow_conf is None:
            from airflow.configuration import conf as airflow_conf
        self.template = submit_template(self.spec, self.options, airflow_conf)
        conn_id = self.options.aws_conn_id or airflow_conf.get("aws_batch_executor", "conn_id",
                                                               fallback="aws_default")
        region = self.options.region_name or airflow_conf.get("aws_batch_executor", "region_name", fallback=None) \
            or (self.spec.region if self.spec.provider == "aws" else None)
        self.client = BatchClientHook(aws_conn_id=conn_id, region_name=region).client

    @property
    def job_queue(self) -> str:
        return str(self.template["jobQueue"])

    def submit_job_kwargs(self, item: Launched) -> dict[str, Any]:
        """The exact SubmitJob request for a workload."""
        from airflow.utils.helpers import merge_dicts

        workload = item.workload
        members = set(self.client.meta.service_model.operation_model("SubmitJob").input_shape.members)
        extra = {k: v for k, v in (getattr(workload.ti, "executor_config", None) or {}).items()
                 if k in members and k not in _OWN}
        kwargs = merge_dicts(json.loads(json.dumps(self.template)), extra)
        kwargs["jobName"] = job_name(item.external_id)
        overrides = kwargs.setdefault("containerOverrides", {})
        overrides["command"] = workload_command(workload)
        env = {e["name"]: e["value"] for e in overrides.get("environment", [])}
        env.update({**self.spec.environment(), "AIRFLOW_IS_EXECUTOR_CONTAINER": "true"})
        overrides["environment"] = [{"name": k, "value": v} for k, v in env.items()]
        res = task_resources(workload) if self.options.size_from_hint else None
        if res is not None:
            reqs = [{"type": "VCPU", "value": f"{res.vcpus:g}"}, {"type": "MEMORY", "value": str(int(res.memory_gib * 1024))}]
            if res.gpus:
                reqs.append({"type": "GPU", "value": str(res.gpus)})
            kept = [r for r in overrides.get("resourceRequirements", []) if r.get("type") not in {"VCPU", "MEMORY", "GPU"}]
            overrides["resourceRequirements"] = kept + reqs
        kwargs["tags"] = {**kwargs.get("tags", {}), **self.options.tags, **aws_tags(workload, self.spec)}
        kwargs["propagateTags"] = True
        return kwargs

    def _launch(self, item: Launched) -> str:
        return str(self.client.submit_job(**self.submit_job_kwargs(item))["jobId"])

    def _observe(self, items: list[Launched]) -> dict[str, Verdict]:
        by_id = {t.cloud_id: t for t in items}
        ids = list(by_id)
        out: dict[str, Verdict] = {}
        seen = set()
        for i in range(0, len(ids), 100):
            for job in self.client.describe_jobs(jobs=ids[i:i + 100]).get("jobs", []):
                t = by_id.get(job["jobId"])
                if t is not None:
                    seen.add(job["jobId"])
                    out[t.external_id] = batch_verdict(job, self.spec.tier)
        for job_id in set(ids) - seen:  # Batch keeps finished jobs for a day at least
            out[by_id[job_id].external_id] = Verdict(S.FAILED, f"Batch job {job_id} is not known any more")
        return out

    def _find(self, item: Launched) -> str | None:
        name = job_name(item.external_id)
        jobs = self.client.list_jobs(jobQueue=self.job_queue,
                                     filters=[{"name": "JOB_NAME", "values": [name]}]).get("jobSummaryList", [])
        return str(jobs[0]["jobId"]) if jobs else None

    def _cancel(self, item: Launched) -> None:
        self.client.terminate_job(jobId=item.cloud_id, reason="revoked by airflow-ai-scheduler (stuck in queued)")


def job_name(external_id: str) -> str:
    """The Batch job name of an external id (letters, digits, hyphens; what adoption looks up)."""
    return f"ai-scheduler-{short_id(external_id)}"
