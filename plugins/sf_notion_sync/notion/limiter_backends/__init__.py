"""Where the shared budget state lives: one module per backend (in-process, SQL, Redis)."""

from __future__ import annotations

from .base import BudgetKeys, LimiterBackend
from .memory import MemoryBackend
from .redis import RedisBackend
from .sql import SqlBackend

__all__ = ["BudgetKeys", "LimiterBackend", "MemoryBackend", "RedisBackend", "SqlBackend"]
