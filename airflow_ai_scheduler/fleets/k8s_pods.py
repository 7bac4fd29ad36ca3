"""Pods for the ``kubernetes`` backend: node-pool presets, the pod a workload runs in, and what a pod's status
means (success, failure, or lost spot capacity). Pure functions over the Kubernetes client's models and the
API's JSON, so they are tested from recorded pod objects without a cluster.

Presets (``flavor``; ``capacity`` defaults to the fleet's tier):

========== ============================================================ =======================================
flavor     spot                                                         on-demand
========== ============================================================ =======================================
karpenter  nodeSelector ``karpenter.sh/capacity-type: spot``            ``karpenter.sh/capacity-type: on-demand``
eks        nodeSelector ``eks.amazonaws.com/capacityType: SPOT``        ``eks.amazonaws.com/capacityType: ON_DEMAND``
gke        nodeSelector ``cloud.google.com/gke-spot: "true"`` + its     node affinity ``cloud.google.com/gke-spot
           ``NoSchedule`` toleration                                    NotIn ["true"]``
aks        nodeSelector ``kubernetes.azure.com/scalesetpriority: spot`` node affinity ``…/scalesetpriority NotIn
           + the ``…=spot:NoSchedule`` toleration AKS puts on spot pools ["spot"]``
none       only what ``node_selector``/``tolerations``/``pod_override`` say
========== ============================================================ =======================================
"""

from __future__ import annotations

from typing import Any

from airflow_ai_scheduler.fleets.base import FleetSpec
from airflow_ai_scheduler.fleets.base import FleetStatus as S
from airflow_ai_scheduler.fleets.remote import (
    Verdict,
    attribution,
    short_id,
    task_resources,
    workload_command,
)

LABEL_PREFIX = "ai-scheduler.io/"
FLAVORS = ("karpenter", "eks", "gke", "aks", "none")
#: pod failure reasons that mean the node went away under the pod
NODE_GONE_REASONS = {"Evicted": "evicted", "Shutdown": "node shutdown", "NodeShutdown": "node shutdown",
                     "Terminated": "node shutdown", "NodeLost": "node lost", "Preempting": "preempted by the kubelet"}


def _notin(key: str, value: str) -> dict[str, Any]:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": key, "operator": "NotIn", "values": [value]}]}]}}}


def preset(flavor: str, capacity: str) -> dict[str, Any]:
    """The pod spec fields (camelCase, as the API takes them) that put a pod on ``capacity`` nodes."""
    spot = capacity == "spot"
    if flavor == "karpenter":
        return {"nodeSelector": {"karpenter.sh/capacity-type": "spot" if spot else "on-demand"}}
    if flavor == "eks":
        return {"nodeSelector": {"eks.amazonaws.com/capacityType": "SPOT" if spot else "ON_DEMAND"}}
    if flavor == "gke":
        key = "cloud.google.com/gke-spot"
        if spot:
            return {"nodeSelector": {key: "true"},
                    "tolerations": [{"key": key, "operator": "Equal", "value": "true", "effect": "NoSchedule"}]}
        return {"affinity": _notin(key, "true")}
    if flavor == "aks":
        key = "kubernetes.azure.com/scalesetpriority"
        if spot:
            return {"nodeSelector": {key: "spot"},
                    "tolerations": [{"key": key, "operator": "Equal", "value": "spot", "effect": "NoSchedule"}]}
        return {"affinity": _notin(key, "spot")}
    return {}


def pod_name(external_id: str) -> str:
    """``ai-scheduler-<uuid>`` (49 characters): adoption reads the pod back by this name."""
    return f"ai-scheduler-{short_id(external_id)}"


def labels(workload: Any, spec: FleetSpec, external_id: str) -> dict[str, str]:
    from airflow.providers.cncf.kubernetes.pod_generator import make_safe_label_value

    out = {f"{LABEL_PREFIX}{k}": make_safe_label_value(v) for k, v in attribution(workload, spec).items()}
    out[f"{LABEL_PREFIX}id"] = short_id(external_id)
    return out


