"""NotionHook's connection handling: clear errors that name the connection and field, never the token."""

from __future__ import annotations

import json

import pytest
from airflow.models.connection import Connection

from sf_notion_sync.airflow.hooks import NotionHook, redis_url, settings_from_connection
from sf_notion_sync.notion import constants

TOKEN = "ntn_secret_value_123"


def conn(**kwargs) -> Connection:
    extra = kwargs.pop("extra", None)
    return Connection(conn_id="notion_test", conn_type="notion", extra=json.dumps(extra) if extra else None, **kwargs)


def test_defaults_are_the_real_api():
    settings = settings_from_connection(conn(password=TOKEN))
    assert settings.base_url == constants.DEFAULT_BASE_URL
    assert settings.notion_version == constants.NOTION_VERSION
    assert (settings.requests, settings.window_s, settings.limiter_backend) == (180, 60.0, "sql")
    assert (settings.fast_lane_cap, settings.burst) == (constants.FAST_LANE_CAP, None)
    assert TOKEN not in repr(settings)


def test_host_port_and_budget_extras(caplog):
    settings = settings_from_connection(conn(password=TOKEN, host="127.0.0.1", port=8701, extra={
        "budget_requests": "600", "budget_window_s": 60, "limiter_backend": "redis", "fast_lane_share": 1}))
    assert settings.base_url == "https://127.0.0.1:8701"
    assert (settings.requests, settings.window_s, settings.limiter_backend) == (600, 60.0, "redis")
    assert settings.fast_lane_cap == 1.0 and "deprecated" not in caplog.text


def test_budget_rate_and_burst_are_a_deprecated_alias(caplog):
    settings = settings_from_connection(conn(password=TOKEN, extra={"budget_rate": "2.5", "budget_burst": 4}))
    assert (settings.requests, settings.window_s, settings.burst) == (150, 60.0, 4)  # rate x window
    assert "budget_rate and budget_burst are deprecated" in caplog.text and TOKEN not in caplog.text
    scaled = settings_from_connection(conn(password=TOKEN, extra={"budget_rate": 30, "budget_window_s": 6}))
    assert (scaled.requests, scaled.window_s) == (180, 6.0)
    both = settings_from_connection(conn(password=TOKEN, extra={"budget_rate": 30, "budget_requests": 600}))
    assert both.requests == 600  # the new extra wins


def test_the_hook_builds_the_limiter_from_the_connection(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_NOTION_LOCAL", json.dumps({"conn_type": "notion", "password": TOKEN, "extra": {
        "budget_requests": 600, "budget_window_s": 60, "limiter_backend": "local", "fast_lane_share": 0.1}}))
    monkeypatch.setattr("sf_notion_sync.config.pool_slots", lambda name: 4)
    limiter = NotionHook("notion_local").get_limiter()
    status = limiter.status()
    assert (status.requests, status.window_s, status.processes, status.fast_lane_cap) == (600, 60.0, 4, 0.1)
    assert limiter.budget.requests == 150  # this process's share


def test_connections_naming_one_workspace_share_its_pause(monkeypatch):
    from sf_notion_sync.notion.limiter import NotionRateLimiter

    for name, token in (("NOTION_A", TOKEN), ("NOTION_B", TOKEN + "_other")):
        monkeypatch.setenv(f"AIRFLOW_CONN_{name}", json.dumps({"conn_type": "notion", "password": token, "extra": {
            "limiter_backend": "local", "workspace": " acme "}}))
    monkeypatch.setattr("sf_notion_sync.config.pool_slots", lambda name: 1)
    a, b = NotionHook("notion_a"), NotionHook("notion_b")
    assert a.settings.workspace == "acme" and a.settings.workspace_key == b.settings.workspace_key
    limiter_a, limiter_b = a.get_limiter(), b.get_limiter()
    assert limiter_a.workspace_key == limiter_b.workspace_key == "notion-workspace:acme"
    assert limiter_a.key != limiter_b.key
    backend = limiter_a.backend  # one process: what the SQL or Redis backend shares between hosts
    shared = NotionRateLimiter(backend, limiter_b.key, workspace_key=limiter_b.workspace_key)
    limiter_a.pause(30, "workspace", now=1000.0)
    assert shared.status(now=1001.0).paused
    alone = settings_from_connection(conn(password=TOKEN))
    assert alone.workspace is None and alone.workspace_key is None


def test_the_budget_is_a_value_read_from_the_connection_and_the_pool(monkeypatch):
    from sf_notion_sync.config import ConfigError
    from sf_notion_sync.sync.budget import NotionBudget

    monkeypatch.setenv("AIRFLOW_CONN_NOTION_BIZ", json.dumps({"conn_type": "notion", "password": TOKEN, "extra": {
        "budget_requests": 600, "fast_lane_share": 0.1}}))
    monkeypatch.setattr("sf_notion_sync.config.pool_slots", lambda name: 4)
    monkeypatch.setattr(NotionHook, "get_conn", lambda self, **kw: pytest.fail("no client for the budget"))
    assert NotionHook("notion_biz").get_budget() == NotionBudget(600, 60.0, 0.1, 4)

    def no_pools(name):
        raise ConfigError(["include/pools.json: missing"])

    monkeypatch.setattr("sf_notion_sync.config.pool_slots", no_pools)
    assert NotionHook("notion_biz").get_budget().pool_slots == 1  # the planner splits nothing then


@pytest.mark.parametrize(("kwargs", "message"), [
    ({}, "integration token (password field) is empty"),
    ({"password": TOKEN, "extra": {"budget_requests": "many"}}, "extra 'budget_requests' must be a int"),
    ({"password": TOKEN, "extra": {"budget_window_s": 0}}, "extra 'budget_window_s' must be > 0"),
    ({"password": TOKEN, "extra": {"budget_rate": "fast"}}, "extra 'budget_rate' must be a float"),
    ({"password": TOKEN, "extra": {"budget_burst": 0}}, "extra 'budget_burst' must be > 0"),
    ({"password": TOKEN, "extra": {"fast_lane_share": 1.5}}, "extra 'fast_lane_share' (the fast lane's cap)"),
    ({"password": TOKEN, "extra": {"limiter_backend": "memcached"}}, "extra 'limiter_backend' must be one of"),
    ({"password": TOKEN, "extra": {"workspace": "w" * 65}}, "extra 'workspace' must be at most 64"),
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


@pytest.mark.parametrize(("uri", "expected"), [
    ("redis://redis:6379/1", "redis://redis:6379/1"),
    ('{"conn_type": "redis", "host": "cache", "port": 6380, "password": "p@ss", "extra": {"db": 2}}',
     "redis://:p%40ss@cache:6380/2"),
    ('{"conn_type": "redis", "host": "cache"}', "redis://cache:6379/0"),
])
def test_redis_url_from_the_connections_fields_not_its_extras(uri, expected):
    conn = Connection.from_json(uri, conn_id="redis_default") if uri.startswith("{") else \
        Connection(conn_id="redis_default", uri=uri)
    assert redis_url(conn) == expected
