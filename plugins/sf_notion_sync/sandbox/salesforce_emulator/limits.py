"""The org's API request counter behind Sforce-Limit-Info and REQUEST_LIMIT_EXCEEDED.

Salesforce's allocation is a rolling 24 hours, not a reset at midnight: a request stops counting
24 hours after it was made. Requests are kept as per-minute counts, so memory stays at <= 1,440 buckets.
"""

from __future__ import annotations

import threading
from collections import deque

from .clock import Clock
from .errors import SalesforceError

WINDOW_MS = 24 * 3600 * 1000
_BUCKET_MS = 60 * 1000


class ApiUsage:
    def __init__(self, daily_limit: int, clock: Clock | None = None) -> None:
        self.daily_limit = daily_limit
        self.clock = clock or Clock()
        self._buckets: deque[list[int]] = deque()  # [minute start ms, requests]
        self._used = 0
        self._lock = threading.Lock()

    def _roll(self) -> int:
        now = self.clock.ms()
        while self._buckets and self._buckets[0][0] + _BUCKET_MS <= now - WINDOW_MS:
            self._used -= self._buckets.popleft()[1]
        return now

    def _add(self, now: int, n: int) -> None:
        minute = now - now % _BUCKET_MS
        if self._buckets and self._buckets[-1][0] == minute:
            self._buckets[-1][1] += n
        else:
            self._buckets.append([minute, n])
        self._used += n

    @property
    def used(self) -> int:
        with self._lock:
            self._roll()
            return self._used

    def hit(self) -> None:
        """Count one API request, or refuse it (403) while the last 24 hours hold the limit."""
        with self._lock:
            now = self._roll()
            if self._used >= self.daily_limit:
                raise SalesforceError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.",
                                      {"Sforce-Limit-Info": self._header()})
            self._add(now, 1)

    def header_value(self) -> str:
        with self._lock:
            self._roll()
            return self._header()

    def _header(self) -> str:
        return f"api-usage={self._used}/{self.daily_limit}"

    def set(self, daily_limit: int | None = None, used: int | None = None) -> None:
        """Set the limit, and/or replace the counted requests by `used` made now."""
        with self._lock:
            if daily_limit is not None:
                self.daily_limit = int(daily_limit)
            if used is not None:
                self._buckets.clear()
                self._used = 0
                if used:
                    self._add(self.clock.ms(), int(used))
