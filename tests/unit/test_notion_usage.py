"""API usage: endpoint templates, buffering, and the upsert-add into api_usage."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from sf_notion_sync.notion.usage import UsageRecorder, sql_usage_sink, template_endpoint

T0 = 1_800_000_000.0  # 2027-01-15 08:00 UTC, on the hour


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("PATCH", "pages/3f9c1a2b4c5d6e7f8091a2b3c4d5e6f7", "PATCH /v1/pages/{id}"),
        ("post", "data_sources/3f9c1a2b-4c5d-6e7f-8091-a2b3c4d5e6f7/query", "POST /v1/data_sources/{id}/query"),
        ("POST", "/v1/pages", "POST /v1/pages"),
        ("GET", "users/me?x=1", "GET /v1/users/me"),
    ],
)
def test_template_endpoint(method, path, expected):
    assert template_endpoint(method, path) == expected


def test_buffers_and_flushes_every_n():
    batches = []
    now = [T0]
    rec = UsageRecorder(batches.append, dag_id="d", flush_every=3, flush_interval_s=1e9, clock=lambda: now[0])
    rec.record("GET", "pages/" + "a" * 32, 200, 10)
    rec.record("GET", "pages/" + "b" * 32, 429, 30)
    assert batches == []
    rec.record("GET", "pages/" + "c" * 32, 200, 20)
    assert len(batches) == 1
    counts = dict(batches[0])
    hour = datetime.fromtimestamp(T0, tz=UTC)
    ok = counts[(hour, "notion", "GET /v1/pages/{id}", 200, "d")]
    assert (ok.requests, ok.latency_ms_sum, ok.latency_ms_max, ok.errors) == (2, 30, 20, 0)
    limited = counts[(hour, "notion", "GET /v1/pages/{id}", 429, "d")]
    assert (limited.requests, limited.rate_limited, limited.errors) == (1, 1, 1)


def test_flushes_on_interval_and_close_and_keeps_counts_when_sink_fails():
    batches, fail = [], [True]
    now = [T0]

    def sink(items):
        if fail[0]:
            raise RuntimeError("database down")
        batches.append(items)

    rec = UsageRecorder(sink, flush_every=1000, flush_interval_s=10, clock=lambda: now[0])
    rec.record("POST", "pages", 0, 5)
    now[0] += 11
    rec.record("POST", "pages", 200, 5)  # interval due: the sink fails, counts are kept
    assert sum(c.requests for c in rec.snapshot().values()) == 2
    fail[0] = False
    rec.close()
    assert sum(c.requests for _, c in batches[0]) == 2


def _sink_adds_to_existing_rows(url, dag_id):
    from sf_notion_sync.state.db import make_engine, upgrade

    engine = make_engine(url)
    upgrade(engine)
    for latency in (10.0, 50.0):
        rec = UsageRecorder(sql_usage_sink(engine), dag_id=dag_id, clock=lambda: T0 + 120)
        rec.record("PATCH", "pages/" + "a" * 32, 200, latency)
        rec.record("PATCH", "pages/" + "b" * 32, 200, latency)
        rec.close()
    query = sa.text("SELECT endpoint, requests, latency_ms_sum, latency_ms_max FROM api_usage WHERE dag_id = :d")
    with engine.connect() as conn:
        row = conn.execute(query, {"d": dag_id}).one()
    engine.dispose()
    assert tuple(row) == ("PATCH /v1/pages/{id}", 4, 120.0, 50.0)


def test_sql_sink_sqlite(tmp_path):
    _sink_adds_to_existing_rows(f"sqlite:///{tmp_path / 'state.db'}", "dag")


@pytest.mark.postgres
def test_sql_sink_postgres(postgres_url, unique_key):
    _sink_adds_to_existing_rows(postgres_url, unique_key)
