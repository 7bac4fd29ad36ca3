"""Placement hints: the API, errors naming DAG/task/field, serialization, DeadlineAlert, parse-time import errors."""

from __future__ import annotations

import json
import textwrap
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from factories import NOW

from airflow_ai_scheduler.airflow.hints import (
    HINT_KEY,
    Resources,
    dag_deadline,
    parse_hint,
    placement,
    resolve_dag_deadline,
)
from airflow_ai_scheduler.exceptions import InvalidHintError
from airflow_ai_scheduler.models import Job

AT = datetime(2026, 11, 23, 12, tzinfo=timezone.utc)


def test_placement_is_json_and_round_trips_into_a_job():
    cfg = placement(deadline=timedelta(hours=2), checkpointable=True, resources=Resources(vcpus=4, memory_gib=16, gpus=1),
                    priority=3, budget_usd=5.0, tiers=("spot",), duration=timedelta(minutes=30), duration_std=0.1,
                    checkpoint_interval=timedelta(minutes=10), restart_overhead=timedelta(minutes=2), data_gb=10,
                    data_region="aws:us-east-1", providers=["aws"], regions=["us-east-1"], elastic=True,
                    pod_override="kept")
    assert cfg["pod_override"] == "kept"
    assert cfg[HINT_KEY]["deadline"] == {"relativeSeconds": 7200.0}
    assert cfg[HINT_KEY]["resources"]["memory_gib"] == 16
    hint = parse_hint(json.loads(json.dumps(cfg)), dag_id="d", task_id="t")
    assert hint.deadline_at(NOW) == NOW + timedelta(hours=2)
    job = Job(job_id="t", **hint.to_job_fields())  # the fields are exactly what Job accepts
    assert job.resources.gpus == 1 and job.allowed_tiers == ["spot"] and job.priority == 3
    assert job.estimated_duration_hours == pytest.approx(0.5) and job.duration_std_hours == pytest.approx(0.1)
    assert job.checkpoint_interval_hours == pytest.approx(1 / 6) and job.restart_overhead_hours == pytest.approx(1 / 30)
    assert job.is_checkpointable and job.input_data_size_gb == 10 and job.budget_usd == 5.0
    assert job.allowed_providers == ["aws"] and job.allowed_regions == ["us-east-1"] and job.elastic


def test_elastic_share_reaches_the_job():
    job = Job(job_id="t", estimated_duration_hours=1, **parse_hint(placement(elastic=0.9)).to_job_fields())
    assert job.elastic and job.parallel_fraction == pytest.approx(0.9)
    linear = Job(job_id="t", estimated_duration_hours=1, **parse_hint(placement(elastic=True)).to_job_fields())
    assert linear.elastic and linear.parallel_fraction == 1.0
    assert not parse_hint(placement(elastic=False)).to_job_fields()["elastic"]


def test_absolute_deadline_is_stored_as_iso_utc():
    local = AT.astimezone(timezone(timedelta(hours=2)))
    cfg = placement(deadline=local, hard_deadline=True)
    assert cfg[HINT_KEY]["deadline"] == {"at": "2026-11-23T12:00:00+00:00"}
    hint = parse_hint(json.loads(json.dumps(cfg)))
    assert hint.deadline_at(NOW) == AT and hint.deadline_at(NOW).tzinfo == timezone.utc
    assert hint.to_job_fields()["hard_deadline"] is True


def test_hint_without_duration_leaves_the_duration_to_history():
    fields = parse_hint(placement(tiers="on-demand")).to_job_fields()
    assert "estimated_duration_hours" not in fields and fields["allowed_tiers"] == ["on-demand"]
    assert parse_hint(placement()).deadline_at(NOW) is None


def test_base_defaults_are_extended_not_replaced():
    defaults = placement(tiers=("on-demand",), priority=2, pod_override="shared")
    cfg = placement(deadline=AT, priority=7, base=defaults)
    hint = parse_hint(cfg, task_id="t")
    assert hint.deadline_at(NOW) == AT and hint.tiers == ["on-demand"] and hint.priority == 7
    assert cfg["pod_override"] == "shared"
    assert parse_hint(defaults).priority == 2  # the shared defaults are not mutated


