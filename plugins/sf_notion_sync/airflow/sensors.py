"""NotionBudgetSensor: wait, deferred, until the shared Notion budget is open again.

Used before work that should not start into a pause (chained incremental runs after a 429): the
check reads the shared limiter; a closed budget defers to NotionBudgetTrigger until the pause ends
or enough tokens have accrued, so the wait holds no worker slot.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator

from sf_notion_sync.airflow.triggers import NotionBudgetTrigger


class NotionBudgetSensor(BaseSensorOperator):
    """Succeeds when the token's budget is not paused and holds at least `min_tokens` requests."""

    def __init__(self, *, notion_conn_id: str = "notion_default", sync_state_conn_id: str = "sync_state_db",
                 min_tokens: float = 1.0, deferrable: bool = True, **kwargs: Any) -> None:
        kwargs.setdefault("mode", "reschedule")
        super().__init__(**kwargs)
        self.deferrable = deferrable
        self.notion_conn_id = notion_conn_id
        self.sync_state_conn_id = sync_state_conn_id
        self.min_tokens = min_tokens

    def _seconds_until_open(self) -> float:
        from sf_notion_sync.airflow.hooks import NotionHook

        limiter = NotionHook(self.notion_conn_id, self.sync_state_conn_id).get_limiter()
        try:
            status = limiter.status()
        finally:
            limiter.close()
        wait = max(0.0, status.paused_until - status.now)
        missing = self.min_tokens - status.available_tokens
        if missing > 0 and status.effective_rate > 0:
            wait = max(wait, missing / status.effective_rate)
        return wait

    def poke(self, context: Any) -> bool:
        return self._seconds_until_open() <= 0

    def execute(self, context: Any, event: dict[str, Any] | None = None) -> None:
        if not self.deferrable:
            return super().execute(context)
        wait = self._seconds_until_open()
        if wait <= 0:
            self.log.info("Notion budget is open")
            return
        self.log.info("Notion budget closed for %.1fs: deferring", wait)
        self.defer(trigger=NotionBudgetTrigger(resume_at=time.time() + wait), method_name="execute",
                   timeout=timedelta(seconds=self.timeout) if self.timeout else None)
