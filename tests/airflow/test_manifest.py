"""DAG run → manifest (pure part): dependencies within the run, mapped TIs, priorities, history, deadlines."""

from __future__ import annotations

from datetime import timedelta

import pytest
from factories import NOW, offer

from airflow_ai_scheduler.airflow.hints import placement
from airflow_ai_scheduler.airflow.manifest import RunInfo, TaskInfo, build_manifest, job_id_for


def _run(tasks, **kw):
    return RunInfo(dag_id="d", run_id="r", run_start=NOW, tasks=tasks, **kw)


def test_mapped_upstreams_become_dependencies_and_finished_tasks_drop_out():
    tasks = [TaskInfo("split", state="success"),
             *[TaskInfo("process", map_index=i, upstream_task_ids=["split"]) for i in range(3)],
             TaskInfo("combine", upstream_task_ids=["process"], priority_weight=7)]
    m = build_manifest(_run(tasks), now=NOW, offers=[offer("od")])
    jobs = m.job_map
    assert set(jobs) == {"process[0]", "process[1]", "process[2]", "combine"}
    assert jobs["process[1]"].dependencies == []           # split already succeeded
    assert sorted(jobs["combine"].dependencies) == ["process[0]", "process[1]", "process[2]"]
    assert jobs["combine"].priority == 7


def test_duration_from_history_then_hint_then_default():
    tasks = [TaskInfo("a", executor_config=placement(duration=timedelta(minutes=30))),
             TaskInfo("b", executor_config=placement(duration=timedelta(minutes=30))),
             TaskInfo("c")]
    m = build_manifest(_run(tasks), now=NOW, offers=[offer("od")], estimates={"a": (2.0, 0.5, 4)},
                       default_duration_hours=0.2)
    jobs = m.job_map
    assert jobs["a"].estimated_duration_hours == pytest.approx(2.0)
    assert jobs["a"].duration_std_hours == pytest.approx(0.5)
    assert jobs["b"].estimated_duration_hours == pytest.approx(0.5)
    assert jobs["c"].estimated_duration_hours == pytest.approx(0.2)


def test_relative_deadline_and_dag_deadline_for_final_tasks():
    tasks = [TaskInfo("a", executor_config=placement(deadline=timedelta(hours=2))),
             TaskInfo("b", upstream_task_ids=["a"])]
    m = build_manifest(_run(tasks, dag_deadline_at=NOW + timedelta(hours=5)), now=NOW, offers=[offer("od")])
    assert m.job_map["a"].deadline == NOW + timedelta(hours=2)
    assert m.job_map["b"].deadline == NOW + timedelta(hours=5)   # final task gets the DAG's deadline


def test_job_ids_of_mapped_tasks():
    assert job_id_for("t", -1) == "t" and job_id_for("t", 4) == "t[4]"


def test_rightsize_hint_plans_with_measured_needs_once_there_are_enough():
    from airflow_ai_scheduler.airflow.hints import Resources
    from airflow_ai_scheduler.usage.rightsize import profile

    rows = [dict(outcome="success", runtime_seconds=600.0, usage_seconds=600.0, cpu_seconds=300.0,
                 peak_memory_mib=1000.0) for _ in range(5)]
    big = Resources(vcpus=8, memory_gib=32, gpus=1)
    tasks = [TaskInfo("opted", executor_config=placement(resources=big, rightsize=True)),
             TaskInfo("not", executor_config=placement(resources=big)),
             TaskInfo("new", executor_config=placement(resources=big, rightsize=True))]
    measured = {"opted": profile(rows), "not": profile(rows), "new": profile(rows[:1])}
    jobs = build_manifest(_run(tasks), now=NOW, offers=[offer("od", gpus=1)], measured=measured).job_map
    assert (jobs["opted"].resources.vcpus, jobs["opted"].resources.memory_gib, jobs["opted"].resources.gpus) == (1.0, 1.25, 1)
    from airflow_ai_scheduler.models import Resources as ResourcesModel

    assert jobs["not"].resources == ResourcesModel(**big) and jobs["new"].resources == ResourcesModel(**big)
