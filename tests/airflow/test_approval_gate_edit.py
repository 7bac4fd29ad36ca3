"""The approval gate and an edited plan: a person approved a what-if plan, stored as the run's plan; tasks
wait until the executor has loaded it, then go where it says."""

from __future__ import annotations

from airflow_ai_scheduler.airflow.approval_gate import ApprovalGate
from airflow_ai_scheduler.airflow.gates import GateInput
from airflow_ai_scheduler.history.approval import ApprovalStatus


class _Store:
    def __init__(self, status: ApprovalStatus) -> None:
        self.status = status

    def approval_status(self, dag_id: str, run_id: str) -> ApprovalStatus:
        return self.status


class _RunPlan:
    needs_approval = True

    def __init__(self, stored_id: int) -> None:
        self.stored_id = stored_id


def _task(stored_id: int) -> GateInput:
    return GateInput(key=None, dag_id="d", run_id="r", task_id="t", fleet="f", planned_cost=1.0,
                     plan=_RunPlan(stored_id))


def test_an_approved_edited_plan_is_loaded_before_tasks_go():
    loaded: list[tuple[str, str]] = []
    gate = ApprovalGate(store=_Store(ApprovalStatus("approved", "plan approved by ana", plan_id=7)))
    gate.reload_plan = lambda dag_id, run_id: loaded.append((dag_id, run_id))
    assert gate.check(_task(5)).action == "hold"  # status not read yet
    gate.refresh({("d", "r")})
    verdict = gate.check(_task(5))  # approved, but the executor still routes by plan 5
    assert (verdict.action, verdict.reason) == ("hold", "loading the plan approved in the UI")
    gate.refresh({("d", "r")})
    assert loaded == [("d", "r")]
    assert gate.check(_task(7)) is None  # the approved plan is in force: go


def test_an_approved_plan_that_was_not_edited_goes_at_once():
    gate = ApprovalGate(store=_Store(ApprovalStatus("approved", "plan approved by ana", plan_id=5)))
    gate.check(_task(5))
    gate.refresh({("d", "r")})
    assert gate.check(_task(5)) is None
