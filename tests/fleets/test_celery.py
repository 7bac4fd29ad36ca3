"""The celery fleet's pure parts: options and queue naming, worker command, state classification."""

from __future__ import annotations

import pytest

from airflow_ai_scheduler.exceptions import ConfigError
from airflow_ai_scheduler.fleets.base import FleetContext, FleetSpec, FleetStatus, make_backend, parse_fleets
from airflow_ai_scheduler.fleets.celery import (
    CeleryFleet,
    celery_options,
    classify,
    worker_command,
    worker_environment,
)


def spec(name: str = "spot-celery", tier: str = "spot", **options: object) -> FleetSpec:
    return FleetSpec.model_validate({"name": name, "provider": "aws", "region": "us-east-1", "tier": tier,
                                     "instance_type": "m6i.xlarge", "slots": 3, "backend": "celery",
                                     "options": dict(options)})


def test_queue_defaults_to_the_fleet_name_and_can_be_set():
    assert celery_options(spec()).queue == "spot-celery"
    opts = celery_options(spec(queue="spot-q", poll_interval_seconds=0.5, worker_lost_after_seconds=0))
    assert (opts.queue, opts.poll_interval_seconds, opts.worker_lost_after_seconds) == ("spot-q", 0.5, 0)


@pytest.mark.parametrize(("options", "field"), [
    pytest.param({"queue": "a,b"}, "options.queue", id="comma-splits-worker-queues"),
    pytest.param({"queue": ""}, "options.queue", id="empty-queue"),
    pytest.param({"poll_interval_seconds": 0}, "options.poll_interval_seconds", id="zero-interval"),
    pytest.param({"publish_retries": -1}, "options.publish_retries", id="negative-retries"),
    pytest.param({"preempt_after_seconds": 3}, "options.preempt_after_seconds", id="local-only-option"),
])
def test_bad_options_name_the_fleet_and_the_field(options, field):
    with pytest.raises(ConfigError) as err:
        celery_options(spec(**options))
    msg = str(err.value)
    assert "fleet 'spot-celery'" in msg and field in msg, msg


def test_unknown_option_says_it_is_not_a_celery_option():
    with pytest.raises(ConfigError, match="options.queues: not an option of the celery backend"):
        make_backend(spec(queues="x"))


def test_fleet_config_selects_the_celery_backend():
    (fleet,) = parse_fleets([{"name": "od-celery", "provider": "aws", "region": "us-east-1",
                              "instance_type": "m6i.xlarge", "tier": "on-demand", "backend": "celery"}])
    backend = make_backend(fleet, FleetContext(server="http://ignored/execution/"))
    assert isinstance(backend, CeleryFleet)
    assert (backend.queue, backend.free_slots()) == ("od-celery", 4)
    with pytest.raises(RuntimeError, match="'od-celery' not started"):
        backend.submit(object())


def test_worker_command_and_environment():
    s = spec(queue="spot-q")
    assert worker_command(s) == ["airflow", "celery", "worker", "--queues", "spot-q", "--concurrency", "3"]
    assert worker_command(s, concurrency=8)[-1] == "8"
    env = worker_environment(s)
    assert env["AI_SCHEDULER_FLEET"] == "spot-celery" and env["AI_SCHEDULER_TIER"] == "spot"


class WorkerLostError(Exception):
    """Stands for billiard's WorkerLostError: classify looks at the type name the result backend restores."""


@pytest.mark.parametrize(("status", "result", "tier", "verdict"), [
    pytest.param("SUCCESS", None, "spot", "success", id="success"),
    pytest.param("FAILURE", ValueError("boom"), "spot", "failed", id="task-failure"),
    pytest.param("FAILURE", WorkerLostError("signal 9"), "spot", FleetStatus.PREEMPTED, id="worker-lost-on-spot"),
    pytest.param("FAILURE", WorkerLostError("signal 9"), "on-demand", "failed", id="worker-lost-on-demand"),
    pytest.param("REVOKED", None, "spot", "failed", id="revoked-is-a-cancel"),
    pytest.param("STARTED", {"pid": 1, "hostname": "celery@h"}, "spot", FleetStatus.RUNNING, id="started"),
    pytest.param("PENDING", None, "spot", None, id="pending"),
    pytest.param("RETRY", None, "spot", None, id="retry"),
])
def test_classify(status, result, tier, verdict):
    assert classify(status, result, tier) == verdict


def test_without_remote_control_no_worker_is_pinged(monkeypatch):
    # a real Celery app built from [celery]; nothing is published, so no broker is contacted
    monkeypatch.setenv("AIRFLOW__CELERY__BROKER_URL", "redis://127.0.0.1:9/0")
    monkeypatch.setenv("AIRFLOW__CELERY__RESULT_BACKEND", "redis://127.0.0.1:9/0")
    monkeypatch.setenv("AIRFLOW__CELERY__WORKER_ENABLE_REMOTE_CONTROL", "False")
    fleet = CeleryFleet(spec(queue="spot-q"))
    fleet.start()
    try:
        assert fleet.options.worker_lost_after_seconds == 0
        assert fleet.poll() == []
    finally:
        fleet.terminate()
