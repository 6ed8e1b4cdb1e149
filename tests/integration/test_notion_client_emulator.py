"""The throttled client against the Notion emulator: no duplicates, windowed queries, one budget."""

from __future__ import annotations

import multiprocessing
import time
import uuid

import httpx
import pytest

from sf_notion_sync.notion.client import ThrottledNotionClient
from sf_notion_sync.notion.errors import NotionApiError
from sf_notion_sync.notion.limiter import build_limiter
from sf_notion_sync.notion.properties import build_properties
from sf_notion_sync.sandbox.notion_emulator import NotionEmulator

from . import _notion_budget_worker

TOKEN = "secret_sandbox"
SCHEMA = {"Name": {"type": "title"}, "SF Id": {"type": "rich_text"}}
TYPES = {"Name": "title", "SF Id": "rich_text"}


@pytest.fixture
def emu(notion_emulator):
    return notion_emulator(tokens=[TOKEN], rate=0, seed=7)


def fast_client(server, **kw):
    limiter = build_limiter(TOKEN, requests=100_000, window_s=1.0, burst=100_000, backend="local")
    return ThrottledNotionClient(
        TOKEN, base_url=server.base_url, limiter=limiter, backoff_initial_s=0.01, backoff_max_s=0.05, **kw
    )


def stored_pages(server, data_source_id):
    response = httpx.get(f"{server.url}/_sandbox/data_sources/{data_source_id}/pages", params={"include_trashed": 1})
    return response.json()["pages"]


def test_lost_create_is_reported_unknown_and_never_re_sent(emu, server):
    """The emulator stores the page and drops the answer: the client says the outcome is unknown
    and sends nothing more (resolving it is the engine's job: sync/intents.py)."""
    ds = emu.create_database("Accounts", SCHEMA)["data_source_id"]
    script = {"responses": [{"fault": "lost_create", "method": "POST", "path_prefix": "/v1/pages", "count": 1}]}
    httpx.post(f"{server.url}/_sandbox/script", json=script).raise_for_status()
    client = fast_client(server)
    try:
        props = build_properties({"Name": "Acme", "SF Id": "001000000000001AAA"}, TYPES).properties
        with pytest.raises(NotionApiError) as info:
            client.create_page(ds, props, sf_id="001000000000001AAA")
        assert info.value.may_have_written and client.totals.attempts == 1
    finally:
        client.close()
    assert len(stored_pages(server, ds)) == 1


def test_windowed_query_goes_past_the_10000_cap(emu, server):
    ds = emu.create_database("Big", SCHEMA)["data_source_id"]
    base = 1_700_000_000 // 60 * 60
    for minute, count in ((0, 4000), (1, 4000), (2, 2500)):
        props = ({"SF Id": {"rich_text": [{"text": {"content": f"{minute}-{i}"}}]}} for i in range(count))
        emu.seed_pages(ds, props, created_at=base + minute * 60 + 1)
    client = fast_client(server)
    try:
        capped = sum(1 for _ in client.query_data_source(ds))
        ids = [p["id"] for p in client.query_windowed(ds)]
    finally:
        client.close()
    assert capped == 10_000
    assert len(ids) == 10_500 and len(set(ids)) == 10_500


# --- one budget for 1, 2, 4 and 8 processes --------------------------------------------------------

BUDGET, WINDOW_S, WINDOWS = 40, 2.0, 3  # Notion's 180 per 60 s, scaled: 40 per 2 s, measured over 3 windows
SLACK_S = 0.1
"""Arrival jitter is absolute, not a share of the window: the 1% default (0.6 s of Notion's 60 s) would be 20 ms
here, less than a loaded 2-core runner delays a send, so the scaled test keeps an absolute 0.1 s."""
USE_FLOOR = 0.9
"""Below it a window went (partly) unused: a pacing bug. The 0.97 goal is measured by `make bench
BENCH=notion_client`; here, beside the suite's other worker, a process that wakes late may miss a slot."""


