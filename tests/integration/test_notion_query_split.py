"""More than 10,000 pages in one created_time minute (a CSV import), listed over loopback HTTP.

query_windowed splits that minute by prefixes of the Salesforce Id property; every page comes back
exactly once, pages without an id included, and a split that cannot finish says where it stopped.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from sf_notion_sync.config import load_config
from sf_notion_sync.notion.client import ThrottledNotionClient
from sf_notion_sync.notion.errors import NotionApiError
from sf_notion_sync.notion.limiter import build_limiter
from sf_notion_sync.sandbox.notion_emulator import NotionEmulator
from sf_notion_sync.sync import SyncContext, rebuild_record_map

from .test_sync_engine_e2e import ACCOUNT_DB, CONFIG, make_store

TOKEN = "secret_split_test"
MINUTE = 1_700_000_000 // 60 * 60  # 2023-11-14T22:13:00Z
IMPORTED, WITHOUT_ID, NEIGHBOURS = 12_000, 40, 60
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ID_PROPERTY = ("Salesforce Id", "rich_text")


def sf_id(n: int) -> str:
    """Ids as one org's Accounts have them: a 10-character shared prefix, a base-62 counter."""
    digits = "".join(BASE62[n // 62**i % 62] for i in reversed(range(5)))
    return f"001Dn00000{digits}AAA"


def account(n: int | None) -> dict:
    props = {"Name": {"title": [{"text": {"content": f"Account {n}"}}]}}
    if n is not None:
        props["Salesforce Id"] = {"rich_text": [{"text": {"content": sf_id(n)}}]}
    return props


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory):
    """One data source: a minute before, the import (+ pages without an id), a minute after."""
    tmp = tmp_path_factory.mktemp("split")
    emulator = NotionEmulator(tmp / "notion", tokens=[TOKEN], rate=0, latency_median_ms=0)
    ids = emulator.create_database("Accounts", ACCOUNT_DB)
    ds = ids["data_source_id"]
    first, last = NEIGHBOURS, NEIGHBOURS + IMPORTED
    emulator.seed_pages(ds, (account(n) for n in range(first)), created_at=MINUTE - 30)
    emulator.seed_pages(ds, (account(n) for n in range(first, last)), created_at=MINUTE + 1)
    emulator.seed_pages(ds, (account(None) for _ in range(WITHOUT_ID)), created_at=MINUTE + 59)
    emulator.seed_pages(ds, (account(n) for n in range(last, last + NEIGHBOURS)), created_at=MINUTE + 61)
    with emulator.serve() as server:
        yield server, ids
    emulator.close()


def client(server) -> ThrottledNotionClient:
    limiter = build_limiter(TOKEN, requests=100_000, window_s=1.0, burst=100_000, backend="local")
    return ThrottledNotionClient(TOKEN, base_url=server.base_url, limiter=limiter)


def test_rebuild_lists_every_page_of_the_minute_exactly_once(seeded, tmp_path: Path) -> None:
    server, ids = seeded
    (tmp_path / "sync.yaml").write_text(CONFIG % {**ids, "contact_database_id": ids["database_id"]})
    store = make_store(f"sqlite:///{tmp_path / 'state.db'}")
    since = time.time()
    with client(server) as notion:
        ctx = SyncContext(load_config(tmp_path / "sync.yaml"), "Account", store, notion, None, "rebuild",
                          data_source_id=ids["data_source_id"])  # fmt: skip
        counts = rebuild_record_map(ctx)
        requests = notion.totals.attempts
    # Every page once: a page listed twice would count as a duplicate (or one more without an id).
    with_id = IMPORTED + 2 * NEIGHBOURS
    assert counts == {"pages": with_id + WITHOUT_ID, "rebuilt": with_id, "without_sf_id": WITHOUT_ID, "duplicates": 0}
    mapped = store.get_record_map("Account", [sf_id(n) for n in range(with_id)])
    assert len(mapped) == with_id and len({e.notion_page_id for e in mapped.values()}) == with_id
    log = httpx.get(f"{server.url}/_sandbox/requests", params={"since": since}).json()
    assert len(log) == requests and all(r["status"] == 200 for r in log)
    # Two capped windows (100 requests each), then the split: ~130 requests, not one per prefix.
    assert requests < 350, requests


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, "share created_time 2023-11-14T22:13:00.000Z; pass split_property"),
        ({"split_property": ID_PROPERTY, "max_split_depth": 4}, "have 'Salesforce Id' starting with '001D' (prefix"),
        ({"split_property": ID_PROPERTY, "max_split_requests": 5}, "did not finish within 5 requests"),
    ],
    ids=["no split property", "depth bound", "request bound"],
)
def test_a_minute_that_cannot_be_listed_is_a_clear_error(seeded, options: dict, expected: str) -> None:
    server, ids = seeded
    ds = ids["data_source_id"]
    with client(server) as notion, pytest.raises(NotionApiError) as info:
        list(notion.query_windowed(ds, created_on_or_after="2023-11-14T22:13:00.000Z", **options))
    assert info.value.code == "query_window_stuck" and info.value.kind == "fatal"
    assert ds in str(info.value) and "2023-11-14T22:13:00.000Z" in str(info.value)
    assert expected in str(info.value)
