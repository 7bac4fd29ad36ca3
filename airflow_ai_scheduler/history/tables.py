"""The plan and history tables, on their own SQLAlchemy metadata (created by ``airflow db migrate``).

``ai_scheduler_plan``        one row per plan made for a DAG run (the latest not superseded is in force)
``ai_scheduler_placement``   one row per task of a plan: where, when, planned cost, rationale
``ai_scheduler_task_history`` one row per finished task try (or preempted attempt): actual runtime and cost,
                             what it used (CPU, memory, GPU memory, I/O) and its anomaly flags
``ai_scheduler_llm_exchange`` every LLM planning call: prompt, response, model, latency, tokens, outcome
``ai_scheduler_plan_approval`` one row per DAG run whose plan needs a person's approval: pending/approved/rejected
``ai_scheduler_plan_claim``  which scheduler plans a DAG run (one row per run; HA schedulers plan once)
``ai_scheduler_next_run``     per DAG, planning settings (a what-if's) its next run is planned with, once
``ai_scheduler_budget``      budgets per task, DAG, owner, tag or team over a run, day or month (airflow_ai_scheduler.budgets)
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

metadata = MetaData()


class UtcDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on SQLite (which stores naive text) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):  # type: ignore[no-untyped-def]
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value, dialect):  # type: ignore[no-untyped-def]
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


def _now() -> datetime:
    return datetime.now(timezone.utc)


ID = String(250)

llm_exchange = Table(
    "ai_scheduler_llm_exchange", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dag_id", ID, nullable=True),
    Column("run_id", ID, nullable=True),
    Column("created_at", UtcDateTime, nullable=False, default=_now),
    Column("model", String(200), nullable=True),
    Column("prompt_hash", String(64), nullable=True),
    Column("prompt", Text, nullable=True),
    Column("response", Text, nullable=True),
    Column("latency_seconds", Float, nullable=True),
    Column("input_tokens", Integer, nullable=True),
    Column("output_tokens", Integer, nullable=True),
    Column("outcome", String(20), nullable=False),
    Column("reason", Text, nullable=True),
    Column("attempts", Integer, nullable=True),
    Column("repair", Text, nullable=True),  # JSON {kept, changed, retimed, added}: job ids
)

plan = Table(
    "ai_scheduler_plan", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dag_id", ID, nullable=False),
    Column("run_id", ID, nullable=False),
    Column("planner", String(50), nullable=False),
    Column("status", String(20), nullable=False),
    Column("objective_cost", Float, nullable=False),
    Column("objective_tardiness", Float, nullable=False),
    Column("objective_risk", Float, nullable=False),
    Column("objective_total", Float, nullable=False),
    Column("lower_bound", Float, nullable=True),
    Column("gap", Float, nullable=True),
    Column("planning_seconds", Float, nullable=True),
    Column("manifest_hash", String(64), nullable=True),
    Column("manifest_json", Text, nullable=True),
    Column("plan_json", Text, nullable=False),
    Column("on_demand_cost", Float, nullable=True),
    Column("created_at", UtcDateTime, nullable=False, default=_now),
    Column("superseded", Boolean, nullable=False, default=False),
    Column("llm_exchange_id", Integer, ForeignKey("ai_scheduler_llm_exchange.id", ondelete="SET NULL"), nullable=True),
    Column("objective_co2e_kg", Float, nullable=True),  # expected kg CO2e of the plan
    Column("objective_delay_cost", Float, nullable=True),  # USD of delay past the earliest possible ends
    Index("idx_ai_scheduler_plan_run", "dag_id", "run_id"),
)

placement = Table(
    "ai_scheduler_placement", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("plan_id", Integer, ForeignKey("ai_scheduler_plan.id", ondelete="CASCADE"), nullable=False),
    Column("dag_id", ID, nullable=False),
    Column("run_id", ID, nullable=False),
    Column("job_id", ID, nullable=False),
    Column("offer_id", String(250), nullable=False),
    Column("provider", String(50), nullable=False),
    Column("region", String(100), nullable=False),
    Column("instance_type", String(100), nullable=False),
    Column("tier", String(20), nullable=False),
    Column("planned_start", UtcDateTime, nullable=False),
    Column("planned_end", UtcDateTime, nullable=False),
    Column("planned_cost", Float, nullable=False),
    Column("rationale", Text, nullable=True),
    Column("planned_co2e_kg", Float, nullable=True),
    Column("commitment", String(250), nullable=True),  # commitmentId when on reserved/savings-plan capacity
    Index("idx_ai_scheduler_placement_plan", "plan_id"),
)

task_history = Table(
    "ai_scheduler_task_history", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dag_id", ID, nullable=False),
    Column("task_id", ID, nullable=False),
    Column("run_id", ID, nullable=False),
    Column("map_index", Integer, nullable=False, default=-1),
    Column("try_number", Integer, nullable=False),
    Column("fleet", String(250), nullable=True),
    Column("provider", String(50), nullable=True),
    Column("region", String(100), nullable=True),
    Column("instance_type", String(100), nullable=True),
    Column("tier", String(20), nullable=True),
    Column("planned_start", UtcDateTime, nullable=True),
    Column("planned_end", UtcDateTime, nullable=True),
    Column("planned_cost", Float, nullable=True),
    Column("actual_start", UtcDateTime, nullable=True),
    Column("actual_end", UtcDateTime, nullable=True),
    Column("runtime_seconds", Float, nullable=True),
    Column("price_per_hour_at_launch", Float, nullable=True),
    Column("actual_cost", Float, nullable=True),
    Column("outcome", String(20), nullable=False),
    Column("hostname", String(1000), nullable=True),
    Column("recorded_at", UtcDateTime, nullable=False, default=_now),
    # what the try used, measured in the task runner (airflow/usage_listener.py); None when not measured
    Column("cpu_seconds", Float, nullable=True),
    Column("usage_seconds", Float, nullable=True),  # wall seconds the measurement covered (the task's execute)
    Column("peak_memory_mib", Float, nullable=True),
    Column("gpu_memory_mib", Float, nullable=True),
    Column("io_read_bytes", BigInteger, nullable=True),
    Column("io_write_bytes", BigInteger, nullable=True),
    Column("usage_source", String(50), nullable=True),
    # measures in which the try is an outlier against its task's history (usage/anomaly.py), e.g. "runtime_high"
    Column("anomaly", String(100), nullable=True),
    Column("anomaly_detail", Text, nullable=True),
    Column("co2e_kg", Float, nullable=True),  # measured runtime × the placement's kg CO2e per hour
    Index("idx_ai_scheduler_history_task", "dag_id", "task_id"),
    Index("idx_ai_scheduler_history_run", "dag_id", "run_id"),
    Index("idx_ai_scheduler_history_start", "actual_start"),
)

budget = Table(
    "ai_scheduler_budget", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("scope", String(20), nullable=False),  # task | dag | owner | tag | team
    Column("subject", ID, nullable=False),
    Column("period", String(20), nullable=False),  # run | day | month
    Column("amount_usd", Float, nullable=False),
    Column("policy", String(20), nullable=False),  # hold | fail
    Column("note", Text, nullable=True),
    Column("updated_by", String(250), nullable=True),
    Column("updated_at", UtcDateTime, nullable=False, default=_now),
    UniqueConstraint("scope", "subject", "period", name="uq_ai_scheduler_budget_scope"),
)

plan_approval = Table(
    "ai_scheduler_plan_approval", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dag_id", ID, nullable=False),
    Column("run_id", ID, nullable=False),
    Column("plan_id", Integer, ForeignKey("ai_scheduler_plan.id", ondelete="SET NULL"), nullable=True),
    Column("state", String(20), nullable=False),  # pending | approved | rejected
    Column("requested_at", UtcDateTime, nullable=False, default=_now),
    Column("timeout_at", UtcDateTime, nullable=True),
    Column("on_timeout", String(20), nullable=False, default="reject"),  # approve | reject
    Column("decided_at", UtcDateTime, nullable=True),
    Column("decided_by", String(250), nullable=True),
    Column("reason", Text, nullable=True),
    UniqueConstraint("dag_id", "run_id", name="uq_ai_scheduler_plan_approval_run"),
)

plan_claim = Table(
    "ai_scheduler_plan_claim", metadata,
    Column("dag_id", ID, primary_key=True),
    Column("run_id", ID, primary_key=True),
    Column("claimed_by", String(250), nullable=False),
    Column("claimed_at", UtcDateTime, nullable=False, default=_now),
)

next_run = Table(
    "ai_scheduler_next_run", metadata,
    Column("dag_id", ID, primary_key=True),
    Column("settings_json", Text, nullable=False),  # {planner, weights, tiers, providers, regions}
    Column("set_by", String(250), nullable=True),
    Column("set_at", UtcDateTime, nullable=False, default=_now),
)