@pytest.mark.parametrize(("backend", "processes"), [
    *(("sqlite", n) for n in (1, 2, 4, 8)),
    *(pytest.param("redis", n, marks=pytest.mark.redis) for n in (1, 2, 4, 8)),
    pytest.param("postgres", 8, marks=pytest.mark.postgres),
])  # fmt: skip
def test_processes_share_one_window_budget(tmp_path, request, backend, processes):
    """No window-length span holds more than the budget (from the reservations: a hard guarantee), and
    the processes together use nearly all of it (USE_FLOOR), against a server counting fixed windows."""
    from sf_notion_sync.state.db import make_engine, upgrade

    token, dag_id = f"secret_budget_{uuid.uuid4().hex[:8]}", f"acceptance-{uuid.uuid4().hex[:8]}"
    db_url = request.getfixturevalue("postgres_url") if backend == "postgres" else f"sqlite:///{tmp_path / 'state.db'}"
    redis_url = request.getfixturevalue("redis_url") if backend == "redis" else None
    engine = make_engine(db_url)
    upgrade(engine)
    emulator = NotionEmulator(state_dir=tmp_path / "emu", tokens=[token], latency_median_ms=0,
                              window_requests=BUDGET, window_s=WINDOW_S, window_alignment="epoch")
    ds = emulator.create_database("Budget", SCHEMA)["data_source_id"]
    try:
        with emulator.serve() as server:
            ctx = multiprocessing.get_context("spawn")
            barrier, results = ctx.Barrier(processes + 1), ctx.Queue()
            args = (server.base_url, token, db_url, "redis" if redis_url else "sql", redis_url, ds, BUDGET, WINDOW_S, SLACK_S,
                    (WINDOWS + 1) * WINDOW_S, dag_id, barrier, results)
            procs = [ctx.Process(target=_notion_budget_worker.run, args=args) for _ in range(processes)]
            for proc in procs:
                proc.start()
            try:
                barrier.wait(timeout=120)  # every worker has imported and connected
                start_at = time.time()
                done = [results.get(timeout=(WINDOWS + 1) * WINDOW_S + 60) for _ in procs]
            finally:
                for proc in procs:
                    proc.join(timeout=30)
            log = httpx.get(f"{server.url}/_sandbox/requests", params={"since": start_at - 1}).json()
    finally:
        emulator.close()
        if redis_url:
            _drop_redis_keys(redis_url, token)

    slots = sorted(t for *_, worker_slots in done for t in worker_slots)
    busiest = max(_count_in_window(slots, t, WINDOW_S) for t in slots)
    used = sum(t < slots[0] + WINDOWS * WINDOW_S for t in slots) / (WINDOWS * BUDGET)
    requests = [r for r in log if r["path"].startswith("/v1/")]
    limited = sum(r["status"] == 429 for r in requests)
    arrived = sorted(r["ts"] for r in requests)
    at_server = max(_count_in_window(arrived, t, WINDOW_S) for t in arrived)
    calls, attempts = [c for c, _, _ in done], sum(a for _, a, _ in done)
    print(f"\n{backend} x {processes}: use {used:.3f} of {BUDGET} per {WINDOW_S:g} s over {WINDOWS} windows; "
          f"busiest window {busiest} reserved, {at_server} at the server; 429s {limited}/{len(requests)}; "
          f"calls per process {calls}")  # fmt: skip
    assert busiest <= BUDGET
    assert used >= USE_FLOOR, f"{used:.3f} of the budget used"
    assert len(requests) == attempts and all(n > 0 for n in calls)  # the emulator saw every attempt, no more
    assert limited <= 0.01 * len(requests)

    import sqlalchemy as sa

    with engine.connect() as conn:
        counted = conn.execute(sa.text("SELECT SUM(requests) FROM api_usage WHERE dag_id = :d"), {"d": dag_id}).scalar()
    engine.dispose()
    assert counted == len(requests)  # every request reached api_usage, flushed in batches


def _drop_redis_keys(redis_url: str, token: str) -> None:
    import redis

    from sf_notion_sync.notion.limiter import token_fingerprint

    client = redis.Redis.from_url(redis_url)
    try:
        keys = client.keys(f"sf_notion_sync:ratelimit:{token_fingerprint(token)}*")
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def _count_in_window(times: list[float], start: float, width: float) -> int:
    import bisect

    return bisect.bisect_left(times, start + width) - bisect.bisect_left(times, start)


def test_relation_past_the_25_a_page_lists_is_read_through_the_property_endpoint(emu, server):
    ds = emu.create_database("Linked", {**SCHEMA, "Links": {"type": "relation"}})["data_source_id"]
    targets = [str(uuid.uuid4()) for _ in range(130)]  # two pages of property items
    emu.workspace.seed_pages(ds, [{"Name": {"title": [{"text": {"content": "many"}}]},
                                   "Links": {"relation": [{"id": t} for t in targets[:100]]}}])
    client = fast_client(server)
    try:
        schema = client.retrieve_data_source(ds).data["properties"]
        assert "Links" not in next(iter(client.query_data_source(ds)))["properties"]  # 2026-12-01: title only
        page = next(iter(client.query_data_source(ds, filter_properties=[schema["Links"]["id"]])))
        shown = page["properties"]["Links"]
        assert len(shown["relation"]) == 25 and shown["has_more"] is True
        assert client.relation_ids(page["id"], schema["Links"]["id"]) == targets[:100]
    finally:
        client.close()
