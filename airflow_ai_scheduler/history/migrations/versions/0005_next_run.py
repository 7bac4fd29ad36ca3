"""Next-run settings: planning settings (from a what-if in the UI) that a DAG's next run is planned with.

Revision ID: 0005_next_run
Revises: 0004_plan_claim
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_next_run"
down_revision = "0004_plan_claim"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ai_scheduler_next_run",
        sa.Column("dag_id", sa.String(250), primary_key=True),
        sa.Column("settings_json", sa.Text, nullable=False),
        sa.Column("set_by", sa.String(250)),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ai_scheduler_next_run")
