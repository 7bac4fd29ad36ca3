"""Spot recovery: the policies that decide where a task goes after a preemption, and task checkpoints."""

from __future__ import annotations

from airflow_ai_scheduler.recovery.checkpoint import Checkpoint
from airflow_ai_scheduler.recovery.policy import (
    BUILTIN,
    DEFAULT_POLICY,
    AdaptiveSlack,
    AlwaysOnDemand,
    Decision,
    GreedySpot,
    ProgressState,
    SafeUniformProgress,
    SpotOnlyNaive,
    SpotPolicy,
    UniformProgress,
    get_policy,
)

__all__ = ["BUILTIN", "DEFAULT_POLICY", "AlwaysOnDemand", "Checkpoint", "Decision", "GreedySpot", "ProgressState",
           "SafeUniformProgress", "AdaptiveSlack", "SpotOnlyNaive", "SpotPolicy", "UniformProgress", "get_policy"]
