"""The ``[ai_scheduler]`` options: names and defaults in one place, read lazily (never at import time).

``get_provider_info()`` declares the same options for Airflow's config machinery; a test asserts both
agree so the documentation and the code cannot drift.
"""

from __future__ import annotations

SECTION = "ai_scheduler"

CONFIG_DEFAULTS: dict[str, str] = {
    "planner": "optimal",
    "planner_time_limit_seconds": "10",
    "plan_wait_seconds": "0",
    "fleets": "",
    "fleets_file": "",
    "default_duration_hours": "0.1",
    "history_lookback_runs": "20",
    "cost_weight": "1.0",
    "tardiness_weight": "10.0",
    "risk_weight": "1.0",
    "catalog_path": "",
    "llm_conn_id": "pydanticai_default",
    "llm_model": "",
    "llm_timeout_seconds": "60",
    "spot_policy": "adaptive_slack",
    "preemption_retries": "3",
    "max_hold_seconds": "300",
    "checkpoint_dir": "",
    "delay_cost_per_hour": "1.0",
    "carbon_weight": "0.0",
    "carbon_forecast_file": "",
    "commitments": "",
    "approval_timeout_minutes": "",
    "approval_on_timeout": "reject",
    "measure_usage": "True",
    "dispatch_policy": "priority_weight",
    "dispatch_options": "",
}
