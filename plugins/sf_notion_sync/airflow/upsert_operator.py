"""NotionUpsertOperator: records of any source into a Notion database, with the Salesforce sync's guarantees.

A data engineer declares the target in sync.yaml as an object with ``source: external`` (database,
``id_property``, ``id_field``, properties, transforms) and feeds this operator from an upstream task:

* ``records``: an upstream task's list of dicts, each keyed by the object's ``id_field`` (through
  XCom, so at most ``MAX_XCOM_RECORDS``: XCom is no place for bulk data), or
* ``staging_run_id``: the run id under which an upstream task staged any number of records itself
  with ``sync.external.stage_external`` (streamed into the state database, never held whole).

The operator only opens the connections; the engine (sync/external.py) writes through the throttled
client, the record map, create intents and sync_log, and a long budget wait defers to the triggerer
like a sync batch. It returns the run's summary and, when its outlets include the object's asset
(``assets.object_asset``), puts the counts on that asset's event.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from sf_notion_sync.airflow.triggers import NotionBudgetTrigger
from sf_notion_sync.config import NOTION_POOL
from sf_notion_sync.notion.constants import DEFER_THRESHOLD_S

MAX_XCOM_RECORDS = 5_000
"""Records accepted through XCom; a larger source stages them itself and passes ``staging_run_id``."""


class NotionUpsertOperator(BaseOperator):
    """Upsert the given records of ``object_name`` (an object with ``source: external``) into Notion."""

    template_fields: Sequence[str] = ("records", "staging_run_id", "object_name")
    ui_color = "#e6f0f5"

    def __init__(
        self,
        *,
        object_name: str,
        records: Any = None,
        staging_run_id: str | None = None,
        notion_conn_id: str = "notion_default",
        sync_state_conn_id: str = "sync_state_db",
        defer_threshold: float = DEFER_THRESHOLD_S,
        **kwargs: Any,
    ) -> None:
        if (records is None) == (staging_run_id is None):
            raise ValueError(f"{kwargs.get('task_id')}: give exactly one of records and staging_run_id")
        kwargs.setdefault("pool", NOTION_POOL)
        super().__init__(**kwargs)
        self.object_name = object_name
        self.records = records
        self.staging_run_id = staging_run_id
        self.notion_conn_id = notion_conn_id
        self.sync_state_conn_id = sync_state_conn_id
        self.defer_threshold = defer_threshold

    def execute(self, context: Any) -> dict[str, Any]:
        return self._upsert(context, resume=None, deferrals=0)

    def resume(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        """Back from the triggerer: continue the batch at the cursor it kept."""
        payload = event.get("payload", {})
        return self._upsert(context, resume={"batch_index": payload.get("batch_index"), "cursor": event.get("cursor")},
                            deferrals=int(payload.get("deferrals", 1)))

    def _run_id(self, context: Any) -> str:
        """The sync run: the upstream's staging, or one per task (and map index) of this DAG run."""
        if self.staging_run_id:
            return str(self.staging_run_id)
        map_index = context["ti"].map_index
        return f"{context['run_id']}:{self.task_id}" + (f":{map_index}" if map_index is not None and map_index >= 0 else "")

    def _upsert(self, context: Any, *, resume: dict[str, Any] | None, deferrals: int) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from sf_notion_sync.airflow.assets import record_sync_event
        from sf_notion_sync.airflow.context import open_sync_context
        from sf_notion_sync.notion.errors import NotionApiError
        from sf_notion_sync.sync.external import stage_external, upsert_staged

        with open_sync_context(
            self.object_name, run_id=self._run_id(context), dag_id=self.dag_id, notion_conn_id=self.notion_conn_id,
            sync_state_conn_id=self.sync_state_conn_id, defer_threshold=self.defer_threshold,
            migrate=resume is None,  # it may be the first task ever to use the state database
        ) as ctx:
            if resume is None and self.records is not None:
                records = list(self.records)
                if len(records) > MAX_XCOM_RECORDS:
                    raise AirflowFailException(
                        f"{self.task_id}: {len(records)} records through XCom (limit {MAX_XCOM_RECORDS}); stage them "
                        f"with sf_notion_sync.sync.external.stage_external and pass staging_run_id instead")
                staged = stage_external(ctx, records)
                self.log.info("staged %d %s records for run %s", staged["staged"], self.object_name, ctx.run_id)
            try:
                progress = upsert_staged(ctx, resume=resume, allow_defer=True)
            except NotionApiError as exc:
                if exc.stops_run:  # a revoked token or lost access: a retry in minutes meets the same answer
                    raise AirflowFailException(f"{exc} -- fix connection {self.notion_conn_id!r} or the "
                                               f"database's sharing, then clear this task") from exc
                raise
            if progress["done"]:
                summary = {**progress["summary"], "deferrals": deferrals}
                record_sync_event(context, ctx.obj, summary)
                self.log.info("upserted %s: %s", self.object_name, summary)
                return summary
        self.log.info("Notion budget closed for %.1fs: deferring batch %s at cursor %s",
                      progress["wait_seconds"], progress["batch_index"], progress["cursor"])
        self.defer(
            trigger=NotionBudgetTrigger(resume_at=time.time() + progress["wait_seconds"], cursor=progress["cursor"],
                                        payload={"batch_index": progress["batch_index"], "deferrals": deferrals + 1}),
            method_name="resume",
        )
