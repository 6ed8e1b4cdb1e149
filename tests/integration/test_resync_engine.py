"""Bounded re-syncs (backfill runs) through the engine, without Airflow: both emulators on loopback.

A re-sync window reads exactly the records whose SystemModstamp lies in it, writes only what differs
(everything with force, undoing hand edits), leaves the live watermark and deletes cursor where they
are, applies the deletes in it while getDeleted covers it, and never writes an older version over a
newer one. The generated Accounts carry SystemModstamps 2 s apart from 2024-01-01T00:00:00Z, so a
window over them is fixed in time; changes made "now" use the emulator's frozen clock.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from sf_notion_sync.notion.constants import NOTION_VERSION
from sf_notion_sync.sync import extract_to_staging, finish_run, plan_batches, preflight, sync_batch
from sf_notion_sync.sync.resync import Resync
from tests.integration.test_sync_engine_e2e import (  # noqa: F401 (sandbox is a fixture)
    TOKEN,
    Sandbox,
    _text,
    make_store,
    run_sync,
    sandbox,
)

ANCHOR = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def box(sandbox: Sandbox) -> Sandbox:  # noqa: F811 (the imported fixture)
    """The engine e2e module's emulators and 240 Accounts."""
    return sandbox


INSIDE = Resync(ANCHOR + timedelta(seconds=100), ANCHOR + timedelta(seconds=200))
"""Generated records 50..99 (2 s apart from the anchor): 50 of the fixture's Accounts."""


def _ids_between(box: Sandbox, start: str, end: str) -> set[str]:
    soql = f"SELECT Id FROM Account WHERE SystemModstamp >= {start} AND SystemModstamp < {end}"
    return {r["Id"] for r in box.salesforce().query_all_iter(soql)}


def _resync(box: Sandbox, store, run_id: str, resync: Resync, *, tamper=None) -> dict[str, Any]:
    """One re-sync run as the DAG does it; ``tamper(store)`` runs between staging and the batches."""
    checked = preflight(box.context(run_id, store))
    ctx = box.context(run_id, store, data_source_id=checked["data_source_id"])
    extracted = extract_to_staging(ctx, mode="incremental", resync=resync)
    if tamper:
        tamper(store)
    for batch in plan_batches(box.context(run_id, store, data_source_id=checked["data_source_id"])):
        assert sync_batch(box.context(run_id, store, data_source_id=checked["data_source_id"]), batch).done
    return {**finish_run(box.context(run_id, store)), "extracted": extracted}


def _pages_by_sf_id(box: Sandbox) -> dict[str, dict[str, Any]]:
    return {_text(p["properties"]["Salesforce Id"]): p for p in box.pages(include_trashed=True)}


def _patched_pages(box: Sandbox, since: float) -> list[str]:
    log = box.control(box.notion_url, "GET", f"/_sandbox/requests?since={since}")
    return [r["path"].rsplit("/", 1)[-1] for r in log if r["method"] == "PATCH" and r["status"] < 300]


def _edit_by_hand(box: Sandbox, page_id: str, name: str) -> None:
    response = requests.patch(f"{box.notion_url}/v1/pages/{page_id}", timeout=10,
                              headers={"Authorization": f"Bearer {TOKEN}", "Notion-Version": NOTION_VERSION},
                              json={"properties": {"Name": {"title": [{"text": {"content": name}}]}}})
    response.raise_for_status()


def _cursors(store) -> tuple[Any, Any]:
    return store.get_watermark("Account"), store.get_watermark("Account", "deleted")


def _synced(box: Sandbox):
    store = make_store(box.state_url)
    run_sync(box, store, "full")
    run_sync(box, store, "inc-0", mode="incremental")  # sets both cursors
    return store


def test_window_reads_only_its_records_writes_nothing_unchanged_and_moves_no_cursor(box: Sandbox) -> None:
    store = _synced(box)
    generated = _ids_between(box, "2024-01-01T00:01:40Z", "2024-01-01T00:03:20Z")
    assert len(generated) == 50
    changed = box.control(box.sf_url, "POST", "/_sandbox/mutate", {"object": "Account", "update": 40})
    inside = generated - set(changed["updated"])  # a changed record's SystemModstamp is now: outside
    assert inside != generated and _ids_between(box, "2024-01-01T00:01:40Z", "2024-01-01T00:03:20Z") == inside
    before, at = _cursors(store), time.time()
    result = _resync(box, store, "backfill-1", INSIDE)
    assert result["kind"] == "resync" and result["extracted"]["effective_mode"] == "resync"
    assert result["total"] == result["skipped"] == len(inside), "exactly the window's records, all unchanged"
    assert _patched_pages(box, at) == [] and result["notion_requests"] == 0
    assert _cursors(store) == before and result["watermark"] is None
    assert result["deletes"]["checked"] is False and "15 days" in result["deletes"]["reason"]
    assert result["resync"] == INSIDE.as_params()


def test_force_rewrites_the_window_and_repairs_hand_edits_inside_it_only(box: Sandbox) -> None:
    store = _synced(box)
    inside = _ids_between(box, "2024-01-01T00:01:40Z", "2024-01-01T00:03:20Z")
    pages = _pages_by_sf_id(box)
    edited_in, edited_out = sorted(inside)[0], sorted(set(pages) - inside)[0]
    for sf_id in (edited_in, edited_out):
        _edit_by_hand(box, pages[sf_id]["id"], "edited by hand")
    before, at = _cursors(store), time.time()
    result = _resync(box, store, "backfill-force", replace(INSIDE, force=True))
    assert (result["total"], result["updated"], result["created"]) == (50, 50, 0)
    assert sorted(_patched_pages(box, at)) == sorted(pages[i]["id"] for i in inside)
    after = _pages_by_sf_id(box)
    assert _text(after[edited_in]["properties"]["Name"]) == _text(pages[edited_in]["properties"]["Name"])
    assert _text(after[edited_out]["properties"]["Name"]) == "edited by hand", "outside the window: untouched"
    assert len(after) == len(pages), "no page created"
    assert _cursors(store) == before


