"""getDeleted / getUpdated with Salesforce's replication semantics.

- start and end are read to the minute: 12:30:15 counts as 12:30:00 (both ends), and a span that is
  empty after that is refused like a reversed one (INVALID_REPLICATION_DATE);
- `latestDateCovered` is the end of what was covered: the truncated end, or earlier while
  transactions may still commit older stamps (`open_transaction_s`); the next call starts there.
  The covered span is [start, latestDateCovered): what a call leaves out, the next one returns;
- the delete log is purged: `purge(obj, before)` physically drops older entries and moves
  `earliestDateAvailable`; a start before it still answers (without the purged ids), so a client
  must compare the two itself: the harsher case, since the documentation does not promise an error.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime

from ..datagen import Generator, make_id
from ..datagen.generator import index_floor_for_stamp, stamp_of
from ..datagen.schema import ObjectDef
from .clock import Clock
from .errors import SalesforceError
from .formats import iso_ms
from .store import RecordStore

GET_DELETED_DAYS, GET_UPDATED_DAYS, MAX_REPLICATION_IDS = 15, 30, 600_000
_MINUTE_MS = 60_000


def parse_time(text: str | None, name: str) -> datetime:
    if not text:
        raise SalesforceError(400, "MISSING_ARGUMENT", f"Missing required parameter: {name}")
    cleaned = text.strip().rstrip(":").replace("Z", "+00:00").replace(" ", "+")
    if re.search(r"[+-]\d{4}$", cleaned):
        cleaned = cleaned[:-2] + ":" + cleaned[-2:]
    try:
        value = datetime.fromisoformat(cleaned)
    except ValueError:
        raise SalesforceError(400, "INVALID_REPLICATION_DATE", f"Invalid {name} date: {text}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _minute(ms: int) -> int:
    return ms - ms % _MINUTE_MS


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


class Replication:
    def __init__(self, gen: Generator, store: RecordStore, clock: Clock) -> None:
        self.gen = gen
        self.store = store
        self.clock = clock
        self.open_transaction_s = 0.0
        self._purged_ms: dict[str, int] = {}
        self._lock = threading.Lock()

    def purge(self, obj: str, before: datetime | None = None) -> str:
        """Drop the delete log of `obj` before `before` (default now); returns the new earliestDateAvailable."""
        at = _ms(before) if before else self.clock.ms()
        with self._lock:
            self._purged_ms[obj] = max(at, self._purged_ms.get(obj, 0))
        return iso_ms(self._earliest(obj, self.clock.ms()))

    def reset(self) -> None:
        with self._lock:
            self._purged_ms.clear()

    def _earliest(self, obj: str, now: int) -> int:
        window = now - GET_DELETED_DAYS * 86_400_000
        with self._lock:
            return max(window, self._purged_ms.get(obj, 0))

    def _span(self, start_text: str | None, end_text: str | None, max_days: int) -> tuple[int, int, int]:
        """(start, latestDateCovered, now) in epoch ms, after minute truncation and the checks."""
        now = self.clock.ms()
        start = _minute(_ms(parse_time(start_text, "start")))
        end = _minute(_ms(parse_time(end_text, "end")))
        if end <= start:
            raise SalesforceError(400, "INVALID_REPLICATION_DATE", "startDate must chronologically precede endDate")
        if start < now - max_days * 86_400_000:
            raise SalesforceError(400, "INVALID_REPLICATION_DATE",
                                  f"startDate is more than {max_days} days before the current date")
        settled = _minute(now - int(self.open_transaction_s * 1000))
        return start, max(start, min(end, settled)), now

    def deleted(self, obj: ObjectDef, start_text: str | None, end_text: str | None) -> dict:
        lo, covered, now = self._span(start_text, end_text, GET_DELETED_DAYS)
        earliest = self._earliest(obj.name, now)
        rows = self.store.snapshot(obj.name)
        hits = sorted((r.deleted_at, i) for i, r in rows.items() if r.is_deleted and r.deleted_at is not None
                      and max(lo, earliest) <= r.deleted_at < covered)
        if len(hits) > MAX_REPLICATION_IDS:
            raise SalesforceError(400, "EXCEEDED_ID_LIMIT", "record limit reached. narrow the time window")
        return {
            "deletedRecords": [{"id": make_id(obj.key_prefix, i), "deletedDate": iso_ms(t)} for t, i in hits],
            "earliestDateAvailable": iso_ms(earliest),
            "latestDateCovered": iso_ms(covered),
        }

    def updated(self, obj: ObjectDef, start_text: str | None, end_text: str | None) -> dict:
        lo, covered, _ = self._span(start_text, end_text, GET_UPDATED_DAYS)
        rows = self.store.snapshot(obj.name)
        ids = [i for i, r in rows.items() if not r.is_deleted and lo <= r.stamp < covered]
        n = self.gen.count(obj.name)
        i = min(n, index_floor_for_stamp(lo))
        while i < n and stamp_of(i) < covered:
            if stamp_of(i) >= lo and i not in rows:
                ids.append(i)
                if len(ids) > MAX_REPLICATION_IDS:
                    raise SalesforceError(400, "EXCEEDED_ID_LIMIT", "record limit reached. narrow the time window")
            i += 1
        return {"ids": [make_id(obj.key_prefix, i) for i in sorted(ids)], "latestDateCovered": iso_ms(covered)}


__all__ = ["GET_DELETED_DAYS", "GET_UPDATED_DAYS", "MAX_REPLICATION_IDS", "Replication", "parse_time"]
