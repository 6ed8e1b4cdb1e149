"""The org's daily API request counter behind Sforce-Limit-Info and REQUEST_LIMIT_EXCEEDED."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from .errors import SalesforceError


class ApiUsage:
    def __init__(self, daily_limit: int) -> None:
        self.daily_limit = daily_limit
        self.used = 0
        self._day = datetime.now(UTC).date()
        self._lock = threading.Lock()

    def _roll(self) -> None:
        today = datetime.now(UTC).date()
        if today != self._day:
            self._day, self.used = today, 0

    def hit(self) -> None:
        """Count one API request, or refuse it (403) once the daily limit is reached."""
        with self._lock:
            self._roll()
            if self.used >= self.daily_limit:
                raise SalesforceError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.",
                                      {"Sforce-Limit-Info": self.header_value()})
            self.used += 1

    def header_value(self) -> str:
        return f"api-usage={self.used}/{self.daily_limit}"

    def set(self, daily_limit: int | None = None, used: int | None = None) -> None:
        with self._lock:
            if daily_limit is not None:
                self.daily_limit = int(daily_limit)
            if used is not None:
                self.used = int(used)
