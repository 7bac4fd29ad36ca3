"""Hints that cannot be met: caught at import (impossible values) or at planning (unmeetable against the
configured fleets), and shown to the user with the reason — never a task quietly run on a default fleet."""

from __future__ import annotations

import pytest

CASES = [  # (DAG, task, the field the message must name, fault)
    pytest.param("f_hint_gpu", "train", "resources.gpus", "hint gpus=64, no GPU fleet", id="gpus"),
    pytest.param("f_hint_provider", "crunch", "providers", "hint on a provider no fleet is on", id="provider"),
    pytest.param("f_hint_budget", "crunch", "budget_usd", "hint budget_usd=0", id="budget0"),
    pytest.param("f_hint_past", "crunch", "deadline", "hard deadline already past", id="past-deadline"),
]


@pytest.mark.parametrize("dag_id,task_id,field,name", CASES)
def test_impossible_hint_is_shown(faults_af, fault, dag_id, task_id, field, name):
    fault(name)
    af = faults_af
    errors = [e["stack_trace"] for e in af.import_errors() if dag_id in e["filename"]]
    if errors:  # caught at import: the error names the DAG, the task and the field
        assert f"DAG '{dag_id}'" in errors[0] and f"task '{task_id}'" in errors[0] and field in errors[0]
        fault.result(f"import error naming the DAG, task '{task_id}' and field '{field}'")
        return
    run_id = af.trigger(dag_id)
    af.wait_run(dag_id, run_id)
    tis = af.task_instances(dag_id, run_id)
    assert all(t["state"] in ("success", "failed", "upstream_failed", "skipped") for t in tis)  # none stuck
    status, view = af.http(f"/ai-scheduler/api/runs/{dag_id}/{run_id}", af.token("admin"))
    assert status == 200 and field in view and task_id in view, "the run view does not say why"
    fault.result(f"the run view names task '{task_id}' and field '{field}'")
