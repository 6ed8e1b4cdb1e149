"""The state store tests of tests/unit/test_state_store.py, run against PostgreSQL."""

from __future__ import annotations

import pytest

from sf_notion_sync.state.db import make_engine, upgrade
from sf_notion_sync.state.store import StateStore
from tests.unit import test_state_store as shared

pytestmark = pytest.mark.postgres

# every backend-neutral test (those taking the ``store`` fixture) is collected here again
globals().update(
    {
        name: test
        for name, test in vars(shared).items()
        if name.startswith("test_") and "store" in test.__code__.co_varnames[: test.__code__.co_argcount]
    }
)


@pytest.fixture(scope="module")
def pg_engine(postgres_url):
    engine = make_engine(postgres_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def store(pg_engine, empty_postgres_url):
    """The module's engine on tables emptied for this test."""
    return StateStore(pg_engine)


def test_postgres_engine_pings_its_pool(pg_engine):
    assert pg_engine.dialect.name == "postgresql"
    assert pg_engine.pool._pre_ping is True
