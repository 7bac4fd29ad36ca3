"""Helpers for history tests: real migrations and a session scope on any database URL."""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker


def migrate(url: str) -> None:
    """Run our real alembic migrations (not create_all) against ``url``."""
    from alembic import command
    from alembic.config import Config

    from airflow_ai_scheduler.history.db_manager import AiSchedulerDBManager

    cfg = Config(AiSchedulerDBManager.alembic_file)
    cfg.set_main_option("script_location", AiSchedulerDBManager.migration_dir)
    cfg.set_main_option("sqlalchemy.url", url)
    command.upgrade(cfg, "head")


def scope_for(url: str, **engine_options):
    engine = create_engine(url, **engine_options)
    factory = sessionmaker(bind=engine)

    @contextmanager
    def scope():
        s = factory()
        try:
            yield s
            s.commit()
        except Exception:
            s.rollback()
            raise
        finally:
            s.close()

    return scope, engine


