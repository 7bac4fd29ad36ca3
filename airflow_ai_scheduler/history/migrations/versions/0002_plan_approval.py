"""Plan approval: one row per DAG run whose plan a person must approve before its tasks start.

Revision ID: 0002_plan_approval
Revises: 0001_initial
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_plan_approval"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = sa.String(250)


def upgrade() -> None:
    op.create_table(
        "ai_scheduler_plan_approval",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dag_id", ID, nullable=False), sa.Column("run_id", ID, nullable=False),
        sa.Column("plan_id", sa.Integer, sa.ForeignKey("ai_scheduler_plan.id", ondelete="SET NULL")),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("requested_at", TS, nullable=False), sa.Column("timeout_at", TS),
        sa.Column("on_timeout", sa.String(20), nullable=False),
        sa.Column("decided_at", TS), sa.Column("decided_by", sa.String(250)), sa.Column("reason", sa.Text),
        sa.UniqueConstraint("dag_id", "run_id", name="uq_ai_scheduler_plan_approval_run"),
    )


def downgrade() -> None:
    op.drop_table("ai_scheduler_plan_approval")
