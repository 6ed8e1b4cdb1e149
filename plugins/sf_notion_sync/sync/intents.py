"""Resolving creates whose outcome is unknown, without ever making a second page (invariant 2).

A create that got no answer (timeout, dropped connection), a 5xx or a 409 may have been saved.
Notion does not promise that a data-source query sees a new page at once, so an empty lookup right
after the create proves nothing: re-creating then is how lost answers become duplicate pages. So the
intent stays, the batch writes its other records, and at its end each open intent is settled only
once it is ``settle_seconds`` old (sync.yaml ``defaults.exactly_once``): the page a lookup finds
then is adopted, and only an empty settled lookup re-creates. A wait longer than the client's defer
threshold defers the task (no worker slot held); the batch resumes straight into this step. After
``max_rounds`` re-creates still unknown, the intent and its Pending sync_log row stay for the next
run or the retry DAG, which resolve it the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sf_notion_sync.notion.errors import DeferRequested, NotionApiError
from sf_notion_sync.state.rows import Intent, StagedRecord

if TYPE_CHECKING:
    from .writer import RecordWriter

log = logging.getLogger(__name__)


class IntentResolver:
    """Settles the open intents of one batch's records through the batch's writer."""

    def __init__(self, writer: RecordWriter, records: Sequence[StagedRecord]) -> None:
        self.writer = writer
        self.ctx = writer.ctx
        self.policy = self.ctx.config.defaults.exactly_once
        self.records = {r.sf_id: r for r in records if not r.is_deleted}
        self.rounds: dict[str, int] = {}
        self.failed: set[str] = set()
        """Adopted pages whose rewrite failed: in sync_log as Failed, left to the retry DAG."""

    def run(self) -> None:
        """Until no intent of these records is open, each re-created at most ``max_rounds`` times."""
        if self.ctx.dry_run or not self.records:
            return
        for _ in range((self.policy.max_rounds + 2) * 2):  # a wait and a pass per round, at most
            self.writer.flush()  # intents and outcomes so far are in the store before it is read
            open_ = [i for i in self._open_intents() if self._retryable(i)]
            if not open_:
                break
            now = self.ctx.clock()
            due = [i for i in open_ if self._settled_at(i) <= now]
            if not due:  # wait once for all of them: the batch has nothing else left to write
                self._wait((max(self._settled_at(i) for i in open_) - now).total_seconds())
                continue
            for intent in due:
                self._settle(self.records[intent.sf_id])
        self.writer.flush()
        for intent in self._open_intents():
            if intent.sf_id in self.failed:
                continue
            self.writer.give_up(intent.sf_id)
            log.warning("%s %s: create outcome still unknown after %d rounds; left to the next run or the retry DAG",
                        self.ctx.object_name, intent.sf_id, self.policy.max_rounds)

    def _retryable(self, intent: Intent) -> bool:
        return intent.sf_id not in self.failed and self.rounds.get(intent.sf_id, 0) <= self.policy.max_rounds

    def _open_intents(self) -> list[Intent]:
        return self.ctx.store.open_intents(self.ctx.object_name, list(self.records))

    def _settled_at(self, intent: Intent) -> datetime:
        return intent.created_at + timedelta(seconds=self.policy.settle_seconds)

    def _wait(self, seconds: float) -> None:
        client = self.writer.client
        if self.writer.allow_defer and seconds > client.defer_threshold_s:
            raise DeferRequested(seconds, self.ctx.clock().timestamp() + seconds)
        self.ctx.sleep(max(0.0, seconds))

    def _settle(self, record: StagedRecord) -> None:
        """A trusted lookup: adopt what it finds; create when it finds nothing."""
        obj = self.ctx.obj
        try:
            page = self.writer.client.find_page_by_sf_id(self.ctx.data_source(), obj.salesforce_id_property, record.sf_id)
        except NotionApiError as exc:  # the client spent its retries (a budget wait defers instead)
            if exc.stops_run:
                raise
            log.warning("%s %s: lookup of an unknown create failed (%s); tried again", obj.name, record.sf_id, exc)
            self.rounds[record.sf_id] = self.rounds.get(record.sf_id, 0) + 1
            return
        if page is not None:
            log.info("%s %s: page %s found by a settled lookup; adopted", obj.name, record.sf_id, page["id"])
            if not self.writer.adopt(record, page):
                self.failed.add(record.sf_id)
            return
        self.rounds[record.sf_id] = self.rounds.get(record.sf_id, 0) + 1
        self.writer.create(record)
