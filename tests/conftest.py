"""Shared fixtures: real PostgreSQL and Redis when reachable.

On a user's machine without them the tests that need them skip, saying why. CI sets
SF_NOTION_SYNC_REQUIRE_SERVICES=1 so that an unreachable service fails the run instead.
"""

from __future__ import annotations

import os
import uuid

import pytest

from sf_notion_sync.local.runtime import reachable

PG_HOST, PG_PORT = "127.0.0.1", 5432
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def _services_required() -> bool:
    return os.environ.get("SF_NOTION_SYNC_REQUIRE_SERVICES", "").lower() in {"1", "true", "yes"}


def _unavailable(what: str) -> None:
    message = f"{what} is not reachable"
    if _services_required():
        pytest.fail(f"{message}, and SF_NOTION_SYNC_REQUIRE_SERVICES is set (CI must run these tests)")
    pytest.skip(f"{message}; set up the service to run this test")


@pytest.fixture(scope="session")
def postgres_url():
    """A throw-away PostgreSQL database for this test session, dropped at the end."""
    if not reachable(PG_HOST, PG_PORT):
        _unavailable(f"PostgreSQL on {PG_HOST}:{PG_PORT}")
    import sqlalchemy as sa

    admin = sa.create_engine(f"postgresql+psycopg2://postgres@{PG_HOST}:{PG_PORT}/postgres", isolation_level="AUTOCOMMIT")
    name = f"sfns_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+psycopg2://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def empty_postgres_url(postgres_url):
    """postgres_url migrated, with every state table emptied: the database is the session's, so a test
    must not read what an earlier one (in whatever order they ran) left there."""
    import sqlalchemy as sa

    from sf_notion_sync.state.db import make_engine, upgrade
    from sf_notion_sync.state.models import Base

    engine = make_engine(postgres_url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {', '.join(t.name for t in Base.metadata.sorted_tables)} RESTART IDENTITY"))
    engine.dispose()
    return postgres_url


@pytest.fixture(scope="session")
def redis_url():
    """A Redis URL on a database index the tests own; keys are namespaced per test by the caller."""
    if not reachable(REDIS_HOST, REDIS_PORT):
        _unavailable(f"Redis on {REDIS_HOST}:{REDIS_PORT}")
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/15"


@pytest.fixture
def unique_key() -> str:
    """A key prefix no other test uses, for shared stores such as Redis."""
    return f"sfns-test-{uuid.uuid4().hex[:12]}"
