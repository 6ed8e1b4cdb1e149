"""The emulated event bus of change events: replay ids, the 72-hour retention, gap and overflow events.

Modelled on the Pub/Sub API Developer Guide ("Event Message Durability": events are kept 72 hours,
replay ids are opaque and not contiguous) and the Change Data Capture Developer Guide ("Gap Events",
"Overflow Events"). One change event per updated record (each record's new values differ), one event
with every record id for the deletes (or undeletes) of one mutation, as one transaction would give.
Retention is judged by the emulator's clock, so a test moves the clock 72 h on instead of waiting.
Events live in memory: a restarted sandbox starts an empty bus (its replay ids then no longer resolve,
which a client must handle as it handles an expired one).
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import threading
import uuid
from dataclasses import dataclass
from datetime import date, datetime

import fastavro

from ...datagen.schema import ObjectDef
from ..clock import Clock
from ..store import RecordStore
from .schema import CHANGE_TYPES, GAP_TYPES, change_event_schema, field_bitmap, schema_id, topic_name

RETENTION_S = 72 * 3600
_EPOCH_DAY = date(1970, 1, 1)
COMMIT_USER = "0055g0000000001AAA"


@dataclass(frozen=True)
class StoredEvent:
    replay: int
    published_ms: int
    event_id: str
    schema_id: str
    payload: bytes

    @property
    def replay_id(self) -> bytes:
        return self.replay.to_bytes(8, "big")


def _avro_value(obj: ObjectDef, name: str, value):
    """A record value as the event schema types it: Date as days since the epoch, DateTime as epoch ms."""
    kind = "datetime" if name == "SystemModstamp" else obj.field(name).type
    if value is None:
        return None
    if kind == "date" and isinstance(value, str):
        return (date.fromisoformat(value) - _EPOCH_DAY).days
    if kind == "datetime" and isinstance(value, str):
        return int(datetime.fromisoformat(value.replace("+0000", "+00:00")).timestamp() * 1000)
    if kind in ("currency", "double", "percent") and isinstance(value, int):
        return float(value)
    return value


class ChangeEventBus:
    """Per topic, the retained events in replay order; subscribers wait on it from any event loop."""

    def __init__(self, clock: Clock, retention_s: float = RETENTION_S) -> None:
        self.clock = clock
        self.retention_s = retention_s
        self._events: dict[str, list[StoredEvent]] = {}
        self._schemas: dict[str, tuple[str, object]] = {}  # schema id -> (json, parsed)
        self._last_replay = 1000
        self._purged_through: dict[str, int] = {}  # per topic, the newest replay id no longer retained
        self._commit = itertools.count(1)
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    # -- schemas -----------------------------------------------------------------------------------

    def schema_for(self, obj: ObjectDef) -> tuple[str, str]:
        """(schema id, schema json) of `obj`'s change events, registered for GetSchema."""
        text = change_event_schema(obj)
        sid = schema_id(text)
        with self._lock:
            if sid not in self._schemas:
                self._schemas[sid] = (text, fastavro.parse_schema(json.loads(text)))
        return sid, text

    def schema_json(self, sid: str) -> str | None:
        with self._lock:
            found = self._schemas.get(sid)
        return None if found is None else found[0]

    # -- publishing --------------------------------------------------------------------------------

    def publish(self, obj: ObjectDef, change_type: str, record_ids: list[str], values: dict | None = None,
                transaction_key: str | None = None, sequence: int = 1) -> StoredEvent:
        """Append one change event; `values` holds the changed fields' new values (their bitmap is built)."""
        if change_type not in CHANGE_TYPES + GAP_TYPES:
            raise ValueError(f"unknown changeType {change_type!r} (allowed: {', '.join(CHANGE_TYPES + GAP_TYPES)})")
        values = dict(values or {})
        sid, text = self.schema_for(obj)
        now = self.clock.ms()
        header = {
            "entityName": obj.name, "recordIds": list(record_ids), "changeType": change_type,
            "changeOrigin": "com/salesforce/api/rest/59.0", "transactionKey": transaction_key or uuid.uuid4().hex,
            "sequenceNumber": sequence, "commitTimestamp": now, "commitNumber": next(self._commit),
            "commitUser": COMMIT_USER, "nulledFields": [], "diffFields": [],
            "changedFields": [field_bitmap(text, list(values))] if values else [],
        }
        with self._lock:
            parsed = self._schemas[sid][1]
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, parsed, {"ChangeEventHeader": header, **values})
        with self._lock:
            self._last_replay += 1 + header["commitNumber"] % 3  # replay ids are not contiguous
            event = StoredEvent(self._last_replay, now, str(uuid.uuid4()), sid, buf.getvalue())
            self._events.setdefault(topic_name(obj.name), []).append(event)
            waiters = list(self._waiters)
        for loop, ready in waiters:
            loop.call_soon_threadsafe(ready.set)
        return event

    def publish_mutation(self, obj: ObjectDef, result: dict[str, list[str]], store: RecordStore) -> int:
        """The change events of one sandbox mutation: `result` holds the ids updated, deleted and undeleted;
        their records as they are now come from one snapshot of `store`. Returns the events published."""
        from ...datagen import parse_id
        from ...datagen.overlay import MUTABLE_FIELDS

        transaction = uuid.uuid4().hex
        rows = store.snapshot(obj.name) if result.get("updated") else {}
        count = 0
        for seq, record_id in enumerate(result.get("updated", []), start=1):
            rec = store.record(obj.name, parse_id(record_id, obj.key_prefix), rows)
            changed = {f: _avro_value(obj, f, rec.get(f))
                       for f in (*MUTABLE_FIELDS[obj.name], "LastModifiedDate", "SystemModstamp")}
            self.publish(obj, "UPDATE", [record_id], changed, transaction, seq)
            count += 1
        for kind, change_type in (("deleted", "DELETE"), ("undeleted", "UNDELETE")):
            if result.get(kind):
                self.publish(obj, change_type, result[kind], None, transaction, count + 1)
                count += 1
        return count

    # -- reading -----------------------------------------------------------------------------------

    def retained(self, topic: str) -> list[StoredEvent]:
        """The topic's events still within retention (older ones are purged here)."""
        horizon = self.clock.ms() - self.retention_s * 1000
        with self._lock:
            events = self._events.get(topic, [])
            keep = next((i for i, e in enumerate(events) if e.published_ms >= horizon), len(events))
            if keep:
                self._purged_through[topic] = events[keep - 1].replay
                self._events[topic] = events = events[keep:]
            return list(events)

    def resumable(self, topic: str, replay: int) -> bool:
        """Whether a subscription can start after `replay`: issued, and its event still retained (the
        harsher reading: an id past retention fails even when no event after it was purged)."""
        self.retained(topic)
        with self._lock:
            return self._purged_through.get(topic, 1000) < replay <= self._last_replay

    def latest_replay(self) -> int:
        with self._lock:
            return self._last_replay

    def register(self, loop: asyncio.AbstractEventLoop, ready: asyncio.Event) -> None:
        with self._lock:
            self._waiters.append((loop, ready))

    def unregister(self, ready: asyncio.Event) -> None:
        with self._lock:
            self._waiters = [(lp, ev) for lp, ev in self._waiters if ev is not ready]

    def subscribers(self) -> int:
        """Subscriptions open now (a test waits for its subscriber before it mutates)."""
        with self._lock:
            return len(self._waiters)

    def stats(self) -> dict:
        with self._lock:
            return {topic: {"events": len(events), "latest_replay_id": self._last_replay.to_bytes(8, "big").hex()}
                    for topic, events in self._events.items()}

    def reset(self) -> None:
        with self._lock:
            self._purged_through = {t: self._last_replay for t in self._events}  # nothing before a reset resumes
            self._events.clear()
