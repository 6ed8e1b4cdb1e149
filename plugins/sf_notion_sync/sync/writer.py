"""Writes staged records to Notion: create, update, restore or trash, and records every outcome.

Decisions per record (a batch, a retry and reconcile all go through here):

* unchanged (same content hash and mapping version in the record map, page not trashed): no request;
* new: a create intent is committed first, the page created, then the page id recorded and the intent
  dropped in one transaction. A create whose outcome is unknown (no answer, a 5xx, a 409) keeps its
  intent and is never re-sent on the spot; nor is a record with a leftover intent (a worker died
  mid-create) created again: both are resolved at the batch's end by a lookup old enough to trust
  (sync/intents.py, invariant 2). A 5xx with Notion's ``committed_resource_id`` is adopted at once;
* changed: update (a trashed page is restored with it); deleted with delete_policy trash: trash;
* a value Notion would reject, or a Notion error: a sync_log row with the reason while the rest goes
  on (invariant 7); a fatal failure is not re-sent until the record or the mapping changes;
* an error about the token or the target (unauthorized, restricted_resource, data source not found):
  no record is to blame, so the batch stops there and fails its task; the records it did not reach
  stay staged and are written when the batch runs again.

Outcomes are buffered and committed every few writes and before returning, so an interruption (a
deferral, a crash) redoes at most the uncommitted writes, which are idempotent or guarded by intents.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sf_notion_sync.notion.client import ApiResult, ThrottledNotionClient
from sf_notion_sync.notion.errors import DeferRequested, ErrorKind, NotionApiError
from sf_notion_sync.state.rows import Counters, Failure, LogEntry, RecordMapEntry, StagedRecord

from .backoff import retry_delay
from .changes import ChangeTally
from .context import SyncContext
from .intents import IntentResolver
from .mapping import ERROR_KEY, NOTES_KEY, PROPERTIES_KEY, WARNINGS_KEY

log = logging.getLogger(__name__)

FLUSH_EVERY = 20
"""Writes between commits: bounds what a crash can leave unrecorded (idempotent to redo)."""

OP_CREATE, OP_UPDATE, OP_TRASH = "create", "update", "trash"


@dataclass(frozen=True)
class _Known:
    """What the state store knows about one record before it is written."""

    entry: RecordMapEntry | None
    intent: bool
    failure: LogEntry | None


class RecordWriter:
    def __init__(self, ctx: SyncContext, *, allow_defer: bool = True) -> None:
        self.ctx = ctx
        self.allow_defer = allow_defer
        self.tally = Counters()
        self.current_seq: int | None = None
        self._client: ThrottledNotionClient | None = None
        self._baseline = (0, 0)
        self._map: list[RecordMapEntry] = []
        self._created: list[RecordMapEntry] = []
        self._trashed: list[str] = []
        self._failures: list[tuple[Failure, float | None]] = []
        self._resolved: set[str] = set()
        self._open: set[str] = set()
        self._unsent_intents: set[str] = set()
        self._writes = 0
        self._sent: dict[str, str] = {}
        """Records whose create this writer sent without learning the outcome -> the content hash sent."""
        self.changes = ChangeTally()
        """Values changed on the way to Notion (sync/changes.py); the lossy ones are stored at flush."""

    # --- the public loop ----------------------------------------------------------------------------

    def process(self, records: Sequence[StagedRecord]) -> None:
        """Write a chunk of records; DeferRequested leaves ``current_seq`` at the record to resume from."""
        known = self._known([r.sf_id for r in records])
        self._open |= {i for i, k in known.items() if k.failure is not None}
        for record in records:
            self.current_seq = record.seq
            self._one(record, known[record.sf_id])
            self.tally.processed += 1
            if self._writes >= FLUSH_EVERY:
                self.flush()
        self.current_seq = None

    def resolve(self, records: Sequence[StagedRecord], *, resume_seq: int) -> None:
        """Settle every open create intent among ``records`` (a batch's, read back from staging):
        adopt the page a trusted lookup finds, else create it. DeferRequested leaves ``current_seq``
        at ``resume_seq``, so the batch resumes straight into this step."""
        self.current_seq = resume_seq
        self._open |= set(self.ctx.store.open_failures(self.ctx.object_name, [r.sf_id for r in records]))
        IntentResolver(self, records).run()
        self.current_seq = None

    def flush(self) -> None:
        """Commit every buffered outcome (map entries, trashes, failures, closed failures, intents)."""
        store, name = self.ctx.store, self.ctx.object_name
        store.record_created_pages(self._created)
        store.upsert_record_map(self._map)
        if self._trashed:
            store.mark_trashed(name, self._trashed, at=self.ctx.clock())
        if self._unsent_intents:
            store.clear_intents(name, self._unsent_intents)
        self._record_failures()
        lossy = self.changes.take_pending()
        if lossy and not self.ctx.dry_run:
            store.record_lossy_changes(lossy, now=self.ctx.clock())
        if self._resolved:
            store.record_success(name, self._resolved, now=self.ctx.clock())
        self._map, self._created, self._trashed, self._failures = [], [], [], []
        self._resolved, self._unsent_intents, self._writes = set(), set(), 0
        self._count_requests()

    def progress(self) -> tuple[int, int, int]:
        """Records done, and Notion requests and 429s so far, the unflushed ones too (read by the
        batch's progress thread: sync/progress.py)."""
        requests, limited = self.tally.notion_requests, self.tally.rate_limited_429s
        if self._client is not None:
            requests += self._client.totals.attempts - self._baseline[0]
            limited += self._client.totals.rate_limited - self._baseline[1]
        return self.tally.processed, requests, limited

    def budget_keys(self) -> tuple[str | None, str | None]:
        """The limiter keys (token fingerprints) of this writer's budget, once it has a Notion client."""
        if self._client is None:
            return None, None
        return self._client.limiter.key, self._client.limiter.workspace_key

    # --- decisions ----------------------------------------------------------------------------------

    def _known(self, sf_ids: list[str]) -> dict[str, _Known]:
        store, name = self.ctx.store, self.ctx.object_name
        entries = store.get_record_map(name, sf_ids)
        intents = {i.sf_id for i in store.open_intents(name, sf_ids)}
        failures = store.open_failures(name, sf_ids)
        return {i: _Known(entries.get(i), i in intents, failures.get(i)) for i in sf_ids}

    def _one(self, record: StagedRecord, known: _Known) -> None:
        entry, failure = known.entry, known.failure
        if record.is_deleted:
            if entry is not None and not entry.trashed and self.ctx.obj.delete_policy == "trash":
                self.trash(record.sf_id, entry)
            else:
                self._skip(record.sf_id, failure)
            return
        payload = _payload(record)
        resync = self.ctx.resync
        if resync is not None and resync.superseded(entry, record):  # a newer live write wins
            log.info("%s %s: Notion holds a newer version than this re-sync's; left as is", self.ctx.object_name,
                     record.sf_id)
            self._skip(record.sf_id, failure)
            return
        if entry is not None and not entry.trashed and self._unchanged(entry, record):
            self._skip(record.sf_id, failure)
            return
        if failure is not None and failure.fatal and self._same_input(failure, record):
            self.tally.failed += 1  # rejected before for this very input: do not re-send blindly
            return
        if ERROR_KEY in payload:
            error = payload[ERROR_KEY]
            self._fail(record, OP_UPDATE if entry else OP_CREATE, error["code"], error["message"], fatal=True)
            return
        for key, lossy in ((WARNINGS_KEY, True), (NOTES_KEY, False)):  # counted; the batch logs one line a kind
            self.changes.add(self.ctx.run_id, self.ctx.object_name, record.sf_id, payload.get(key, ()), lossy=lossy)
        if entry is not None:
            self._update(record, entry, payload[PROPERTIES_KEY])
        # with an intent (or one another run claimed since _known read), a create may have gone through: resolve()
        elif not known.intent and self._claim(record):
            self.create(record, claimed=True)

    def _unchanged(self, entry: RecordMapEntry, record: StagedRecord) -> bool:
        """Notion holds this content (as this package last wrote it; a re-sync with ``force`` rewrites it)."""
        forced = self.ctx.resync is not None and self.ctx.resync.force
        return not forced and entry.content_hash == record.content_hash and entry.mapping_version == self.ctx.mapping_version

    def _same_input(self, failure: LogEntry, record: StagedRecord) -> bool:
        return failure.sf_system_modstamp == record.system_modstamp and failure.mapping_version == self.ctx.mapping_version

    def _claim(self, record: StagedRecord) -> bool:
        """No other run (a live run beside a backfill) started this record's create since ``_known`` read."""
        if self.ctx.dry_run:
            return True
        return self.ctx.store.claim_intent(self.ctx.object_name, record.sf_id, self.ctx.run_id, at=self.ctx.clock())

    def _skip(self, sf_id: str, failure: LogEntry | None) -> None:
        self.tally.skipped += 1
        if failure is not None:
            self._resolved.add(sf_id)  # what Notion holds is current after all

    def _succeeded(self, sf_id: str) -> None:
        """A write went through: close the record's open sync_log row, if it has one."""
        if sf_id in self._open:
            self._resolved.add(sf_id)

    # --- writes -------------------------------------------------------------------------------------

    @property
    def client(self) -> ThrottledNotionClient:
        if self._client is None:
            self._client = self.ctx.notion_client()
            self._baseline = (self._client.totals.attempts, self._client.totals.rate_limited)
        return self._client

    def create(self, record: StagedRecord, *, claimed: bool = False) -> None:
        """Send a page create behind a committed intent (``claimed``: _claim just wrote it); an unknown
        outcome keeps the intent."""
        if self.ctx.dry_run:
            self.tally.created += 1
            return
        obj = self.ctx.obj
        if not claimed:
            self.ctx.store.write_intents(obj.name, [record.sf_id], self.ctx.run_id, at=self.ctx.clock())
        self._writes += 1
        try:
            result = self.client.create_page(
                self.ctx.data_source(), _payload(record)[PROPERTIES_KEY], sf_id=record.sf_id,
                allow_defer=self.allow_defer,
            )  # fmt: skip
        except DeferRequested:
            self._unsent_intents.add(record.sf_id)  # nothing went out: no lookup needed later
            raise
        except NotionApiError as exc:
            if exc.stops_run or exc.code == "object_not_found":  # the token, or the data source, is the problem
                self._unsent_intents.add(record.sf_id)
                raise
            if exc.may_have_written:
                self._unknown(record, exc)
                return
            self._unsent_intents.add(record.sf_id)  # rejected or rate limited: surely not created
            self._fail(record, OP_CREATE, exc.code, str(exc), error=exc)
            return
        if result.committed:
            self.tally.adopted += 1
            log.info("%s %s: create answered %s but committed as page %s; adopted", self.ctx.object_name,
                     record.sf_id, "5xx", result.data["id"])
        self.created(record, result.data["id"])

    def created(self, record: StagedRecord, page_id: str) -> None:
        """The record's page is ``page_id``: map it and drop the intent (one transaction, at flush)."""
        self._sent.pop(record.sf_id, None)
        self._created.append(self._entry(record, page_id))
        self._succeeded(record.sf_id)
        self.tally.created += 1

    def adopt(self, record: StagedRecord, page: dict[str, Any]) -> bool:
        """A settled lookup found the record's page: rewrite it unless it holds what this writer sent
        (an earlier process may have created it from an older version of the record). False: the
        rewrite failed and is in sync_log; the intent stays, so the retry looks the page up again."""
        if self._sent.get(record.sf_id) != record.content_hash:
            body = {PROPERTIES_KEY: _payload(record)[PROPERTIES_KEY]}
            if self._patch(record, page["id"], body, OP_UPDATE) is None:
                return False
        self.tally.adopted += 1
        self.created(record, page["id"])
        return True

    def _unknown(self, record: StagedRecord, error: NotionApiError) -> None:
        """The page may or may not exist: keep the intent, show the record as Pending until resolved."""
        self._sent[record.sf_id] = record.content_hash
        self._open.add(record.sf_id)
        # the page may have been saved at any moment until now: settle from now, not from the send
        self.ctx.store.write_intents(self.ctx.object_name, [record.sf_id], self.ctx.run_id, at=self.ctx.clock())
        settle = self.ctx.config.defaults.exactly_once.settle_seconds
        failure = self._failure(record, OP_CREATE, error.code, f"outcome unknown, resolved after {settle:g}s: {error}",
                                error=error, pending=True)
        self._failures.append((failure, None))
        log.info("%s %s: create outcome unknown (%s); resolved by a lookup after %gs", self.ctx.object_name,
                 record.sf_id, error.code, settle)

    def give_up(self, sf_id: str) -> None:
        """Outcome still unknown after the batch's rounds: the intent and its Pending row stay."""
        self.tally.unresolved += 1

    def _update(self, record: StagedRecord, entry: RecordMapEntry, properties: dict[str, Any]) -> None:
        if self.ctx.dry_run:
            self.tally.updated += 1
            return
        body: dict[str, Any] = {PROPERTIES_KEY: properties}
        if entry.trashed:
            body["in_trash"] = False  # deleted, then undeleted in Salesforce: restore the page
        if self._patch(record, entry.notion_page_id, body, OP_UPDATE) is not None:
            self._map.append(self._entry(record, entry.notion_page_id))
            self._succeeded(record.sf_id)
            self.tally.updated += 1

    def trash(self, sf_id: str, entry: RecordMapEntry) -> None:
        """Move a mapped page to the Notion trash (also used by reconcile)."""
        if self.ctx.dry_run:
            self.tally.trashed += 1
            return
        stub = StagedRecord(sf_id=sf_id, system_modstamp=None, payload={}, content_hash="", is_deleted=True)
        if self._patch(stub, entry.notion_page_id, {"in_trash": True}, OP_TRASH) is not None:
            self._trashed.append(sf_id)
            self._succeeded(sf_id)
            self.tally.trashed += 1

    def _patch(self, record: StagedRecord, page_id: str, body: dict[str, Any], operation: str) -> ApiResult | None:
        self._writes += 1
        try:
            return self.client.request(
                "PATCH", f"pages/{page_id}", body=body, record_id=record.sf_id, allow_defer=self.allow_defer
            )
        except NotionApiError as exc:
            if exc.stops_run:
                raise
            self._fail(record, operation, exc.code, str(exc), error=exc)
            return None

    def _entry(self, record: StagedRecord, page_id: str) -> RecordMapEntry:
        return RecordMapEntry(
            object_name=self.ctx.object_name,
            sf_id=record.sf_id,
            notion_page_id=page_id,
            content_hash=record.content_hash,
            system_modstamp=record.system_modstamp,
            synced_at=self.ctx.clock(),
            mapping_version=self.ctx.mapping_version,
        )

    # --- failures -----------------------------------------------------------------------------------

    def _fail(self, record: StagedRecord, operation: str, code: str | None, message: str, **how: Any) -> None:
        """A failed write (``how``: ``fatal`` or the ``error``, as for _failure), counted and logged."""
        if self.ctx.dry_run:
            self.tally.failed += 1
            return
        failure = self._failure(record, operation, code, message, **how)
        error = how.get("error")
        self._failures.append((failure, error.retry_after if error and error.rate_limited else None))
        self.tally.failed += 1
        log.warning("%s %s: %s failed: %s", self.ctx.object_name, record.sf_id, operation, message)

    def _failure(
        self,
        record: StagedRecord,
        operation: str,
        code: str | None,
        message: str,
        *,
        fatal: bool = False,
        error: NotionApiError | None = None,
        pending: bool = False,
    ) -> Failure:
        if error is not None:
            fatal = error.kind is ErrorKind.FATAL
        settle = self.ctx.config.defaults.exactly_once.settle_seconds
        return Failure(
            run_id=self.ctx.run_id,
            object_name=self.ctx.object_name,
            sf_id=record.sf_id,
            operation=operation,
            error_code=code or (error.kind.value if error else None),
            error_message=message,
            rate_limited=bool(error and error.rate_limited),
            fatal=fatal,
            notion_request_id=error.request_id if error else None,
            sf_system_modstamp=record.system_modstamp,
            mapping_version=self.ctx.mapping_version,
            next_retry_at=self.ctx.clock() + timedelta(seconds=settle) if pending else None,
            pending=pending,
        )

    def _record_failures(self) -> None:
        """One write per distinct Retry-After: it is the floor of that group's backoff."""
        groups: dict[float | None, list[Failure]] = defaultdict(list)
        for failure, retry_after in self._failures:
            groups[retry_after].append(failure)
        policy = self.ctx.config.defaults.retry
        for retry_after, failures in groups.items():
            self.ctx.store.record_failures(
                failures,
                retry_delay=lambda attempts, floor=retry_after: retry_delay(attempts, policy, retry_after_s=floor),
                max_attempts=policy.max_attempts,
                now=self.ctx.clock(),
            )

    def _count_requests(self) -> None:
        if self._client is None:
            return
        attempts, limited = self._client.totals.attempts, self._client.totals.rate_limited
        self.tally.notion_requests += attempts - self._baseline[0]
        self.tally.rate_limited_429s += limited - self._baseline[1]
        self._baseline = (attempts, limited)


def _payload(record: StagedRecord) -> dict[str, Any]:
    return record.payload if isinstance(record.payload, dict) else {}
