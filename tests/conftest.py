"""Shared fixtures. Factories live in factories.py (tests/ is on sys.path)."""

from __future__ import annotations

import pytest
from factories import offer

from airflow_ai_scheduler.models import Offer


@pytest.fixture
def basic_offers() -> list[Offer]:
    return [
        offer("od", "on-demand", 1.0),
        offer("spot", "spot", 0.3, lam=0.1),
        offer("spot-eu", "spot", 0.25, region="eu-west-1", lam=0.2),
    ]


@pytest.fixture
def sqlite_store(tmp_path):
    """A HistoryStore over a freshly migrated SQLite file (our alembic migrations, no Airflow tables)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent / "history"))
    from dbutil import migrate, scope_for

    from airflow_ai_scheduler.history.store import HistoryStore

    url = f"sqlite:///{tmp_path / 'history.db'}"
    migrate(url)
    scope, engine = scope_for(url)
    yield HistoryStore(scope)
    engine.dispose()
