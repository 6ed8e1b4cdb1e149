"""Builds the engine's SyncContext inside a task from Airflow connections, and closes what it opened."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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
    notion_conn_ids: Sequence[str] | None = None,
) -> Iterator[Any]:
    """Connections open lazily: a task that never talks to Salesforce never logs in to it, one that sends
    no Notion request builds no Notion client (the budget is read from the connection as a value).
    ``lane`` is the Notion budget lane (``fast`` for the fast lane's single-record syncs). The Notion
    connections are ``notion_conn_ids``, else those this DAG run's preflight found able to write, else
    the object's ``notion.connections`` (``notion_conn_id`` when sync.yaml names only the default)."""
    from sf_notion_sync.airflow.hooks import SyncStateHook, salesforce_client
    from sf_notion_sync.airflow.notion_connections import NotionConnections
    from sf_notion_sync.config import load_config
    from sf_notion_sync.sync.context import SyncContext

    state = SyncStateHook(sync_state_conn_id)
    if migrate:
        from sf_notion_sync.state.db import upgrade

        upgrade(state.engine)
    config = load_config()
    settings = config.objects[object_name].notion if object_name in config.objects else None
    conn_ids = tuple(notion_conn_ids or preflight_found("notion_connections") or object_connections(settings,
                                                                                                  notion_conn_id))
    connections = NotionConnections(conn_ids, sync_state_conn_id=sync_state_conn_id, dag_id=dag_id,
                                    workspace_budget=settings.workspace_budget if settings else None)

    def connection_client(ids: Sequence[str]) -> Any:
        return connections.get_conn(ids, allow_defer=True, defer_threshold_s=defer_threshold, lane=lane)

    def notion() -> Any:
        return connection_client(conn_ids)

    def salesforce() -> Any:
        return salesforce_client(salesforce_conn_id)

    ctx = SyncContext(config=config, object_name=object_name, store=state.get_store(), notion=notion,
                      salesforce=salesforce, run_id=run_id, dag_id=dag_id, dry_run=dry_run,
                      budget=connections.get_budget(),
                      notion_connection_ids=conn_ids if len(conn_ids) > 1 else (), connection_client=connection_client)
    try:
        yield ctx
    finally:
        try:
            ctx.close()
        finally:
            state.engine.dispose()


def object_connections(settings: Any, notion_conn_id: str) -> tuple[str, ...]:
    """The object's Notion connection ids: sync.yaml's list, or ``notion_conn_id`` when it names only the
    default (a DAG or CLI call given another connection keeps using it)."""
    from sf_notion_sync.config import DEFAULT_NOTION_CONNECTION

    listed = settings.connections if settings else (DEFAULT_NOTION_CONNECTION,)
    return (notion_conn_id,) if listed == (DEFAULT_NOTION_CONNECTION,) else listed


def preflight_found(key: str) -> Any:
    """What this DAG run's preflight task returned under ``key`` (e.g. the Notion connections able to
    write); None outside a task, in preflight itself and in DAGs without one."""
    from airflow.sdk import get_current_context

    try:
        context = get_current_context()
    except Exception:  # noqa: BLE001 - not in a task (the CLI): nothing was checked
        return None
    ti = context["ti"]
    if ti.task_id == "preflight" or "preflight" not in context["dag"].task_ids:
        return None
    return (ti.xcom_pull(task_ids="preflight", map_indexes=-1) or {}).get(key)  # from a mapped task too
