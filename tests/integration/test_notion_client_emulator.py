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

TOKEN = _notion_budget_worker.TOKEN
SCHEMA = {"Name": {"type": "title"}, "SF Id": {"type": "rich_text"}}
TYPES = {"Name": "title", "SF Id": "rich_text"}


@pytest.fixture
def emu(tmp_path):
    emulator = NotionEmulator(state_dir=tmp_path / "emu", tokens=[TOKEN], rate=0, latency_median_ms=0, seed=7)
    yield emulator
    emulator.close()


@pytest.fixture
def server(emu):
    with emu.serve() as running:
        yield running


def fast_client(server, **kw):
    limiter = build_limiter(TOKEN, rate=1000, burst=100, backend="local")
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


# --- one budget for four processes ----------------------------------------------------------------

RATE, RUN_S, WORKERS = 20.0, 15.0, 4
# Our burst stays below the emulator's: requests reach it a little after their reserved slot (a
# busy CPU, a new connection), and that slack absorbs the jitter instead of a 429 + 1 s pause.
BURST, EMULATOR_BURST = 2, 4


def test_four_processes_share_one_budget(tmp_path):
    from sf_notion_sync.state.db import make_engine, upgrade

    db_url = f"sqlite:///{tmp_path / 'state.db'}"
    engine = make_engine(db_url)
    upgrade(engine)
    emulator = NotionEmulator(state_dir=tmp_path / "emu", tokens=[TOKEN], rate=RATE, burst=EMULATOR_BURST, latency_median_ms=0)
    ds = emulator.create_database("Budget", SCHEMA)["data_source_id"]
    try:
        with emulator.serve() as server:
            ctx = multiprocessing.get_context("spawn")
            barrier, results = ctx.Barrier(WORKERS + 1), ctx.Queue()
            args = (server.base_url, db_url, ds, RATE, BURST, RUN_S, barrier, results)
            procs = [ctx.Process(target=_notion_budget_worker.run, args=args) for _ in range(WORKERS)]
            for proc in procs:
                proc.start()
            try:
                barrier.wait(timeout=120)  # every worker has imported and connected
                start_at = time.time()
                sent = [results.get(timeout=RUN_S + 60) for _ in procs]
            finally:
                for proc in procs:
                    proc.join(timeout=30)
            log = httpx.get(f"{server.url}/_sandbox/requests", params={"since": start_at - 1}).json()
    finally:
        emulator.close()

    requests = [r for r in log if r["path"].startswith("/v1/")]
    ok = sorted(r["ts"] for r in requests if r["status"] != 429)
    limited = sum(r["status"] == 429 for r in requests)
    calls, attempts = [c for c, _ in sent], sum(a for _, a in sent)
    assert len(requests) == attempts and all(n > 0 for n in calls)  # the emulator saw every attempt, no more
    duration = ok[-1] - ok[0]
    achieved = (len(ok) - 1) / duration
    busiest = max(_count_in_window(ok, t, 10.0) for t in ok)
    print(f"\nachieved {achieved:.2f} req/s = {achieved / RATE:.3f} R; busiest 10 s: {busiest} "
          f"(limit {1.02 * RATE * 10:.0f}); 429s {limited}/{len(requests)}; calls per process {calls}")  # fmt: skip
    assert achieved >= 0.9 * RATE
    assert busiest <= 1.02 * RATE * 10
    assert limited <= 0.01 * len(requests)

    import sqlalchemy as sa

    with engine.connect() as conn:
        counted = conn.execute(sa.text("SELECT SUM(requests) FROM api_usage WHERE dag_id = 'acceptance'")).scalar()
    engine.dispose()
    assert counted == len(requests)  # every request reached api_usage, flushed in batches


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
