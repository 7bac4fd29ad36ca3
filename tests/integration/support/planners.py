"""Planners for the executor-core integration tests, chosen per run (conf ``ai_scheduler_planner``) by
import path: one that takes a minute, one whose plans break the rules."""

from __future__ import annotations

import os
import time

from airflow_ai_scheduler.planning.greedy import GreedyPlanner


class SlowPlanner:
    """A planner that answers after ``AI_SCHEDULER_TEST_SLOW_SECONDS`` (default 60), as a long CP-SAT solve
    or a slow LLM would."""

    name = "slow"

    def __init__(self, **_: object) -> None:
        self.seconds = float(os.environ.get("AI_SCHEDULER_TEST_SLOW_SECONDS", "60"))

    def plan(self, manifest, offers=None):
        time.sleep(self.seconds)
        return GreedyPlanner().plan(manifest, offers).model_copy(update={"planner": self.name})


class TrapPlanner:
    """Puts every task on the fleet ``trap`` while claiming another fleet's place and price: the validator
    must reject the plan, and no task may run on ``trap``."""

    name = "trap"

    def __init__(self, **_: object) -> None:
        pass

    def plan(self, manifest, offers=None):
        plan = GreedyPlanner().plan(manifest, offers)
        placements = [p.model_copy(update={"offer_id": "trap", "estimated_cost": 0.0}) for p in plan.placements]
        return plan.model_copy(update={"planner": self.name, "placements": placements})
