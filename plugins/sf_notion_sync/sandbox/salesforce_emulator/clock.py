"""The emulator's wall clock: real time, shifted or frozen through the control API.

Sessions, the rolling API counter, getDeleted/getUpdated windows and mutation stamps all read it,
so a test can put "now" on a chosen second or jump a day ahead instead of waiting.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class Clock:
    def __init__(self) -> None:
        self._frozen_ms: int | None = None
        self._offset_ms = 0
        self._lock = threading.Lock()

    def ms(self) -> int:
        with self._lock:
            if self._frozen_ms is not None:
                return self._frozen_ms
            return int(time.time() * 1000) + self._offset_ms

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.ms() / 1000, UTC)

    def freeze(self, at: datetime | None) -> None:
        """Stop the clock at `at` (None: run in real time again, without offset)."""
        with self._lock:
            self._frozen_ms = None if at is None else int(at.timestamp() * 1000)
            self._offset_ms = 0

    def advance(self, seconds: float) -> None:
        with self._lock:
            step = int(seconds * 1000)
            if self._frozen_ms is not None:
                self._frozen_ms += step
            else:
                self._offset_ms += step

    @property
    def frozen(self) -> bool:
        return self._frozen_ms is not None
