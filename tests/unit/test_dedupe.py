"""The duplicate sweep's parts: the keep rule, the temporary page listing and its sync_log rows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from sf_notion_sync.state.db import make_engine, upgrade
from sf_notion_sync.state.dedupe_log import OP_DEDUPE, TrashedDuplicate, log_trashed_duplicates
from sf_notion_sync.state.listing import ListedPage, PageListing
from sf_notion_sync.state.models import STATUS_SUCCESS
from sf_notion_sync.state.rows import RecordMapEntry
from sf_notion_sync.state.store import StateStore
from sf_notion_sync.sync.dedupe import choose

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
OLD, NEW = "2026-11-30T09:00:00.000Z", "2026-12-01T10:00:00.000Z"


def test_the_mapped_page_is_kept_whatever_its_age():
    pages = [ListedPage("a", OLD), ListedPage("b", NEW), ListedPage("c", NEW)]
    assert choose(pages, "b") == ("b", [pages[0], pages[2]])


def test_a_live_mapped_page_the_listing_missed_is_kept_and_every_listed_one_goes():
    pages = [ListedPage("a", OLD), ListedPage("b", NEW)]
    assert choose(pages, "z") == ("z", pages)


def test_without_a_mapped_page_the_oldest_is_kept_then_the_smallest_page_id():
    assert choose([ListedPage("b", NEW), ListedPage("c", OLD)], None) == ("c", [ListedPage("b", NEW)])
    assert choose([ListedPage("e", NEW), ListedPage("d", NEW)], None) == ("d", [ListedPage("e", NEW)])


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'state.db'}" if request.param == "sqlite" else request.getfixturevalue("empty_postgres_url")
    engine = make_engine(url)
    upgrade(engine)
    yield StateStore(engine)
    engine.dispose()


def test_listing_groups_ids_listed_more_than_once_in_chunks(store):
    rows = [("001B", "p3", NEW), ("001A", "p2", NEW), ("001A", "p1", OLD), ("001C", "p4", OLD),
            ("001B", "p5", OLD), ("001B", "p3", NEW)]  # p3 listed twice (a window boundary): one page
    with PageListing(store.engine) as listing:
        listing.add(iter(rows))
        chunks = list(listing.iter_duplicates(chunk_size=1))
    assert chunks == [
        [("001A", [ListedPage("p1", OLD), ListedPage("p2", NEW)])],
        [("001B", [ListedPage("p5", OLD), ListedPage("p3", NEW)])],
    ]


def test_listing_is_private_to_its_connection_and_locks_nothing(store):
    with PageListing(store.engine) as first, PageListing(store.engine) as second:
        first.add([("001A", "p1", OLD), ("001A", "p2", NEW)])
        store.upsert_record_map([RecordMapEntry("Account", "001A", "p1", "h", None, T0, "m1")])  # a writer meanwhile
        second.add([("001A", "p9", OLD)])
        assert [len(c) for c in first.iter_duplicates()] == [1] and list(second.iter_duplicates()) == []
        with store.engine.connect() as conn:
            assert "sf_notion_sync_page_listing" not in sa.inspect(conn).get_temp_table_names()
    with PageListing(store.engine) as again:  # a pooled connection may be reused: it starts empty
        assert list(again.iter_duplicates()) == []


def test_trashed_duplicates_are_logged_closed_so_never_retried(store):
    log_trashed_duplicates(store, "run-1", "Account", [TrashedDuplicate("001A", "p2", "p1", "req-1"),
                                                       TrashedDuplicate("001A", "p3", "p1")], now=T0)
    assert store.log_status_counts("Account") == {STATUS_SUCCESS: 2}
    assert store.open_failures("Account") == {} and store.due_for_retry(now=T0) == []
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT operation, error_message, notion_request_id FROM sync_log ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [(OP_DEDUPE, "duplicate page p2 trashed; page p1 kept", "req-1"),
                                        (OP_DEDUPE, "duplicate page p3 trashed; page p1 kept", None)]
