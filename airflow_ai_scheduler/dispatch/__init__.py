"""Dispatch policies (pure): which due task a fleet runs next. See :mod:`.base`."""

from __future__ import annotations

from airflow_ai_scheduler.dispatch.base import (
    Candidate,
    DispatchPolicy,
    FleetView,
    PriorityWeightPolicy,
    get_policy,
    policy_names,
    register_policy,
)

__all__ = ["Candidate", "DispatchPolicy", "FleetView", "PriorityWeightPolicy", "get_policy", "policy_names",
           "register_policy"]
