"""sweep_duplicates: trash the extra live pages of a Salesforce record, so that each record is one page.

Invariant 2 promises one page per record; this sweep is the check behind the promise, run by the
full sync's reconcile step (Param ``sweep_duplicates``) and by ``sf-notion-sync notion dedupe``.
Every live page is listed once (created_time windows; one query per 100 pages, asking only for the
Salesforce Id property) into a temporary table (state/listing.py), so a million pages cost a table,
not memory, and the Ids with more than one page come out of a GROUP BY. Of each such Id's pages the
mapped one (the record map's) is kept, else the oldest (created_time, then page id); the others are
trashed, one PATCH each (Notion's trash keeps them restorable), and logged in sync_log. When the map
pointed elsewhere it is pointed at the kept page, with an unknown content hash, so the next sync
rewrites that page once instead of trusting what it holds.

Left alone: pages whose Id property holds no Salesforce Id (not the sync's), and Ids with an open
create intent: their create is in flight or still being resolved (sync/intents.py), which decides
the record's page. Intents are read before the map, so a create that commits meanwhile is seen as
either. A mapped page missing from the listing may be one the query index does not show yet: one
GET tells whether it is live before the listed pages are judged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sf_notion_sync.notion.client import ThrottledNotionClient
from sf_notion_sync.notion.errors import NotionApiError
from sf_notion_sync.notion.windowing import plain_text
from sf_notion_sync.state.dedupe_log import TrashedDuplicate, log_trashed_duplicates
from sf_notion_sync.state.listing import ListedPage, PageListing
from sf_notion_sync.state.rows import Counters, RecordMapEntry

from .context import SyncContext

log = logging.getLogger(__name__)

SF_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
ID_KIND = "rich_text"
"""The sync writes the Salesforce Id as rich text (sync/mapping.py)."""
EXAMPLES = 20
EXAMPLES_KEY = "duplicates"
"""The result's examples: Ids and page ids, left out of XCom, which carries counts only."""
UNKNOWN_CONTENT = ""
"""Content hash of a map entry pointed at a kept page: no record's hash, so the next sync rewrites it."""


def choose(pages: Sequence[ListedPage], mapped: str | None) -> tuple[str, list[ListedPage]]:
    """(page to keep, pages to trash) among one record's listed pages. ``mapped`` is the record map's
    page when it is live, listed or not, else None: the mapped page wins, else the oldest."""
    kept = mapped or min(pages, key=lambda p: (p.created_time, p.page_id)).page_id
    return kept, [p for p in pages if p.page_id != kept]


def sweep_duplicates(ctx: SyncContext, *, dry_run: bool = False) -> dict[str, Any]:
    """List, judge and trash (unless ``dry_run`` or the context's dry run); JSON-ready counts and
    up to EXAMPLES examples. Inside a sync run its costs and ``duplicates_trashed`` join the run's."""
    return _Sweep(ctx, dry_run or ctx.dry_run).run()


