"""The ``kubernetes`` fleet without a cluster: the pods it submits, serialized as the API server receives
them, for each node-pool preset; what a pod's status means, from recorded pod objects (``kubectl get pod -o
json`` of evicted, disrupted, shut-down, lost, failed and finished pods); the fleet's loop against an
in-memory stand-in for the CoreV1Api (the network edge); and a live test that runs only with a kubeconfig."""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from airflow_ai_scheduler.exceptions import ConfigError
from airflow_ai_scheduler.fleets.base import FleetSpec, FleetStatus, backend_class, fleet_of
from airflow_ai_scheduler.fleets.k8s_pods import pod_verdict
from airflow_ai_scheduler.fleets.kubernetes import KubernetesFleet
from airflow_ai_scheduler.fleets.remote import Launched
from tests.fleets.test_aws_fleets import workload

PODS = Path(__file__).parent / "pods"
BASE = {"provider": "aws", "region": "us-east-1", "instance_type": "m6i.xlarge"}


def recorded(name: str) -> dict[str, Any]:
    return json.loads((PODS / f"{name}.json").read_text())


@pytest.mark.parametrize(("fixture", "spot", "on_demand", "says"), [
    pytest.param("succeeded", FleetStatus.SUCCESS, FleetStatus.SUCCESS, None, id="succeeded"),
    pytest.param("failed_exit_1", FleetStatus.FAILED, FleetStatus.FAILED, "Error exit 1", id="exit-1"),
    pytest.param("failed_oomkilled", FleetStatus.FAILED, FleetStatus.FAILED, "OOMKilled exit 137", id="oom"),
    pytest.param("evicted", FleetStatus.PREEMPTED, FleetStatus.FAILED, "evicted (Evicted)", id="evicted"),
    pytest.param("disruption_target_eviction_api", FleetStatus.PREEMPTED, FleetStatus.FAILED,
                 "EvictionByEvictionAPI", id="drained"),
    pytest.param("disruption_target_taint_manager", FleetStatus.PREEMPTED, FleetStatus.FAILED,
                 "DeletionByTaintManager", id="node-deleted"),
    pytest.param("node_shutdown", FleetStatus.PREEMPTED, FleetStatus.FAILED, "node shutdown", id="node-shutdown"),
    pytest.param("node_shutdown_legacy", FleetStatus.PREEMPTED, FleetStatus.FAILED, "node shutdown (Shutdown)",
                 id="node-shutdown-legacy"),
    pytest.param("node_lost", FleetStatus.PREEMPTED, FleetStatus.FAILED, "node lost", id="node-lost"),
    pytest.param("running", FleetStatus.RUNNING, FleetStatus.RUNNING, None, id="running"),
    pytest.param("pending_unschedulable", None, None, None, id="pending"),
])
def test_pod_status_to_outcome_from_recorded_pods(fixture, spot, on_demand, says):
    pod = recorded(fixture)
    got = pod_verdict(pod, "spot")
    assert got.status is spot
    assert pod_verdict(pod, "on-demand").status is on_demand  # a lost node on on-demand is a plain failure
    if says:
        assert says in got.info


# -- the pods as submitted ------------------------------------------------------------------------------

def _fleet(name: str, tier: str, options: dict[str, Any], client: Any = None) -> KubernetesFleet:
    spec = FleetSpec.model_validate({**BASE, "name": name, "tier": tier, "backend": "kubernetes", "slots": 3,
                                     "options": {"namespace": "airflow", "image": "registry.example.com/airflow:3.3.2",
                                                 **options}})
    fleet = backend_class(spec)(spec, client=client or FakeCoreV1())  # type: ignore[call-arg]
    fleet._connect()
    return fleet


def _submitted(fleet: KubernetesFleet, w: Any) -> dict[str, Any]:
    """The pod as the API server receives it (the client serializes the V1Pod exactly so)."""
    from kubernetes.client import ApiClient

    return ApiClient().sanitize_for_serialization(fleet.pod(Launched(w.key, w, fleet.new_external_id())))