@pytest.mark.parametrize(("kwargs", "field"), [
    pytest.param({"tiers": ("cheap",)}, "tiers[0]", id="tier"),
    pytest.param({"tiers": ("spot", "cheap")}, "tiers[1]", id="second-tier"),
    pytest.param({"tiers": ()}, "tiers", id="no-tiers"),
    pytest.param({"budget_usd": -1}, "budget_usd", id="budget"),
    pytest.param({"budget_usd": 0}, "budget_usd", id="zero-budget"),
    pytest.param({"priority": "high"}, "priority", id="priority"),
    pytest.param({"priority": 11}, "priority", id="priority-range"),
    pytest.param({"resources": Resources(vcpus=-1)}, "resources.vcpus", id="resources-helper"),
    pytest.param({"resources": Resources(cpus=2)}, "resources.cpus", id="resources-helper-typo"),
    pytest.param({"resources": {"vcpus": 0}}, "resources.vcpus", id="resources"),
    pytest.param({"resources": {"memory_gib": -1}}, "resources.memory_gib", id="resources-memory"),
    pytest.param({"resources": {"cpus": 2}}, "resources.cpus", id="resources-unknown"),
    pytest.param({"resources": 4}, "resources", id="resources-type"),
    pytest.param({"data_region": "us-east-1"}, "data_region", id="data-region"),
    pytest.param({"data_gb": -3}, "data_gb", id="data-gb"),
    pytest.param({"deadline": datetime(2026, 1, 1)}, "deadline", id="naive-deadline"),
    pytest.param({"deadline": timedelta(hours=-1)}, "deadline", id="negative-deadline"),
    pytest.param({"deadline": "2h"}, "deadline", id="deadline-type"),
    pytest.param({"duration": "1h"}, "duration", id="duration-type"),
    pytest.param({"duration": timedelta(0)}, "duration", id="zero-duration"),
    pytest.param({"checkpoint_interval": -1.0}, "checkpoint_interval", id="checkpoint-interval"),
    pytest.param({"duration_std": timedelta(hours=-1)}, "duration_std", id="duration-std"),
    pytest.param({"elastic": 1.5}, "elastic", id="elastic-share"),
    pytest.param({"elastic": "yes"}, "elastic", id="elastic-type"),
])
def test_a_bad_placement_fails_when_parsed_naming_dag_task_and_field(kwargs, field):
    cfg = placement(**kwargs)  # never raises: the task does not exist yet
    json.dumps(cfg)  # and stays serializable
    with pytest.raises(InvalidHintError) as err:
        parse_hint(cfg, dag_id="etl", task_id="load")
    msg = str(err.value)
    assert err.value.field == field and f"field {field!r}" in msg and "DAG 'etl'" in msg and "task 'load'" in msg
    assert "\n" not in msg  # one line


@pytest.mark.parametrize(("stored", "field"), [
    pytest.param({"priority": "high"}, "priority", id="priority"),
    pytest.param({"deadline": {"relativeSeconds": 60, "at": AT.isoformat()}}, "deadline", id="both-deadlines"),
    pytest.param({"deadline": {"at": "2026-11-23T12:00:00"}}, "deadline", id="naive-at"),
    pytest.param({"tiers": ["spot", 3]}, "tiers[1]", id="tier-type"),
    pytest.param({"gpus": 1}, "gpus", id="unknown-top-level"),
    pytest.param({"duration_seconds": -5}, "duration", id="stored-duration"),
    pytest.param({"elastic": True, "parallel_fraction": 0}, "elastic", id="stored-parallel-fraction"),
])
def test_parse_hint_names_dag_task_and_field(stored, field):
    with pytest.raises(InvalidHintError) as err:
        parse_hint({HINT_KEY: stored}, dag_id="etl", task_id="load")
    msg = str(err.value)
    assert "DAG 'etl'" in msg and "task 'load'" in msg and f"field {field!r}" in msg
    assert (err.value.dag_id, err.value.task_id, err.value.field) == ("etl", "load", field)


def test_parse_hint_without_a_hint_and_with_a_non_mapping():
    assert parse_hint({"other": 1}) is None and parse_hint(None) is None and parse_hint({}) is None
    with pytest.raises(InvalidHintError, match="field 'ai_scheduler'"):
        parse_hint({HINT_KEY: "spot"}, dag_id="d", task_id="t")


def test_every_problem_is_listed_the_first_named_as_the_field():
    with pytest.raises(InvalidHintError) as err:
        parse_hint({HINT_KEY: {"budget_usd": -1, "tiers": ["x"]}}, dag_id="d", task_id="t")
    assert err.value.field == "budget_usd" and "tiers[0]" in str(err.value)


# -- Airflow: serialization, default_args, DeadlineAlert, parse-time policy -----------------------------

def _dag(dag_id: str = "ser", **kw):
    from airflow.sdk import DAG

    return DAG(dag_id, schedule=None, start_date=NOW, **kw)


def _serialized_round_trip(dag):
    from airflow.serialization.serialized_objects import DagSerialization

    return DagSerialization.from_dict(json.loads(json.dumps(DagSerialization.to_dict(dag))))


