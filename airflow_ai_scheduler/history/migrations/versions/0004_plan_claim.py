"""Plan claims: which scheduler plans a DAG run (Airflow's HA mode runs several at once).

Revision ID: 0004_plan_claim
Revises: 0003_task_usage
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_plan_claim"
down_revision = "0003_task_usage"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ai_scheduler_plan_claim",
        sa.Column("dag_id", sa.String(250), primary_key=True),
        sa.Column("run_id", sa.String(250), primary_key=True),
        sa.Column("claimed_by", sa.String(250), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ai_scheduler_plan_claim")
