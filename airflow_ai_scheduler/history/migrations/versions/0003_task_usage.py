"""Task history: what each try used (CPU, memory, GPU memory, I/O) and its anomaly flags.

Revision ID: 0003_task_usage
Revises: 0002_plan_approval
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_task_usage"
down_revision = "0002_plan_approval"
branch_labels = None
depends_on = None

TABLE = "ai_scheduler_task_history"
COLUMNS = (
    ("cpu_seconds", sa.Float), ("usage_seconds", sa.Float), ("peak_memory_mib", sa.Float), ("gpu_memory_mib", sa.Float),
    ("io_read_bytes", sa.BigInteger), ("io_write_bytes", sa.BigInteger), ("usage_source", sa.String(50)),
    ("anomaly", sa.String(100)), ("anomaly_detail", sa.Text),
)


def upgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        for name, type_ in COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
