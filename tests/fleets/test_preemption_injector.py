"""PreemptionInjector: which tasks a local spot fleet takes capacity from, and when (a fake clock)."""

from __future__ import annotations

from collections import namedtuple

from airflow_ai_scheduler.fleets.preemption import PreemptionInjector


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


Key = namedtuple("Key", "task_id try_number")


def _key(task_id: str, try_number: int = 1):
    return Key(task_id, try_number)


def test_after_seconds_only_the_named_tasks_and_at_most_max_times():
    clock = _Clock()
    inj = PreemptionInjector({"preempt_after_seconds": 8, "preempt_max": 1, "preempt_task_ids": ["train"]}, clock)
    prep, train, train2 = _key("prepare"), _key("train"), _key("train", 2)
    for k in (prep, train):
        inj.started(k)
    clock.t = 7.9
    assert not inj.due(train) and not inj.due(prep)
    clock.t = 8.0
    assert inj.due(train)
    clock.t = 100.0
    assert not inj.due(prep)  # never a target
    inj.started(train2)
    clock.t = 200.0
    assert not inj.due(train2)  # preempt_max reached


def test_without_task_ids_any_task_may_lose_capacity():
    clock = _Clock()
    inj = PreemptionInjector({"preempt_after_seconds": 3}, clock)
    k = _key("anything")
    inj.started(k)
    clock.t = 3.5
    assert inj.due(k) and inj.enabled and inj.available()
