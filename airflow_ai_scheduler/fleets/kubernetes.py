"""The ``kubernetes`` backend: a fleet is a node pool, chosen by a preset instead of YAML::

    {"name": "k8s-spot", "provider": "aws", "region": "us-east-1", "instance_type": "m6i.xlarge",
     "tier": "spot", "slots": 40, "backend": "kubernetes",
     "options": {"flavor": "karpenter", "namespace": "airflow", "image": "my-registry/airflow:3.3.2"}}

Each task runs in a pod built by the cncf.kubernetes provider's ``PodGenerator`` (the pod template of
``[kubernetes_executor] pod_template_file``, or ``options.pod_template_file``; the task's own
``executor_config["pod_override"]`` still applies), placed on the pool by the preset of
:mod:`.k8s_pods` (Karpenter, EKS managed node groups, GKE, AKS), sized from the task's ``resources`` hint,
with the fleet's environment and the ``ai-scheduler.io/*`` cost-attribution labels. The cluster is reached
through the Airflow connection ``kubernetes_conn_id`` (KubernetesHook) or, without one, the provider's
``[kubernetes_executor]`` settings (``in_cluster``, ``config_file``), as KubernetesExecutor does.

The fleet lists its pods by label every ``poll_interval_seconds`` on its own thread. A pod that loses its node
— evicted, a ``DisruptionTarget`` condition (drain, taint manager, Karpenter/cluster-autoscaler
consolidation or a spot interruption handler), graceful node shutdown, phase Unknown, or gone from the API
with its node — is reported PREEMPTED on a spot fleet. Finished pods are deleted
(``delete_finished_pods``).
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from airflow_ai_scheduler.exceptions import ConfigError
from airflow_ai_scheduler.fleets.base import FleetContext, FleetSpec
from airflow_ai_scheduler.fleets.k8s_pods import (
    LABEL_PREFIX,
    build_pod,
    default_base_pod,
    pod_name,
    pod_verdict,
)
from airflow_ai_scheduler.fleets.remote import Launched, RemoteFleet, Verdict, parse_options

log = logging.getLogger(__name__)


class KubernetesOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    flavor: Literal["karpenter", "eks", "gke", "aks", "none"] = Field("none", description="node-pool preset")
    capacity: Literal["spot", "on-demand"] | None = Field(None, description="default: the fleet's tier")
    namespace: str | None = Field(None, description="default: [kubernetes_executor] namespace")
    image: str | None = Field(None, description="default: [kubernetes_executor] worker_container_repository:tag")
    pod_template_file: str | None = Field(None, description="default: [kubernetes_executor] pod_template_file")
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[dict[str, Any]] = Field(default_factory=list)
    pod_override: dict[str, Any] = Field(default_factory=dict, description="a V1Pod (API JSON) merged last")
    env: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    service_account_name: str | None = None
    kubernetes_conn_id: str | None = Field(None, description="Airflow connection; default: [kubernetes_executor]")
    resources_from_hint: bool = True
    gpu_resource_name: str = "nvidia.com/gpu"
    delete_finished_pods: bool = True
    poll_interval_seconds: float = Field(5.0, gt=0, le=300)


def kubernetes_options(spec: FleetSpec) -> KubernetesOptions:
    return parse_options(spec, KubernetesOptions, "kubernetes")


class KubernetesFleet(RemoteFleet):
    backend_name = "kubernetes"

    @classmethod
    def validate_options(cls, spec: FleetSpec) -> None:
        kubernetes_options(spec)

    def __init__(self, spec: FleetSpec, context: FleetContext | None = None, client: Any = None) -> None:
        super().__init__(spec, context)
        self.options = kubernetes_options(spec)
        self.poll_interval = self.options.poll_interval_seconds
        self.client = client  # a kubernetes CoreV1Api
        self.namespace = self.options.namespace or "default"
        self.image = self.options.image or ""
        self.base_pod: Any = None
        from airflow.providers.cncf.kubernetes.pod_generator import make_safe_label_value

        self.selector = f"{LABEL_PREFIX}fleet={make_safe_label_value(spec.name)}"

    def _connect(self) -> None:
        from airflow.configuration import conf

        section = "kubernetes_executor"
        self.namespace = self.options.namespace or conf.get(section, "namespace", fallback="default")
        if not self.image:
            repo = conf.get(section, "worker_container_repository", fallback="")
            tag = conf.get(section, "worker_container_tag", fallback="")
            self.image = f"{repo}:{tag}" if repo and tag else ""
        template = self.options.pod_template_file or conf.get(section, "pod_template_file", fallback=None)
        self.base_pod = self._template(template) if template else default_base_pod()
        if not self.image and not (self.base_pod.spec.containers and self.base_pod.spec.containers[0].image):
            raise ConfigError(f"[ai_scheduler] fleet {self.spec.name!r} (backend kubernetes): options.image is "
                              "required (or [kubernetes_executor] worker_container_repository/tag, or an image in "
                              "the pod template)")
        if self.client is None:
            self.client = self._make_client()

    def _template(self, path: str) -> Any:
        from airflow.providers.cncf.kubernetes.pod_generator import PodGenerator

        try:
            return PodGenerator.deserialize_model_file(path)
        except Exception as exc:
            raise ConfigError(f"[ai_scheduler] fleet {self.spec.name!r} (backend kubernetes): pod template "
                              f"{path!r} cannot be read: {exc}") from None

    def _make_client(self) -> Any:
        if self.options.kubernetes_conn_id:
            from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook

            return KubernetesHook(conn_id=self.options.kubernetes_conn_id).core_v1_client
        from airflow.providers.cncf.kubernetes.kube_client import get_kube_client

        return get_kube_client()

    def pod(self, item: Launched) -> Any:
        """The V1Pod a workload runs in (what ``create_namespaced_pod`` sends)."""
        return build_pod(self.spec, self.options, item.workload, item.external_id, self.base_pod, self.image,
                         self.namespace)

    def _launch(self, item: Launched) -> str:
        from kubernetes.client.rest import ApiException

        pod = self.pod(item)
        try:
            self.client.create_namespaced_pod(namespace=self.namespace, body=pod)
        except ApiException as exc:
            if exc.status != 409:  # 409: created by an earlier attempt whose answer was lost
                raise
        return str(pod.metadata.name)

    def _observe(self, items: list[Launched]) -> dict[str, Verdict]:
        from kubernetes.client import ApiClient

        listed = self.client.list_namespaced_pod(namespace=self.namespace, label_selector=self.selector)
        pods = {p.metadata.name: p for p in listed.items}
        serialize = ApiClient().sanitize_for_serialization
        out: dict[str, Verdict] = {}
        for t in items:
            pod = pods.get(t.cloud_id)
            if pod is None:
                out[t.external_id] = self.lost(f"pod {t.cloud_id} is gone (deleted with its node)")
                continue
            verdict = pod_verdict(serialize(pod), self.spec.tier)
            out[t.external_id] = verdict
            if verdict.status is not None and verdict.status.finished and self.options.delete_finished_pods:
                self._delete(t.cloud_id)
        return out

    def _find(self, item: Launched) -> str | None:
        from kubernetes.client.rest import ApiException

        name = pod_name(item.external_id)
        try:
            self.client.read_namespaced_pod(name=name, namespace=self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return name

    def _cancel(self, item: Launched) -> None:
        self._delete(item.cloud_id)

    def _delete(self, name: str | None) -> None:
        try:
            self.client.delete_namespaced_pod(name=name, namespace=self.namespace)
        except Exception as exc:  # already gone, or the API hiccups: the pod is finished either way
            log.debug("fleet %s: deleting pod %s: %s", self.spec.name, name, exc)
