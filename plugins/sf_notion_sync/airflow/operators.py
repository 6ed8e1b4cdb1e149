"""NotionSyncOperator: one batch of records through the throttled Notion client, in pool `notion_api`.

The engine does the work; this operator only opens the connections, and when the shared budget asks
for a wait longer than `defer_threshold` it defers to NotionBudgetTrigger, which keeps the resume
cursor, so a long Retry-After holds no worker slot. XCom gets the batch's counts, never records.
"""

from __future__ import annotations

import time
from typing import Any

from airflow.sdk import BaseOperator

from sf_notion_sync.airflow.triggers import NotionBudgetTrigger
from sf_notion_sync.config import NOTION_POOL
from sf_notion_sync.notion.constants import DEFER_THRESHOLD_S
from sf_notion_sync.notion.limiter import LANE_BULK


class NotionSyncOperator(BaseOperator):
    """Sync the staged records of one batch descriptor `{run_id, object_name, batch_index, first_seq, last_seq}`."""

    template_fields = ("batch", "dry_run", "object_name")
    ui_color = "#f5f0e6"

    def __init__(
        self,
        *,
        batch: dict[str, Any],
        object_name: str,
        dry_run: bool | str = False,
        notion_conn_id: str = "notion_default",
        salesforce_conn_id: str = "salesforce_default",
        sync_state_conn_id: str = "sync_state_db",
        defer_threshold: float = DEFER_THRESHOLD_S,
        lane: str = LANE_BULK,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("pool", NOTION_POOL)
        super().__init__(**kwargs)
        self.batch = batch
        self.object_name = object_name
        self.dry_run = dry_run
        self.notion_conn_id = notion_conn_id
        self.salesforce_conn_id = salesforce_conn_id
        self.sync_state_conn_id = sync_state_conn_id
        self.defer_threshold = defer_threshold
        self.lane = lane

    def execute(self, context: Any, cursor: int | list[int] | None = None, deferrals: int = 0) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from sf_notion_sync.airflow.context import open_sync_context
        from sf_notion_sync.notion.errors import NotionApiError
        from sf_notion_sync.sync import sync_batch

        with open_sync_context(
            self.object_name, run_id=self.batch["run_id"], dag_id=self.dag_id, dry_run=_truthy(self.dry_run),
            notion_conn_id=self.notion_conn_id, salesforce_conn_id=self.salesforce_conn_id,
            sync_state_conn_id=self.sync_state_conn_id, defer_threshold=self.defer_threshold, lane=self.lane,
        ) as ctx:
            try:
                outcome = sync_batch(ctx, self.batch, cursor=cursor, allow_defer=True)
            except NotionApiError as exc:
                if exc.stops_run:  # a revoked token or lost access: a retry in minutes meets the same answer
                    raise AirflowFailException(f"{exc} -- fix connection {self.notion_conn_id!r} or the "
                                               f"database's sharing, then clear this task") from exc
                raise
        if outcome.done:
            result = outcome.to_dict()
            result["deferrals"] = deferrals
            self.log.info("batch %s done: %s", self.batch.get("batch_index"), result["counts"])
            return result
        self.log.info("Notion budget closed for %.1fs: deferring batch %s at cursor %s",
                      outcome.wait_seconds, self.batch.get("batch_index"), outcome.next_cursor)
        self.defer(
            trigger=NotionBudgetTrigger(resume_at=time.time() + outcome.wait_seconds, cursor=outcome.next_cursor,
                                        payload={"deferrals": deferrals + 1}),
            method_name="resume",
        )

    def resume(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        """Back from the triggerer: continue the batch from the cursor the trigger kept."""
        self.log.info("resuming batch %s at cursor %s after %.1fs deferred", self.batch.get("batch_index"),
                      event.get("cursor"), event.get("waited_s", 0.0))
        return self.execute(context, cursor=event.get("cursor"), deferrals=int(event.get("payload", {}).get("deferrals", 1)))


def _truthy(value: bool | str) -> bool:
    """Params render to strings in templated fields; 'False' must stay false."""
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)
