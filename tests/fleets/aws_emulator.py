"""An AWS API emulator for the ECS and Batch fleet tests: moto in server mode, a real HTTP server on
127.0.0.1 that boto3 talks to through the Airflow connection ``aws_default`` (its ``endpoint_url`` extra),
exactly as a deployment's connection points boto3 at AWS. Requests are recorded as the server received
them (botocore's ``before-send``: the serialized body)."""

from __future__ import annotations

import json
import uuid
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"


class Emulator:
    def __init__(self) -> None:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.url = f"http://{host}:{port}"

    def stop(self) -> None:
        self.server.stop()

    def connection_env(self) -> dict[str, str]:
        """``AIRFLOW_CONN_AWS_DEFAULT``: how a deployment would point the providers' hooks at this server."""
        conn = {"conn_type": "aws", "login": "testing", "password": "testing",
                "extra": {"endpoint_url": self.url, "region_name": REGION}}
        return {"AIRFLOW_CONN_AWS_DEFAULT": json.dumps(conn)}

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, region_name=REGION, endpoint_url=self.url, aws_access_key_id="testing",
                            aws_secret_access_key="testing")

    # -- the cloud's part ---------------------------------------------------------------------------
    def ecs_backend(self) -> Any:
        from moto.ecs.models import ecs_backends

        return ecs_backends[ACCOUNT][REGION]

    def ecs_task(self, cluster: str, arn: str) -> Any:
        return next(t for t in self.ecs_backend().tasks[cluster].values() if t.task_arn == arn)

    def batch_job(self, job_id: str) -> Any:
        from moto.batch.models import batch_backends

        return batch_backends[ACCOUNT][REGION]._jobs[job_id]

    def _moto_api(self, path: str, body: dict[str, Any]) -> None:
        import urllib.request

        req = urllib.request.Request(f"{self.url}/moto-api/{path}", method="POST", data=json.dumps(body).encode())
        urllib.request.urlopen(req, timeout=10).read()

    def ecs_setup(self) -> dict[str, Any]:
        ecs, ec2 = self.client("ecs"), self.client("ec2")
        # moto moves a task one state on at every DescribeTasks by default; here a task stays RUNNING until
        # the test stops it, as on ECS
        self._moto_api("state-manager/set-transition",
                       {"model_name": "ecs::task", "transition": {"progression": "manual", "times": 10**9}})
        cluster = f"airflow-{uuid.uuid4().hex[:6]}"
        ecs.create_cluster(clusterName=cluster, capacityProviders=["FARGATE", "FARGATE_SPOT"])
        # networkMode bridge: moto 5.2.5 cannot create the ENI of an awsvpc task (AttributeError in its
        # Task); the request still carries the awsvpc network configuration the fleet sends
        ecs.register_task_definition(family="airflow-worker", containerDefinitions=[
            {"name": "worker", "image": "apache/airflow:3.3.2", "memory": 2048}])
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        sg = ec2.create_security_group(GroupName=f"g-{cluster}", Description="airflow", VpcId=vpc)["GroupId"]
        return {"cluster": cluster, "task_definition": "airflow-worker", "container_name": "worker",
                "subnets": [subnet], "security_groups": [sg]}

    def batch_setup(self, name: str) -> dict[str, Any]:
        batch, ec2, iam = self.client("batch"), self.client("ec2"), self.client("iam")
        # no Docker here: moto's simple Batch (jobs do not run a container; the test sets their outcome)
        self._moto_api("config", {"batch": {"use_docker": False}})
        vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.1.0/24")["Subnet"]["SubnetId"]
        sg = ec2.create_security_group(GroupName=f"b-{name}", Description="batch", VpcId=vpc)["GroupId"]
        role = iam.create_role(RoleName=f"batch-{name}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        profile = iam.create_instance_profile(InstanceProfileName=f"batch-{name}")["InstanceProfile"]["Arn"]
        env = batch.create_compute_environment(
            computeEnvironmentName=f"{name}-env", type="MANAGED", state="ENABLED", serviceRole=role,
            computeResources={"type": "SPOT", "minvCpus": 0, "maxvCpus": 64, "instanceTypes": ["m6i.xlarge"],
                              "subnets": [subnet], "securityGroupIds": [sg], "instanceRole": profile,
                              "bidPercentage": 100})["computeEnvironmentArn"]
        batch.create_job_queue(jobQueueName=name, state="ENABLED", priority=1,
                               computeEnvironmentOrder=[{"order": 1, "computeEnvironment": env}])
        batch.register_job_definition(jobDefinitionName="airflow-worker", type="container", containerProperties={
            "image": "apache/airflow:3.3.2", "vcpus": 1, "memory": 2048})
        return {"job_queue": name, "job_definition": "airflow-worker"}


class Recorder:
    """The requests a boto3 client sent, as serialized on the wire (operation → list of JSON bodies)."""

    def __init__(self, client: Any) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        client.meta.events.register("before-send", self._record)

    def _record(self, request: Any, **_: Any) -> None:
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else target
        op = target.rsplit(".", 1)[-1] if target else request.url.rsplit("/", 1)[-1]
        body = request.body.decode() if isinstance(request.body, bytes) else (request.body or "")
        self.sent.append((op, json.loads(body) if body else {}))

    def of(self, operation: str) -> list[dict[str, Any]]:
        return [b for op, b in self.sent if op.lower() == operation.lower()]
