from __future__ import annotations

import os

import pytest
from dbutil import migrate, scope_for
from sqlalchemy import create_engine


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'h.db'}"
        return
    base = os.environ.get("AI_SCHEDULER_TEST_POSTGRES_URL")
    if not base:
        if os.environ.get("AI_SCHEDULER_REQUIRE_POSTGRES"):
            pytest.fail("AI_SCHEDULER_TEST_POSTGRES_URL is not set but PostgreSQL is required")
        pytest.skip("no PostgreSQL (set AI_SCHEDULER_TEST_POSTGRES_URL)")
    import uuid

    from sqlalchemy import text

    name = f"hist_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"CREATE DATABASE {name}"))
    yield base.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as c:
        c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture
def store(db_url):
    from airflow_ai_scheduler.history.store import HistoryStore

    migrate(db_url)
    scope, engine = scope_for(db_url)
    yield HistoryStore(scope)
    engine.dispose()
