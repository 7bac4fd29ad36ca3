"""``airflow db migrate`` creates and upgrades our tables through this manager (declared in the provider
info's ``db-managers``), with alembic migrations of our own and a version table of our own."""

from __future__ import annotations

from pathlib import Path

from airflow.utils.db_manager import BaseDBManager

from airflow_ai_scheduler.history.tables import metadata

_HERE = Path(__file__).parent


class AiSchedulerDBManager(BaseDBManager):
    metadata = metadata
    migration_dir = str(_HERE / "migrations")
    alembic_file = str(_HERE / "migrations" / "alembic.ini")
    version_table_name = "ai_scheduler_alembic_version"
    supports_table_dropping = True
    revision_heads_map = {"0.1.0": "0007_budgets"}

    def downgrade(self, to_revision, from_revision=None, show_sql_only=False):  # type: ignore[no-untyped-def]
        from alembic import command

        command.downgrade(self.get_alembic_config(), revision=to_revision, sql=show_sql_only)
