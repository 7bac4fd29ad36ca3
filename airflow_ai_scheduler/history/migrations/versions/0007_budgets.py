"""Budgets per task, DAG, owner, tag or team over a run, a day or a month.

Revision ID: 0007_budgets
Revises: 0006_carbon_commitments
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_budgets"
down_revision = "0006_carbon_commitments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ai_scheduler_budget",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(20), nullable=False),
        sa.Column("subject", sa.String(250), nullable=False),
        sa.Column("period", sa.String(20), nullable=False),
        sa.Column("amount_usd", sa.Float, nullable=False),
        sa.Column("policy", sa.String(20), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("updated_by", sa.String(250)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("scope", "subject", "period", name="uq_ai_scheduler_budget_scope"),
    )
    # the spend queries filter history by time window and DAG
    op.create_index("idx_ai_scheduler_history_start", "ai_scheduler_task_history", ["actual_start"])


def downgrade() -> None:
    op.drop_index("idx_ai_scheduler_history_start", table_name="ai_scheduler_task_history")
    op.drop_table("ai_scheduler_budget")