def fleet_pod(spec: FleetSpec, opts: Any, workload: Any, external_id: str) -> dict[str, Any]:
    """The fleet's part of the pod (a V1Pod dict): preset, selectors, tolerations, env, size, labels."""
    fields = preset(opts.flavor, opts.capacity or spec.tier)
    pod_spec: dict[str, Any] = {}
    selector = {**fields.get("nodeSelector", {}), **opts.node_selector}
    if selector:
        pod_spec["nodeSelector"] = selector
    tolerations = [*fields.get("tolerations", []), *opts.tolerations]
    if tolerations:
        pod_spec["tolerations"] = tolerations
    if "affinity" in fields:
        pod_spec["affinity"] = fields["affinity"]
    if opts.service_account_name:
        pod_spec["serviceAccountName"] = opts.service_account_name
    env = {**spec.environment(), **opts.env}
    container: dict[str, Any] = {"name": "base", "env": [{"name": k, "value": v} for k, v in env.items()]}
    res = task_resources(workload) if opts.resources_from_hint else None
    if res is not None:
        memory = f"{int(res.memory_gib * 1024)}Mi"
        limits: dict[str, Any] = {"memory": memory}
        if res.gpus:
            limits[opts.gpu_resource_name] = str(res.gpus)
        container["resources"] = {"requests": {"cpu": f"{res.vcpus:g}", "memory": memory}, "limits": limits}
    pod_spec["containers"] = [container]
    ann = {f"{LABEL_PREFIX}{k}": v for k, v in attribution(workload, spec).items()}
    return {"metadata": {"labels": {**opts.labels, **labels(workload, spec, external_id)}, "annotations": ann},
            "spec": pod_spec}


def build_pod(spec: FleetSpec, opts: Any, workload: Any, external_id: str, base_pod: Any, image: str,
              namespace: str) -> Any:
    """The V1Pod for a workload, built by the cncf.kubernetes provider's PodGenerator as KubernetesExecutor
    builds its worker pods: pod template → the task's identity and command → the fleet's pool, size and
    labels → the fleet's ``pod_override`` → the task's own ``executor_config["pod_override"]``."""
    from airflow.providers.cncf.kubernetes.pod_generator import PodGenerator
    from kubernetes.client import models as k8s

    ti = workload.ti
    pod = PodGenerator.construct_pod(
        dag_id=ti.dag_id, task_id=ti.task_id, pod_id=pod_name(external_id), try_number=ti.try_number,
        kube_image=image, date=None, args=workload_command(workload), run_id=ti.run_id, map_index=ti.map_index,
        pod_override_object=PodGenerator.deserialize_model_dict(fleet_pod(spec, opts, workload, external_id)),
        base_worker_pod=base_pod, namespace=namespace, scheduler_job_id="ai-scheduler", with_mutation_hook=False)
    for extra in (opts.pod_override or None, (getattr(ti, "executor_config", None) or {}).get("pod_override")):
        if extra:
            if not isinstance(extra, k8s.V1Pod):  # API JSON; V1PodSpec insists on a containers list
                extra = {**extra, "spec": {"containers": [], **(extra.get("spec") or {})}}
            extra_pod = extra if isinstance(extra, k8s.V1Pod) else PodGenerator.deserialize_model_dict(extra)
            pod = PodGenerator.reconcile_pods(pod, extra_pod)
    # not a KubernetesExecutor pod: a KubernetesExecutor of the same deployment must not adopt or delete it
    pod.metadata.labels["kubernetes_executor"] = "False"
    return pod


def default_base_pod() -> Any:
    from kubernetes.client import models as k8s

    return k8s.V1Pod(metadata=k8s.V1ObjectMeta(), spec=k8s.V1PodSpec(
        restart_policy="Never", containers=[k8s.V1Container(name="base")]))


def pod_verdict(pod: dict[str, Any], tier: str) -> Verdict:
    """What a pod (the API's JSON, as ``kubectl get pod -o json`` prints it) means for the fleet."""
    status = pod.get("status") or {}
    phase, reason, message = status.get("phase"), status.get("reason") or "", status.get("message") or ""
    lost = S.PREEMPTED if tier == "spot" else S.FAILED
    disruption = next((c for c in status.get("conditions") or []
                       if c.get("type") == "DisruptionTarget" and c.get("status") == "True"), None)
    if phase == "Succeeded":
        return Verdict(S.SUCCESS)
    if reason in NODE_GONE_REASONS and phase in ("Failed", "Unknown", "Running", "Pending"):
        return Verdict(lost, f"pod {NODE_GONE_REASONS[reason]} ({reason}): {message}".strip())
    if disruption is not None:
        return Verdict(lost, f"pod disrupted ({disruption.get('reason')}): {disruption.get('message', '')}".strip())
    if phase == "Unknown":
        return Verdict(lost, f"pod phase Unknown (its node stopped reporting): {message}".strip())
    if phase == "Failed":
        return Verdict(S.FAILED, f"pod failed: {reason or _container_end(status)} {message}".strip())
    if phase == "Running":
        return Verdict(S.RUNNING)
    return Verdict(None)


def _container_end(status: dict[str, Any]) -> str:
    for c in status.get("containerStatuses") or []:
        term = (c.get("state") or {}).get("terminated")
        if term:
            return f"container {c.get('name')} {term.get('reason', '')} exit {term.get('exitCode')}"
    return ""
