"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest

from sf_notion_sync.salesforce import soql


@pytest.fixture
def fresh_describe_cache():
    """An empty describe cache before and after the test (modules opt in with `usefixtures`)."""
    soql.clear_describe_cache()
    yield
    soql.clear_describe_cache()
