"""The trigger that holds a deferred Notion task while the shared budget is closed.

It costs no worker slot: the triggerer sleeps until the limiter's answer (a Retry-After or a long
reservation) has passed, then hands the cursor back so the task resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

MAX_SLEEP_CHUNK_S = 30.0


class NotionBudgetTrigger(BaseTrigger):
    """Fires at `resume_at` (epoch seconds) with `{"cursor", "payload", "waited_s"}`."""

    def __init__(self, resume_at: float, cursor: int | list[int] | None = None, payload: dict[str, Any] | None = None,
                 deferred_at: float | None = None) -> None:
        super().__init__()
        self.resume_at = float(resume_at)
        self.cursor = cursor
        self.payload = dict(payload or {})
        self.deferred_at = time.time() if deferred_at is None else float(deferred_at)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}",
                {"resume_at": self.resume_at, "cursor": self.cursor, "payload": self.payload,
                 "deferred_at": self.deferred_at})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        # Sleep in chunks so a changed wall clock or a cancelled trigger is noticed promptly.
        while (remaining := self.resume_at - time.time()) > 0:
            await asyncio.sleep(min(remaining, MAX_SLEEP_CHUNK_S))
        yield TriggerEvent({"cursor": self.cursor, "payload": self.payload,
                            "waited_s": round(time.time() - self.deferred_at, 3)})
