"""NotionHook's connection handling: clear errors that name the connection and field, never the token."""

from __future__ import annotations

import json

import pytest
from airflow.models.connection import Connection

from sf_notion_sync.airflow.hooks import NotionHook, settings_from_connection
from sf_notion_sync.notion import constants

TOKEN = "ntn_secret_value_123"


def conn(**kwargs) -> Connection:
    extra = kwargs.pop("extra", None)
    return Connection(conn_id="notion_test", conn_type="notion", extra=json.dumps(extra) if extra else None, **kwargs)


def test_defaults_are_the_real_api():
    settings = settings_from_connection(conn(password=TOKEN))
    assert settings.base_url == constants.DEFAULT_BASE_URL
    assert settings.notion_version == constants.NOTION_VERSION
    assert (settings.rate, settings.burst, settings.limiter_backend) == (constants.DEFAULT_RATE, constants.DEFAULT_BURST, "sql")
    assert TOKEN not in repr(settings)


def test_host_port_and_budget_extras():
    settings = settings_from_connection(conn(password=TOKEN, host="127.0.0.1", port=8701,
                                             extra={"budget_rate": "2.5", "budget_burst": 4, "limiter_backend": "redis"}))
    assert settings.base_url == "https://127.0.0.1:8701"
    assert (settings.rate, settings.burst, settings.limiter_backend) == (2.5, 4, "redis")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({}, "integration token (password field) is empty"),
    ({"password": TOKEN, "extra": {"budget_rate": "fast"}}, "extra 'budget_rate' must be a float"),
    ({"password": TOKEN, "extra": {"budget_burst": 0}}, "extra 'budget_burst' must be > 0"),
    ({"password": TOKEN, "extra": {"limiter_backend": "memcached"}}, "extra 'limiter_backend' must be one of"),
])
def test_bad_connection_names_connection_and_field_not_token(kwargs, message):
    with pytest.raises(ValueError) as info:
        settings_from_connection(conn(**kwargs))
    assert message in str(info.value) and "'notion_test'" in str(info.value)
    assert TOKEN not in str(info.value)


def test_missing_connection_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.delenv("AIRFLOW_CONN_NOTION_MISSING", raising=False)
    with pytest.raises(Exception, match="notion_missing"):
        _ = NotionHook("notion_missing").settings