SPOT_GKE_TOL = {"key": "cloud.google.com/gke-spot", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
SPOT_AKS_TOL = {"key": "kubernetes.azure.com/scalesetpriority", "operator": "Equal", "value": "spot",
                "effect": "NoSchedule"}


def _notin(key: str, value: str) -> dict[str, Any]:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": key, "operator": "NotIn", "values": [value]}]}]}}}


@pytest.mark.parametrize(("flavor", "tier", "selector", "tolerations", "affinity"), [
    ("karpenter", "spot", {"karpenter.sh/capacity-type": "spot"}, None, None),
    ("karpenter", "on-demand", {"karpenter.sh/capacity-type": "on-demand"}, None, None),
    ("eks", "spot", {"eks.amazonaws.com/capacityType": "SPOT"}, None, None),
    ("eks", "on-demand", {"eks.amazonaws.com/capacityType": "ON_DEMAND"}, None, None),
    ("gke", "spot", {"cloud.google.com/gke-spot": "true"}, [SPOT_GKE_TOL], None),
    ("gke", "on-demand", None, None, _notin("cloud.google.com/gke-spot", "true")),
    ("aks", "spot", {"kubernetes.azure.com/scalesetpriority": "spot"}, [SPOT_AKS_TOL], None),
    ("aks", "on-demand", None, None, _notin("kubernetes.azure.com/scalesetpriority", "spot")),
])
def test_submitted_pod_per_preset(flavor, tier, selector, tolerations, affinity):
    from airflow_ai_scheduler.airflow.hints import Resources, placement

    fleet = _fleet(f"{flavor}-{tier}", tier, {"flavor": flavor})
    w = workload("transform", executor_config=placement(resources=Resources(vcpus=2, memory_gib=4, gpus=1)))
    pod = _submitted(fleet, w)
    spec = pod["spec"]
    assert spec.get("nodeSelector") == selector
    assert spec.get("tolerations") == tolerations
    assert spec.get("affinity") == affinity
    assert spec["restartPolicy"] == "Never"
    assert pod["metadata"]["namespace"] == "airflow" and pod["metadata"]["name"].startswith("ai-scheduler-")
    (container,) = spec["containers"]
    assert container["name"] == "base" and container["image"] == "registry.example.com/airflow:3.3.2"
    assert container["args"][:4] == ["python", "-m", "airflow.sdk.execution_time.execute_workload", "--json-string"]
    assert json.loads(container["args"][4])["ti"]["task_id"] == "transform"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["AI_SCHEDULER_FLEET"] == f"{flavor}-{tier}" and env["AI_SCHEDULER_TIER"] == tier
    assert container["resources"] == {"requests": {"cpu": "2", "memory": "4096Mi"},
                                      "limits": {"memory": "4096Mi", "nvidia.com/gpu": "1"}}
    labels = pod["metadata"]["labels"]
    assert {k: v for k, v in labels.items() if k.startswith("ai-scheduler.io/") and k != "ai-scheduler.io/id"} == {
        "ai-scheduler.io/dag": "etl", "ai-scheduler.io/task": "transform",
        "ai-scheduler.io/run": labels["ai-scheduler.io/run"], "ai-scheduler.io/try": "1",
        "ai-scheduler.io/fleet": f"{flavor}-{tier}", "ai-scheduler.io/tier": tier}
    # a run id is not a valid label value: the provider's safe form, the exact value in the annotation
    assert re.fullmatch(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?", labels["ai-scheduler.io/run"])
    assert pod["metadata"]["annotations"]["ai-scheduler.io/run"] == "manual__2026-12-02T07:00:00+00:00"
    assert labels["ai-scheduler.io/id"] == pod["metadata"]["name"].removeprefix("ai-scheduler-")
    assert labels["kubernetes_executor"] == "False"  # a KubernetesExecutor leaves it alone


def test_fleet_and_task_overrides_merge_onto_the_preset():
    from kubernetes.client import models as k8s

    fleet = _fleet("kp-spot", "spot", {
        "flavor": "karpenter", "node_selector": {"workload": "airflow"}, "env": {"DATA": "s3://lake"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "airflow", "effect": "NoSchedule"}],
        "service_account_name": "airflow-worker", "labels": {"team": "data"},
        "pod_override": {"spec": {"priorityClassName": "batch-low"}}})
    task_override = k8s.V1Pod(spec=k8s.V1PodSpec(containers=[k8s.V1Container(
        name="base", resources=k8s.V1ResourceRequirements(limits={"ephemeral-storage": "20Gi"}))]))
    pod = _submitted(fleet, workload("big", executor_config={"pod_override": task_override}))
    assert pod["spec"]["nodeSelector"] == {"karpenter.sh/capacity-type": "spot", "workload": "airflow"}
    assert pod["spec"]["tolerations"][0]["key"] == "dedicated"
    assert pod["spec"]["serviceAccountName"] == "airflow-worker"
    assert pod["spec"]["priorityClassName"] == "batch-low"
    assert pod["metadata"]["labels"]["team"] == "data"
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env["DATA"] == "s3://lake" and env["AI_SCHEDULER_FLEET"] == "kp-spot"
    assert pod["spec"]["containers"][0]["resources"]["limits"] == {"ephemeral-storage": "20Gi"}


def test_options_are_checked_naming_the_fleet_and_field():
    spec = FleetSpec.model_validate({**BASE, "name": "k", "tier": "spot", "backend": "kubernetes",
                                     "options": {"flavor": "karpentr"}})
    with pytest.raises(ConfigError, match=r"fleet 'k' \(backend kubernetes\): options.flavor"):
        backend_class(spec)


# -- the loop, against an in-memory API ------------------------------------------------------------------

class FakeCoreV1:
    """What the fleet calls of CoreV1Api, holding pods in memory; the test plays the cluster's part by
    giving a pod the status of a recorded one."""

    def __init__(self) -> None:
        self.pods: dict[str, Any] = {}
        self.created: list[Any] = []
        self.deleted: list[str] = []

    def create_namespaced_pod(self, namespace: str, body: Any) -> Any:
        from kubernetes.client.rest import ApiException

        if body.metadata.name in self.pods:
            raise ApiException(status=409, reason="AlreadyExists")
        self.created.append(body)
        self.pods[body.metadata.name] = body
        return body

    def list_namespaced_pod(self, namespace: str, label_selector: str) -> Any:
        key, _, value = label_selector.partition("=")
        return type("PodList", (), {"items": [p for p in self.pods.values() if p.metadata.labels.get(key) == value]})

    def read_namespaced_pod(self, name: str, namespace: str) -> Any:
        from kubernetes.client.rest import ApiException

        if name not in self.pods:
            raise ApiException(status=404, reason="NotFound")
        return self.pods[name]

    def delete_namespaced_pod(self, name: str, namespace: str) -> None:
        self.deleted.append(name)
        self.pods.pop(name, None)

    def set_status(self, name: str, fixture: str) -> None:
        from airflow.providers.cncf.kubernetes.pod_generator import PodGenerator

        self.pods[name].status = PodGenerator.deserialize_model_dict(recorded(fixture)).status


def _until(fleet: Any, want: int, timeout: float = 10) -> list[tuple[Any, Any, Any]]:
    got: list = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        got += fleet.poll()
        time.sleep(0.02)
    return got


@pytest.fixture
def k8s_fleet():
    api = FakeCoreV1()
    fleet = _fleet("k8s-spot", "spot", {"flavor": "karpenter"}, client=api)
    fleet.start()
    fleet.poll_interval = 0.05
    yield fleet, api
    fleet.terminate()


def test_fleet_reports_running_then_preempted_on_eviction_and_deletes_the_pod(k8s_fleet):
    fleet, api = k8s_fleet
    ok, evicted, vanished = workload("ok"), workload("evicted"), workload("vanished")
    for w in (ok, evicted, vanished):
        fleet.submit(w)
    queued = _until(fleet, 3)
    assert {str(s) for _, s, _ in queued} == {"queued"} and all(fleet_of(i) == "k8s-spot" for _, _, i in queued)
    assert fleet.free_slots() == 0
    names = {t.key: t.cloud_id for t in fleet._tracked.values()}
    for name in names.values():
        api.set_status(name, "running")
    assert sorted(str(s) for _, s, _ in _until(fleet, 3)) == ["running"] * 3
    api.set_status(names[ok.key], "succeeded")
    api.set_status(names[evicted.key], "disruption_target_eviction_api")
    api.pods.pop(names[vanished.key])  # its node was deleted and the pod with it
    done = {k: (s, i) for k, s, i in _until(fleet, 3)}
    assert done[ok.key] == (FleetStatus.SUCCESS, None)
    assert done[evicted.key][0] is FleetStatus.PREEMPTED and "EvictionByEvictionAPI" in done[evicted.key][1]
    assert done[vanished.key][0] is FleetStatus.PREEMPTED and "gone" in done[vanished.key][1]
    assert set(api.deleted) == {names[ok.key], names[evicted.key]}
    assert fleet.free_slots() == 3


def test_fleet_adopts_a_pod_by_name_and_reports_an_unknown_one_failed(k8s_fleet):
    fleet, api = k8s_fleet
    w = workload("long")
    fleet.submit(w)
    (queued,) = _until(fleet, 1)
    name = next(iter(api.pods))
    api.set_status(name, "running")
    _until(fleet, 1)
    fleet.terminate()  # the scheduler dies; the pod runs on

    successor = _fleet("k8s-spot", "spot", {"flavor": "karpenter"}, client=api)
    successor.start()
    successor.poll_interval = 0.05
    try:
        successor.adopt(w.key, queued[2])
        successor.adopt("ghost", f"ai-scheduler/k8s-spot/{uuid.uuid4()}")
        got = {k: (s, i) for k, s, i in _until(successor, 2)}
        assert got[w.key] == (FleetStatus.RUNNING, queued[2])
        assert got["ghost"][0] is FleetStatus.FAILED
        assert len(api.created) == 1  # found, not created again
        api.set_status(name, "node_shutdown")
        assert [(k, str(s)) for k, s, _ in _until(successor, 1)] == [(w.key, "preempted")]
    finally:
        successor.terminate()


# -- live: a real cluster, only when a kubeconfig is present -----------------------------------------------

def _kubeconfig() -> str | None:
    path = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    return path if path and os.path.exists(path.split(os.pathsep)[0]) else None


@pytest.mark.live
@pytest.mark.skipif(_kubeconfig() is None, reason="no kubeconfig: no cluster to run a pod on")
def test_live_pod_runs_to_success_on_a_real_cluster(monkeypatch):
    """Creates a pod with the fleet's labels in the kubeconfig's cluster (namespace AI_SCHEDULER_K8S_NAMESPACE,
    default 'default'); its container only exits 0, so no Airflow is needed in the cluster."""
    from kubernetes import client, config

    config.load_kube_config(config_file=_kubeconfig())
    api = client.CoreV1Api()
    fleet = _fleet("live-k8s", "on-demand", {
        "namespace": os.environ.get("AI_SCHEDULER_K8S_NAMESPACE", "default"), "image": "busybox:1.36",
        "pod_override": {"spec": {"containers": [{"name": "base", "command": ["sh", "-c", "exit 0"], "args": []}]}}},
        client=api)
    fleet.start()
    fleet.poll_interval = 1.0
    try:
        w = workload("live")
        fleet.submit(w)
        got = _until(fleet, 3, timeout=180)
        assert [str(s) for _, s, _ in got][-1] == "success", got
    finally:
        fleet.terminate()
