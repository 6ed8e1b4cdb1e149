"""Builds the engine's SyncContext inside a task from Airflow connections, and closes what it opened."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sf_notion_sync.notion.constants import DEFER_THRESHOLD_S
from sf_notion_sync.notion.limiter import LANE_BULK


@contextmanager
def open_sync_context(
    object_name: str,
    *,
    run_id: str,
    dag_id: str,
    dry_run: bool = False,
    notion_conn_id: str = "notion_default",
    salesforce_conn_id: str = "salesforce_default",
    sync_state_conn_id: str = "sync_state_db",
    defer_threshold: float = DEFER_THRESHOLD_S,
    lane: str = LANE_BULK,
    migrate: bool = False,
) -> Iterator[Any]:
    """Connections open lazily: a task that never talks to Salesforce never logs in to it, one that sends
    no Notion request builds no Notion client (the budget is read from the connection as a value).
    ``lane`` is the Notion budget lane (``fast`` for the fast lane's single-record syncs)."""
    from sf_notion_sync.airflow.hooks import NotionHook, SyncStateHook, salesforce_client
    from sf_notion_sync.config import load_config
    from sf_notion_sync.sync.context import SyncContext

    state = SyncStateHook(sync_state_conn_id)
    if migrate:
        from sf_notion_sync.state.db import upgrade

        upgrade(state.engine)
    hook = NotionHook(notion_conn_id, sync_state_conn_id, dag_id=dag_id)

    def notion() -> Any:
        return hook.get_conn(allow_defer=True, defer_threshold_s=defer_threshold, lane=lane)

    def salesforce() -> Any:
        return salesforce_client(salesforce_conn_id)

    ctx = SyncContext(config=load_config(), object_name=object_name, store=state.get_store(), notion=notion,
                      salesforce=salesforce, run_id=run_id, dag_id=dag_id, dry_run=dry_run,
                      budget=hook.get_budget())
    try:
        yield ctx
    finally:
        try:
            ctx.close()
        finally:
            state.engine.dispose()
