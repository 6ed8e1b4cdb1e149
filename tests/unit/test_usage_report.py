"""`sf-notion-sync usage`: hourly/daily rollups per endpoint or DAG, read through the sync_state_db connection."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from sf_notion_sync.airflow.notifiers import webhook_url
from sf_notion_sync.airflow.usage_report import parse_since
from sf_notion_sync.cli import main
from sf_notion_sync.state.rows import UsageDelta
from sf_notion_sync.state.store import StateStore

NOW = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)


def test_parse_since():
    assert parse_since("24h", NOW) == NOW - timedelta(hours=24)
    assert parse_since("7d", NOW) == NOW - timedelta(days=7)
    assert parse_since("2026-01-02T03:00") == datetime(2026, 1, 2, 3, tzinfo=UTC)
    with pytest.raises(argparse.ArgumentTypeError):
        parse_since("yesterday")


@pytest.fixture
def store(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'state.db'}"
    monkeypatch.setenv("AIRFLOW_CONN_SYNC_STATE_DB", url)
    store = StateStore.from_url(url)
    store.add_api_usage([
        UsageDelta(NOW, "notion", "POST /v1/pages", 200, "sf_notion_retry", requests=8, latency_ms_sum=800,
                   latency_ms_max=300),
        UsageDelta(NOW, "notion", "POST /v1/pages", 429, "sf_notion_retry", requests=2, rate_limited=2, errors=2,
                   latency_ms_sum=20, latency_ms_max=15),
        UsageDelta(NOW - timedelta(hours=1), "notion", "PATCH /v1/pages/{id}", 0, "sf_notion_full_sync__account",
                   errors=1, latency_ms_sum=500, latency_ms_max=500),
        UsageDelta(NOW - timedelta(days=3), "notion", "POST /v1/pages", 200, "old"),
    ])
    return store


def run_json(capsys, *args):
    assert main(["usage", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_hourly_per_endpoint_and_daily_per_dag(store, capsys):
    hourly = run_json(capsys, "--since", "24h")
    assert [(r["endpoint"], r["requests"], r["rate_limited"], r["errors"]) for r in hourly] == [
        ("PATCH /v1/pages/{id}", 1, 0, 1), ("POST /v1/pages", 10, 2, 2)]
    assert hourly[1]["share_429"] == 0.2 and hourly[1]["latency_ms_avg"] == 82.0 and hourly[1]["latency_ms_max"] == 300
    daily = run_json(capsys, "--since", "7d", "--granularity", "day", "--by", "dag_id")
    per_dag = {(r["bucket_start"][:10], r["dag_id"]): r["requests"] for r in daily}
    assert sum(per_dag.values()) == 12 and per_dag[((NOW - timedelta(days=3)).date().isoformat(), "old")] == 1


def test_table_output_and_purge(store, capsys):
    assert main(["usage", "--since", "24h", "--by", "status"]) == 0
    table = capsys.readouterr().out
    assert "429" in table and "total: 11 requests, 2 rate limited (18.18%), 3 errors" in table
    assert store.purge_api_usage(2) == 1  # only the 3-day-old bucket
    assert len(run_json(capsys, "--since", "7d")) == 2


@pytest.mark.parametrize(
    ("host", "port", "schema", "endpoint", "url"),
    [
        ("127.0.0.1", 8080, "http", "hooks/sync", "http://127.0.0.1:8080/hooks/sync"),
        ("https://hooks.example.com/base/", None, None, "/alerts", "https://hooks.example.com/base/alerts"),
        ("hooks.example.com", None, None, None, "https://hooks.example.com/"),
        ("http://h.example.com:9000/x", 9000, None, None, "http://h.example.com:9000/x"),
    ],
)
def test_webhook_url_from_an_http_connection(host, port, schema, endpoint, url):
    conn = SimpleNamespace(host=host, port=port, schema=schema, extra_dejson={"endpoint": endpoint} if endpoint else {})
    assert webhook_url(conn) == url