def test_a_newer_live_write_wins_over_the_older_resync_value(box: Sandbox) -> None:
    """Between the re-sync's read and its write, the live chain wrote a newer version of a record in the
    window (the record map says so): the re-sync leaves that page alone, even with force."""
    store = _synced(box)
    inside = sorted(_ids_between(box, "2024-01-01T00:01:40Z", "2024-01-01T00:03:20Z"))
    pages = _pages_by_sf_id(box)
    newer = inside[3]

    def live_write(store) -> None:
        entry = store.get_record_map("Account", [newer])[newer]
        store.upsert_record_map([replace(entry, content_hash="live", system_modstamp=entry.system_modstamp
                                         + timedelta(hours=1))])

    at = time.time()
    result = _resync(box, store, "backfill-race", replace(INSIDE, force=True), tamper=live_write)
    assert result["updated"] == 49 and result["skipped"] == 1
    assert pages[newer]["id"] not in _patched_pages(box, at)
    assert store.get_record_map("Account", [newer])[newer].content_hash == "live"


def test_deletes_in_the_window_are_applied_while_get_deleted_covers_it(box: Sandbox) -> None:
    store = _synced(box)
    window_start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    clock = box.sf_url, "PATCH", "/_sandbox/config"
    box.control(*clock, {"now": window_start.isoformat()})
    inside = box.control(box.sf_url, "POST", "/_sandbox/mutate", {"object": "Account", "update": 2, "delete": 2})
    box.control(*clock, {"now": (window_start + timedelta(minutes=5)).isoformat()})
    outside = box.control(box.sf_url, "POST", "/_sandbox/mutate", {"object": "Account", "update": 2,
                                                                          "delete": 1})
    box.control(*clock, {"now": None})
    before, at = _cursors(store), time.time()
    result = _resync(box, store, "backfill-deletes", Resync(window_start, window_start + timedelta(minutes=1)))
    assert result["deletes"]["checked"] is True and result["deletes"]["found"] == 2
    assert (result["updated"], result["trashed"]) == (2, 2)
    pages = _pages_by_sf_id(box)
    assert all(pages[i]["in_trash"] for i in inside["deleted"])
    assert not any(pages[i]["in_trash"] for i in outside["deleted"]), "deleted after the window: the live chain's"
    assert len(_patched_pages(box, at)) == 4
    assert _cursors(store) == before


def test_a_create_the_live_run_started_meanwhile_is_adopted_not_repeated(box: Sandbox) -> None:
    """A record of the window has no page yet. After the re-sync's batch read the record map and the
    intents, the live run beside it claimed that record's create and sent it (its page exists, its
    intent is still open): the re-sync must not create a second page, but adopt that one once settled."""
    store = make_store(box.state_url)
    run_sync(box, store, "full", limit=60)  # generated records 0..59 have pages; 60..99 of the window not
    inside = _ids_between(box, "2024-01-01T00:01:40Z", "2024-01-01T00:03:20Z")
    missing = inside - set(_pages_by_sf_id(box))
    racing = sorted(missing)[0]

    def live_creates(store) -> None:
        store.write_intents("Account", [racing], "live-run")
        response = requests.post(f"{box.notion_url}/v1/pages", timeout=10, json={
            "parent": {"data_source_id": box.data_source_id},
            "properties": {"Name": {"title": [{"text": {"content": "live"}}]},
                           "Salesforce Id": {"rich_text": [{"text": {"content": racing}}]}}},
            headers={"Authorization": f"Bearer {TOKEN}", "Notion-Version": NOTION_VERSION})
        response.raise_for_status()
        read = store.open_intents

        def read_before_the_live_claim(*args, **kwargs) -> list:
            store.open_intents = read  # the batch's next reads see the live run's intent
            return []

        store.open_intents = read_before_the_live_claim

    result = _resync(box, store, "backfill-create", INSIDE, tamper=live_creates)
    assert result["adopted"] == 1 and result["created"] == len(missing) == 40
    pages = [p for p in box.pages() if _text(p["properties"]["Salesforce Id"]) == racing]
    assert len(pages) == 1, "one page for the record the live run was creating"
    assert store.get_record_map("Account", [racing])[racing].notion_page_id == pages[0]["id"]
    assert not store.open_intents("Account", [racing])


def test_a_full_sync_bounded_only_above_reads_everything_older(box: Sandbox) -> None:
    """The full sync's `modified_before` alone: every record older than it, deletes not checked (no start)."""
    store = _synced(box)
    older = _ids_between(box, "2000-01-01T00:00:00Z", "2024-01-01T00:03:20Z")
    assert len(older) == 100
    checked = preflight(box.context("bounded", store))
    ctx = box.context("bounded", store, data_source_id=checked["data_source_id"])
    before = _cursors(store)
    extracted = extract_to_staging(ctx, mode="full", resync=Resync(None, INSIDE.end))
    assert extracted["staged"] == 100 and extracted["deletes"] == {
        "checked": False, "reason": "the window has no start: getDeleted needs one"}
    for batch in plan_batches(ctx):
        assert sync_batch(ctx, batch).done
    summary = finish_run(ctx)
    assert (summary["kind"], summary["skipped"], summary["notion_requests"]) == ("resync", 100, 0)
    assert _cursors(store) == before