class _Sweep:
    def __init__(self, ctx: SyncContext, dry_run: bool) -> None:
        self.ctx = ctx
        self.dry_run = dry_run
        self.client = ctx.notion_client()
        self.result: dict[str, Any] = {
            "object": ctx.object_name, "pages": 0, "without_sf_id": 0, "ids_with_duplicates": 0,
            "duplicate_pages": 0, "duplicates_trashed": 0, "failed": 0, "pending_creates": 0, "map_fixed": 0,
            "notion_requests": 0, "dry_run": dry_run, EXAMPLES_KEY: [],
        }  # fmt: skip

    def run(self) -> dict[str, Any]:
        totals = self.client.totals
        attempts, limited = totals.attempts, totals.rate_limited
        with PageListing(self.ctx.store.engine) as listing, _waiting_in_worker(self.client):
            listing.add(self._listed())
            for groups in listing.iter_duplicates():
                self._sweep(groups)
        self.result["notion_requests"] = totals.attempts - attempts
        store = self.ctx.store
        if store.get_run(self.ctx.run_id) is not None:
            store.add_run_counters(self.ctx.run_id, Counters(
                duplicates_trashed=self.result["duplicates_trashed"], notion_requests=self.result["notion_requests"],
                rate_limited_429s=totals.rate_limited - limited))  # fmt: skip
        log.info("%s: duplicate sweep: %s", self.ctx.object_name,
                 {k: v for k, v in self.result.items() if k != EXAMPLES_KEY})
        return self.result

    def _listed(self) -> Iterator[tuple[str, str, str]]:
        name = self.ctx.obj.salesforce_id_property
        pages = self.client.query_windowed(
            self.ctx.data_source(), split_property=(name, ID_KIND), filter_properties=self.ctx.property_ids([name])
        )
        for page in pages:
            self.result["pages"] += 1
            sf_id = plain_text(page, name, ID_KIND).strip()
            if SF_ID.match(sf_id):
                yield sf_id, page["id"], page["created_time"]
            else:
                self.result["without_sf_id"] += 1

    def _sweep(self, groups: list[tuple[str, list[ListedPage]]]) -> None:
        store, name = self.ctx.store, self.ctx.object_name
        ids = [sf_id for sf_id, _ in groups]
        pending = {i.sf_id for i in store.open_intents(name, ids)}  # before the map: see the module doc
        entries = store.get_record_map(name, ids)
        trashed: list[TrashedDuplicate] = []
        repointed: list[RecordMapEntry] = []
        for sf_id, pages in groups:
            self.result["ids_with_duplicates"] += 1
            if sf_id in pending:
                self.result["pending_creates"] += 1
                log.info("%s %s: %d pages, but a create is still being resolved; left alone", name, sf_id, len(pages))
                continue
            entry = entries.get(sf_id)
            live = self._mapped_live(entry, pages)
            if live is None:
                continue
            kept, extra = choose(pages, entry.notion_page_id if live else None)
            self.result["duplicate_pages"] += len(extra)
            gone = [p.page_id for p in extra] if self.dry_run else self._trash(sf_id, kept, extra, trashed)
            if not self.dry_run and (entry is None or entry.notion_page_id != kept):
                repointed.append(self._repointed(sf_id, kept, entry))
            if len(self.result[EXAMPLES_KEY]) < EXAMPLES:
                self.result[EXAMPLES_KEY].append({"sf_id": sf_id, "kept": kept, "trashed": gone})
        store.upsert_record_map(repointed)
        log_trashed_duplicates(store, self.ctx.run_id, name, trashed, now=self.ctx.clock())
        self.result["map_fixed"] += len(repointed)
        self.result["duplicates_trashed"] += len(trashed)

    def _mapped_live(self, entry: RecordMapEntry | None, pages: list[ListedPage]) -> bool | None:
        """Whether the mapped page is live: listed, or (not listed) a GET says so; None when unknown."""
        if entry is None:
            return False
        if any(p.page_id == entry.notion_page_id for p in pages):
            return True
        if entry.trashed:
            return False  # the sync trashed it (its record was deleted)
        try:
            page = self.client.request("GET", f"pages/{entry.notion_page_id}", record_id=entry.sf_id).data
        except NotionApiError as exc:
            if exc.code == "object_not_found":
                return False
            if exc.stops_run:
                raise
            self.result["failed"] += 1
            log.warning("%s %s: mapped page %s unreadable (%s); its duplicates are left for the next sweep",
                        self.ctx.object_name, entry.sf_id, entry.notion_page_id, exc)
            return None
        return not (page.get("in_trash") or page.get("archived"))

    def _trash(self, sf_id: str, kept: str, extra: list[ListedPage], into: list[TrashedDuplicate]) -> list[str]:
        gone = []
        for page in extra:
            try:
                answer = self.client.trash_page(page.page_id, record_id=sf_id)
            except NotionApiError as exc:
                if exc.stops_run:
                    raise
                self.result["failed"] += 1
                log.warning("%s %s: duplicate page %s not trashed (%s); the next sweep tries again",
                            self.ctx.object_name, sf_id, page.page_id, exc)
                continue
            log.warning("%s %s: trashed duplicate page %s; kept page %s", self.ctx.object_name, sf_id,
                        page.page_id, kept)
            into.append(TrashedDuplicate(sf_id, page.page_id, kept, (answer.stats.request_ids or [None])[-1]))
            gone.append(page.page_id)
        return gone

    def _repointed(self, sf_id: str, kept: str, entry: RecordMapEntry | None) -> RecordMapEntry:
        log.info("%s %s: record map now points to the kept page %s (was %s)", self.ctx.object_name, sf_id, kept,
                 entry.notion_page_id if entry else "unmapped")
        return RecordMapEntry(
            object_name=self.ctx.object_name,
            sf_id=sf_id,
            notion_page_id=kept,
            content_hash=UNKNOWN_CONTENT,
            system_modstamp=entry.system_modstamp if entry else None,
            synced_at=self.ctx.clock(),
            mapping_version=self.ctx.mapping_version,
        )


@contextmanager
def _waiting_in_worker(client: ThrottledNotionClient) -> Iterator[None]:
    """A listing cannot resume from the triggerer: a long budget wait sleeps here, as reconcile's does."""
    allow, client.allow_defer = client.allow_defer, False
    try:
        yield
    finally:
        client.allow_defer = allow
