"""API usage recorder: every request counted into hourly buckets, without a DB round trip each.

Counts are added up in memory per (hour, endpoint template, status, dag_id) and flushed to the
``api_usage`` table with an upsert that adds to the counters -- every ``flush_every`` requests, every
``flush_interval_s`` seconds (checked on the next request) and at ``close()``. A failed flush keeps
the counts for the next one: usage figures are worth a retry but never worth failing a sync.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)

_ID_SEGMENT = re.compile(r"^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$")


def template_endpoint(method: str, path: str) -> str:
    """'PATCH', 'pages/3f9c...' -> 'PATCH /v1/pages/{id}' (ids and the query string dropped)."""
    path = path.split("?", 1)[0].strip("/")
    if path.startswith("v1/"):
        path = path[3:]
    segments = ["{id}" if _ID_SEGMENT.match(s) else s for s in path.split("/") if s]
    return f"{method.upper()} /v1/{'/'.join(segments)}"


@dataclass
class UsageCounts:
    requests: int = 0
    rate_limited: int = 0
    errors: int = 0
    latency_ms_sum: float = 0.0
    latency_ms_max: float = 0.0


BucketKey = tuple[datetime, str, str, int, str]  # bucket_start, api, endpoint, status, dag_id
UsageSink = Callable[[Sequence[tuple[BucketKey, UsageCounts]]], None]


class UsageRecorder:
    """Thread-safe; one per client. ``sink`` receives the buffered buckets (see ``sql_usage_sink``)."""

    def __init__(
        self,
        sink: UsageSink | None,
        *,
        api: str = "notion",
        dag_id: str = "",
        flush_every: int = 200,
        flush_interval_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sink = sink
        self.api = api
        self.dag_id = dag_id
        self.flush_every = flush_every
        self.flush_interval_s = flush_interval_s
        self.clock = clock
        self._buffer: dict[BucketKey, UsageCounts] = {}
        self._pending = 0
        self._last_flush = clock()
        self._lock = threading.Lock()

    def record(self, method: str, path: str, status: int, latency_ms: float, at: float | None = None) -> None:
        """Count one request (``status`` 0 for a transport error or timeout)."""
        now = self.clock() if at is None else at
        hour = datetime.fromtimestamp(now - now % 3600, tz=UTC)
        key = (hour, self.api, template_endpoint(method, path), int(status), self.dag_id)
        with self._lock:
            counts = self._buffer.setdefault(key, UsageCounts())
            counts.requests += 1
            counts.rate_limited += status in (429, 529)
            counts.errors += status == 0 or status >= 400
            counts.latency_ms_sum += latency_ms
            counts.latency_ms_max = max(counts.latency_ms_max, latency_ms)
            self._pending += 1
            due = self._pending >= self.flush_every or now - self._last_flush >= self.flush_interval_s
        if due:
            self.flush()

    def snapshot(self) -> dict[BucketKey, UsageCounts]:
        with self._lock:
            return {k: UsageCounts(**vars(v)) for k, v in self._buffer.items()}

    def flush(self) -> None:
        with self._lock:
            items = list(self._buffer.items())
            self._buffer, self._pending, self._last_flush = {}, 0, self.clock()
        if not items or self.sink is None:
            return
        try:
            self.sink(items)
        except Exception:  # keep the counts; the next flush tries again
            log.warning("could not write %d API usage buckets; keeping them for the next flush", len(items), exc_info=True)
            with self._lock:
                for key, counts in items:
                    _merge(self._buffer.setdefault(key, UsageCounts()), counts)
                    self._pending += counts.requests

    def close(self) -> None:
        self.flush()


def _merge(into: UsageCounts, other: UsageCounts) -> None:
    into.requests += other.requests
    into.rate_limited += other.rate_limited
    into.errors += other.errors
    into.latency_ms_sum += other.latency_ms_sum
    into.latency_ms_max = max(into.latency_ms_max, other.latency_ms_max)


def sql_usage_sink(engine: Any) -> UsageSink:
    """Buckets into ``api_usage`` through the state store's upsert-add (the one implementation)."""
    from ..state.rows import UsageDelta
    from ..state.store import StateStore

    store = StateStore(engine)

    def sink(items: Sequence[tuple[BucketKey, UsageCounts]]) -> None:
        store.add_api_usage(
            UsageDelta(at, api, endpoint, status, dag_id, c.requests, c.rate_limited, c.errors,
                       c.latency_ms_sum, c.latency_ms_max)
            for (at, api, endpoint, status, dag_id), c in items
        )

    return sink
