"""Per-process state, shared by every limiter in the process: the fallback when nothing is shared."""

from __future__ import annotations

import threading

from ..pacing import BudgetState
from .base import TransactBackend


class MemoryBackend(TransactBackend):
    """A module-level table, so that every client of a token in this process shares one budget."""

    name = "memory"
    _states: dict[str, BudgetState] = {}
    _lock = threading.Lock()

    def read(self, key: str) -> BudgetState:
        with self._lock:
            return self._states.get(key, BudgetState())

    def transact(self, key, read_keys, fn):
        with self._lock:
            others = [self._states.get(k, BudgetState()) for k in read_keys]
            new, result = fn(self._states.get(key, BudgetState()), others)
            if new is not None:
                self._states[key] = new
            return result
