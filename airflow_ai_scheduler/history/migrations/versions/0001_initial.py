"""Plan, placement, task history and LLM exchange tables.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = sa.String(250)


def upgrade() -> None:
    op.create_table(
        "ai_scheduler_llm_exchange",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dag_id", ID), sa.Column("run_id", ID),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("model", sa.String(200)), sa.Column("prompt_hash", sa.String(64)),
        sa.Column("prompt", sa.Text), sa.Column("response", sa.Text),
        sa.Column("latency_seconds", sa.Float), sa.Column("input_tokens", sa.Integer),
        sa.Column("output_tokens", sa.Integer), sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text), sa.Column("attempts", sa.Integer),
        sa.Column("repair", sa.Text),
    )
    op.create_table(
        "ai_scheduler_plan",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dag_id", ID, nullable=False), sa.Column("run_id", ID, nullable=False),
        sa.Column("planner", sa.String(50), nullable=False), sa.Column("status", sa.String(20), nullable=False),
        sa.Column("objective_cost", sa.Float, nullable=False),
        sa.Column("objective_tardiness", sa.Float, nullable=False),
        sa.Column("objective_risk", sa.Float, nullable=False),
        sa.Column("objective_total", sa.Float, nullable=False),
        sa.Column("lower_bound", sa.Float), sa.Column("gap", sa.Float), sa.Column("planning_seconds", sa.Float),
        sa.Column("manifest_hash", sa.String(64)), sa.Column("manifest_json", sa.Text),
        sa.Column("plan_json", sa.Text, nullable=False), sa.Column("on_demand_cost", sa.Float),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("superseded", sa.Boolean, nullable=False),
        sa.Column("llm_exchange_id", sa.Integer,
                  sa.ForeignKey("ai_scheduler_llm_exchange.id", ondelete="SET NULL")),
    )
    op.create_index("idx_ai_scheduler_plan_run", "ai_scheduler_plan", ["dag_id", "run_id"])
    op.create_table(
        "ai_scheduler_placement",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("plan_id", sa.Integer, sa.ForeignKey("ai_scheduler_plan.id", ondelete="CASCADE"), nullable=False),
        sa.Column("dag_id", ID, nullable=False), sa.Column("run_id", ID, nullable=False),
        sa.Column("job_id", ID, nullable=False), sa.Column("offer_id", sa.String(250), nullable=False),
        sa.Column("provider", sa.String(50), nullable=False), sa.Column("region", sa.String(100), nullable=False),
        sa.Column("instance_type", sa.String(100), nullable=False), sa.Column("tier", sa.String(20), nullable=False),
        sa.Column("planned_start", TS, nullable=False), sa.Column("planned_end", TS, nullable=False),
        sa.Column("planned_cost", sa.Float, nullable=False), sa.Column("rationale", sa.Text),
    )
    op.create_index("idx_ai_scheduler_placement_plan", "ai_scheduler_placement", ["plan_id"])
    op.create_table(
        "ai_scheduler_task_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dag_id", ID, nullable=False), sa.Column("task_id", ID, nullable=False),
        sa.Column("run_id", ID, nullable=False), sa.Column("map_index", sa.Integer, nullable=False),
        sa.Column("try_number", sa.Integer, nullable=False), sa.Column("fleet", sa.String(250)),
        sa.Column("provider", sa.String(50)), sa.Column("region", sa.String(100)),
        sa.Column("instance_type", sa.String(100)), sa.Column("tier", sa.String(20)),
        sa.Column("planned_start", TS), sa.Column("planned_end", TS), sa.Column("planned_cost", sa.Float),
        sa.Column("actual_start", TS), sa.Column("actual_end", TS), sa.Column("runtime_seconds", sa.Float),
        sa.Column("price_per_hour_at_launch", sa.Float), sa.Column("actual_cost", sa.Float),
        sa.Column("outcome", sa.String(20), nullable=False), sa.Column("hostname", sa.String(1000)),
        sa.Column("recorded_at", TS, nullable=False),
    )
    op.create_index("idx_ai_scheduler_history_task", "ai_scheduler_task_history", ["dag_id", "task_id"])
    op.create_index("idx_ai_scheduler_history_run", "ai_scheduler_task_history", ["dag_id", "run_id"])


def downgrade() -> None:
    op.drop_index("idx_ai_scheduler_history_run", table_name="ai_scheduler_task_history")
    op.drop_index("idx_ai_scheduler_history_task", table_name="ai_scheduler_task_history")
    op.drop_table("ai_scheduler_task_history")
    op.drop_index("idx_ai_scheduler_placement_plan", table_name="ai_scheduler_placement")
    op.drop_table("ai_scheduler_placement")
    op.drop_index("idx_ai_scheduler_plan_run", table_name="ai_scheduler_plan")
    op.drop_table("ai_scheduler_plan")
    op.drop_table("ai_scheduler_llm_exchange")
