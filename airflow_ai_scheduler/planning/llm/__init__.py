"""The LLM planner (issue 4): prompt, structured answer, validation, CP-SAT repair or fallback, audit."""

from __future__ import annotations

from airflow_ai_scheduler.planning.llm.planner import LLMPlanner, interpret
from airflow_ai_scheduler.planning.llm.prompt import MAX_PROMPT_CHARS, build_prompt
from airflow_ai_scheduler.planning.llm.schema import (
    LLMExchange,
    LLMPlanAnswer,
    PlacementAnswer,
    PlanningHistory,
    RepairSummary,
    RunCost,
    TaskStats,
)

__all__ = ["MAX_PROMPT_CHARS", "LLMExchange", "LLMPlanAnswer", "LLMPlanner", "PlacementAnswer",
           "PlanningHistory", "RepairSummary", "RunCost", "TaskStats", "build_prompt", "interpret"]
