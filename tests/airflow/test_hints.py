"""Placement hints: the API, errors naming DAG/task/field, serialization, and import errors at parse time."""

from __future__ import annotations

import json
import textwrap
from datetime import datetime, timedelta, timezone

import pytest
from factories import NOW

from airflow_ai_scheduler.airflow.hints import HINT_KEY, Resources, parse_hint, placement
from airflow_ai_scheduler.exceptions import InvalidHintError


def test_placement_is_json_and_round_trips():
    cfg = placement(deadline=timedelta(hours=2), checkpointable=True, resources=Resources(vcpus=4, memory_gib=16, gpus=1),
                    priority=3, budget_usd=5.0, tiers=("spot",), duration=timedelta(minutes=30), data_gb=10,
                    data_region="aws:us-east-1", pod_override="kept")
    assert cfg["pod_override"] == "kept"
    hint = parse_hint(json.loads(json.dumps(cfg)), dag_id="d", task_id="t")
    assert hint.deadline_at(NOW) == NOW + timedelta(hours=2)
    fields = hint.to_job_fields()
    assert fields["resources"].gpus == 1 and fields["allowed_tiers"] == ["spot"]
    assert fields["estimated_duration_hours"] == pytest.approx(0.5) and fields["is_checkpointable"]


def test_absolute_deadline_and_base_defaults():
    at = datetime(2026, 11, 23, 12, tzinfo=timezone.utc)
    defaults = placement(tiers=("on-demand",), priority=2)
    hint = parse_hint(placement(deadline=at, base=defaults), task_id="t")
    assert hint.deadline_at(NOW) == at and hint.tiers == ["on-demand"] and hint.priority == 2


@pytest.mark.parametrize(("kwargs", "field"), [
    pytest.param({"tiers": ("cheap",)}, "tiers[0]", id="tier"),
    pytest.param({"budget_usd": -1}, "budget_usd", id="budget"),
    pytest.param({"resources": {"vcpus": 0}}, "resources.vcpus", id="resources"),
    pytest.param({"data_region": "us-east-1"}, "data_region", id="data-region"),
    pytest.param({"deadline": datetime(2026, 1, 1)}, "deadline.at", id="naive-deadline"),
    pytest.param({"duration": "1h"}, "duration", id="duration-type"),
])
def test_placement_names_the_bad_field(kwargs, field):
    with pytest.raises(InvalidHintError) as err:
        placement(**kwargs)
    assert err.value.field == field and field in str(err.value)


def test_parse_hint_names_dag_task_and_field():
    with pytest.raises(InvalidHintError) as err:
        parse_hint({HINT_KEY: {"priority": "high"}}, dag_id="etl", task_id="load")
    msg = str(err.value)
    assert "DAG 'etl'" in msg and "task 'load'" in msg and "field 'priority'" in msg
    assert parse_hint({"other": 1}) is None and parse_hint(None) is None


def test_bad_hint_fails_the_dag_import(tmp_path):
    from airflow.dag_processing.dagbag import DagBag

    (tmp_path / "bad.py").write_text(textwrap.dedent("""
        from datetime import datetime
        from airflow.sdk import dag, task
        @dag(schedule=None, start_date=datetime(2026, 1, 1))
        def bad_hint():
            @task(executor_config={"ai_scheduler": {"resources": {"vcpus": -2}}})
            def crunch():
                pass
            crunch()
        bad_hint()
    """))
    bag = DagBag(str(tmp_path))
    (err,) = bag.import_errors.values()
    assert "DAG 'bad_hint'" in err and "task 'crunch'" in err and "field 'resources.vcpus'" in err
    assert "bad_hint" not in bag.dags


def test_hint_survives_dag_serialization():
    from airflow.sdk import DAG
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.serialization.serialized_objects import DagSerialization

    with DAG("ser", schedule=None, start_date=NOW) as dag:
        EmptyOperator(task_id="t", executor_config=placement(checkpointable=True, tiers=("spot",)))
    restored = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    hint = parse_hint(restored.get_task("t").executor_config, task_id="t")
    assert hint.checkpointable and hint.tiers == ["spot"]