def test_hint_survives_dag_serialization_including_mapped_tasks():
    from airflow.providers.standard.operators.empty import EmptyOperator

    with _dag() as dag:
        EmptyOperator(task_id="t", executor_config=placement(checkpointable=True, tiers=("spot",), deadline=AT))
        EmptyOperator.partial(task_id="m", executor_config=placement(priority=4)).expand(doc=["a", "b"])
    restored = _serialized_round_trip(dag)
    hint = parse_hint(restored.get_task("t").executor_config, task_id="t")
    assert hint.checkpointable and hint.tiers == ["spot"] and hint.deadline_at(NOW) == AT
    assert parse_hint(restored.get_task("m").executor_config, task_id="m").priority == 4


def test_default_args_give_dag_wide_defaults_and_a_task_config_replaces_them():
    from airflow.providers.standard.operators.empty import EmptyOperator

    defaults = placement(tiers=("spot",), priority=2)
    with _dag(default_args={"executor_config": defaults}) as dag:
        EmptyOperator(task_id="inherits")
        EmptyOperator(task_id="replaces", executor_config=placement(priority=9))
        EmptyOperator(task_id="extends", executor_config=placement(priority=9, base=defaults))
    hints = {t.task_id: parse_hint(t.executor_config) for t in _serialized_round_trip(dag).tasks}
    assert (hints["inherits"].tiers, hints["inherits"].priority) == (["spot"], 2)
    assert (hints["replaces"].tiers, hints["replaces"].priority) == (None, 9)
    assert (hints["extends"].tiers, hints["extends"].priority) == (["spot"], 9)


async def _notify(**kwargs):  # a DeadlineAlert needs a callback; never called here
    return None


def _alert(reference, hours: float):
    from airflow.sdk import AsyncCallback, DeadlineAlert

    return DeadlineAlert(reference=reference, interval=timedelta(hours=hours),
                         callback=AsyncCallback(f"{__name__}._notify"))


def test_dag_deadline_from_queued_at_fixed_and_average_runtime():
    from airflow.sdk import DeadlineReference as R

    queued = _dag("q", deadline=_alert(R.DAGRUN_QUEUED_AT, 2))
    fixed = _dag("f", deadline=_alert(R.FIXED_DATETIME(AT), 1))
    average = _dag("a", deadline=_alert(R.AVERAGE_RUNTIME(max_runs=3), 1))
    both = _dag("b", deadline=[_alert(R.DAGRUN_LOGICAL_DATE, 5), _alert(R.DAGRUN_QUEUED_AT, 3)])
    for dag in (queued, fixed, average, both):  # the same answer parsed and as the scheduler sees it
        for form in (dag, _serialized_round_trip(dag)):
            expected = {"q": timedelta(hours=2), "f": AT + timedelta(hours=1), "a": None, "b": timedelta(hours=3)}
            assert dag_deadline(form) == expected[dag.dag_id], (dag.dag_id, type(form).__name__)
    assert dag_deadline(_dag("none")) is None


def test_resolve_dag_deadline_uses_the_right_anchor():
    from airflow.sdk import DeadlineReference as R

    dag = _dag("b", deadline=[_alert(R.DAGRUN_LOGICAL_DATE, 5), _alert(R.DAGRUN_QUEUED_AT, 3)])
    logical, queued = NOW - timedelta(hours=4), NOW
    assert resolve_dag_deadline(dag, queued_at=queued, logical_date=logical) == logical + timedelta(hours=5)
    assert resolve_dag_deadline(dag, queued_at=queued) == queued + timedelta(hours=3)
    fixed = _serialized_round_trip(_dag("f", deadline=_alert(R.FIXED_DATETIME(AT), 1)))
    assert resolve_dag_deadline(fixed, queued_at=None) == AT + timedelta(hours=1)


def test_dag_deadline_of_a_dag_read_from_the_db_looks_up_its_alert_rows(tmp_path):
    """A DAG loaded from the metadata DB holds deadline_alert row ids, not the alerts themselves."""
    from airflow.models.deadline_alert import DeadlineAlert as DeadlineAlertModel
    from airflow.sdk import DeadlineReference as R
    from airflow.serialization.serialized_objects import DagSerialization
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    dag = _dag("db", deadline=[_alert(R.FIXED_DATETIME(AT), 1), _alert(R.DAGRUN_QUEUED_AT, 2)])
    encoded = DagSerialization.to_dict(dag)["dag"]["deadline"]
    engine = create_engine(f"sqlite:///{tmp_path / 'd.db'}")
    DeadlineAlertModel.__table__.create(engine)
    ids = [uuid.uuid4() for _ in encoded]
    with Session(engine) as session:
        for i, data in zip(ids, encoded, strict=True):
            session.add(DeadlineAlertModel(id=i, serialized_dag_id=uuid.uuid4(), reference=data["reference"],
                                           interval=data["interval"], callback_def=data["callback"]))
        session.commit()

        class FromDb:
            deadline = [str(i) for i in ids]

        assert dag_deadline(FromDb(), session=session) == timedelta(hours=2)
        assert resolve_dag_deadline(FromDb(), queued_at=NOW, session=session) == NOW + timedelta(hours=2)
        assert resolve_dag_deadline(FromDb(), queued_at=AT, session=session) == AT + timedelta(hours=1)
    engine.dispose()


