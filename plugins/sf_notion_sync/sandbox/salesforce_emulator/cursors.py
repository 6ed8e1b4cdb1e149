"""Live result streams keyed by a locator, so that consecutive pages continue one generator.

A page asked out of sequence (a retry, an old locator) replays the stream and skips to its offset:
slower, still correct. Idle streams expire like Salesforce's query locators (15 minutes).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

IDLE_SECONDS = 15 * 60


@dataclass
class Cursor:
    factory: Callable[[], Iterator[dict]]
    context: dict
    iterator: Iterator[dict] | None = None
    position: int = 0
    touched: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, offset: int, n: int) -> Iterator[dict]:
        """Yield up to n records starting at `offset`; call under `lock`, consuming fully."""
        if self.iterator is None or self.position != offset:
            self.iterator = itertools.islice(self.factory(), offset, None)
            self.position = offset
        for rec in itertools.islice(self.iterator, n):
            self.position += 1
            yield rec


class CursorCache:
    def __init__(self, capacity: int = 256) -> None:
        self._items: OrderedDict[str, Cursor] = OrderedDict()
        self._lock = threading.Lock()
        self.capacity = capacity

    def put(self, key: str, cursor: Cursor) -> None:
        with self._lock:
            self._items[key] = cursor
            self._expire()

    def get(self, key: str) -> Cursor | None:
        with self._lock:
            self._expire()
            cursor = self._items.get(key)
            if cursor is not None:
                cursor.touched = time.monotonic()
                self._items.move_to_end(key)
            return cursor

    def drop(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)

    def _expire(self) -> None:
        now = time.monotonic()
        for key in [k for k, c in self._items.items() if now - c.touched > IDLE_SECONDS]:
            del self._items[key]
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
