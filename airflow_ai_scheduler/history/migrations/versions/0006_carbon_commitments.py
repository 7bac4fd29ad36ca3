"""Carbon and commitments: expected kg CO2e and delay cost of a plan, kg CO2e and commitment of each
placement, kg CO2e of each try (measured runtime × the placement's kg CO2e per hour).

Revision ID: 0006_carbon_commitments
Revises: 0005_next_run
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_carbon_commitments"
down_revision = "0005_next_run"
branch_labels = None
depends_on = None

COLUMNS = {
    "ai_scheduler_plan": (("objective_co2e_kg", sa.Float), ("objective_delay_cost", sa.Float)),
    "ai_scheduler_placement": (("planned_co2e_kg", sa.Float), ("commitment", sa.String(250))),
    "ai_scheduler_task_history": (("co2e_kg", sa.Float),),
}


def upgrade() -> None:
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for name, type_ in columns:
                batch.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for name, _ in reversed(columns):
                batch.drop_column(name)