def test_an_unreadable_deadline_alert_table_means_no_deadline_not_a_crash(tmp_path, caplog):
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    class FromDb:
        deadline = [str(uuid.uuid4())]

    engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")  # no deadline_alert table
    with Session(engine) as session:
        assert dag_deadline(FromDb(), session=session) is None
    assert "could not read the DAG's deadline alerts" in caplog.text
    engine.dispose()


BAD_DAG = """
from datetime import datetime
from airflow.sdk import dag, task
from airflow_ai_scheduler.airflow.hints import placement

@dag(schedule=None, start_date=datetime(2026, 1, 1))
def bad_hint():
    @task(executor_config=placement(tiers=("spot",)))
    def fine():
        pass

    @task(executor_config={"ai_scheduler": {"resources": {"vcpus": -2}}})
    def crunch():
        pass

    fine() >> crunch()

bad_hint()

@dag(schedule=None, start_date=datetime(2026, 1, 1))
def good_hint():
    @task(executor_config=placement(deadline=datetime(2026, 1, 2).astimezone(), priority=3))
    def fine():
        pass

    fine()

good_hint()
"""


def test_bad_hint_fails_the_dag_import_naming_dag_task_and_field(tmp_path):
    from airflow.dag_processing.dagbag import DagBag

    (tmp_path / "bad.py").write_text(textwrap.dedent(BAD_DAG))
    bag = DagBag(str(tmp_path))
    (err,) = bag.import_errors.values()
    assert "DAG 'bad_hint'" in err and "task 'crunch'" in err and "field 'resources.vcpus'" in err
    assert "bad_hint" not in bag.dags and "good_hint" in bag.dags  # one bad DAG does not sink its file-mates


def test_cluster_policy_is_registered_through_the_entry_point():
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="airflow.policy") if e.name == "ai_scheduler"]
    module = ep.load()
    from airflow.exceptions import AirflowClusterPolicyViolation
    from airflow.providers.standard.operators.empty import EmptyOperator

    with _dag("pol"):
        good = EmptyOperator(task_id="good", executor_config=placement(priority=1))
        bad = EmptyOperator(task_id="bad", executor_config={HINT_KEY: {"tiers": ["cheap"]}})
    module.task_policy(good)  # no error
    with pytest.raises(AirflowClusterPolicyViolation, match=r"DAG 'pol'.*task 'bad'.*field 'tiers\[0\]'"):
        module.task_policy(bad)


def test_a_bad_placement_in_a_dag_file_names_the_dag_and_the_task_at_import():
    from airflow.exceptions import AirflowClusterPolicyViolation
    from airflow.sdk import dag, task

    from airflow_ai_scheduler.airflow.policy import task_policy

    @dag(schedule=None, start_date=NOW, default_args={"executor_config": placement(deadline="tomorrow")})
    def eager():
        @task(executor_config=placement(resources=Resources(vcpus=-1)))
        def crunch():
            pass

        @task
        def defaults():  # executor_config from default_args
            pass

        crunch()
        defaults()

    d = eager()  # defining the DAG raises nothing: the cluster policy reports at import
    with pytest.raises(AirflowClusterPolicyViolation) as crunch:
        task_policy(d.get_task("crunch"))
    assert str(crunch.value).count("\n") == 0
    assert "DAG 'eager'" in str(crunch.value) and "task 'crunch'" in str(crunch.value)
    assert "field 'resources.vcpus'" in str(crunch.value)
    with pytest.raises(AirflowClusterPolicyViolation, match=r"DAG 'eager'.*task 'defaults'.*field 'deadline'"):
        task_policy(d.get_task("defaults"))


def test_a_hard_deadline_already_past_fails_at_import_and_a_soft_one_does_not():
    from airflow_ai_scheduler.airflow.hints import check_at_import

    past = datetime(2020, 1, 1, tzinfo=timezone.utc)
    with pytest.raises(InvalidHintError, match=r"task 't'.*field 'deadline'.*already in the past"):
        check_at_import(placement(deadline=past, hard_deadline=True), dag_id="d", task_id="t")
    assert check_at_import(placement(deadline=past), dag_id="d", task_id="t").deadline is not None
    assert check_at_import(placement(deadline=timedelta(hours=1), hard_deadline=True), dag_id="d", task_id="t")


def test_resources_helper_reads_like_the_model():
    r = Resources(vcpus=4, gpus=1)
    assert (r.vcpus, r.gpus, r.memory_gib, r.gpu_type) == (4, 1, 1.0, None)
    assert parse_hint(placement(resources=r)).resources.vcpus == 4
