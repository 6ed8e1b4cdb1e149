"""The real-time lane: per object with sync.yaml `realtime: true`, a DAG scheduled on its change-event asset.

The asset's AssetWatcher runs ChangeEventTrigger in the triggerer; each debounced batch of Salesforce
change events becomes an asset event, and the DAG run it starts re-reads those records from Salesforce
(deleted ones included, so their pages are trashed; undeleted ones are written again) and writes them
through the fast lane (its priority in the pool, its lane in the Notion budget). Gap and overflow events,
or an expired replay id, start the object's incremental DAG instead: it reads from its watermark, which
this DAG never moves. Only after the writes are in does `ack` store the replay id reached, so a restarted
triggerer resumes after what was applied (a batch seen twice costs nothing: unchanged records are skipped).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import DAG, Asset, AssetWatcher, Param, get_current_context, task

from sf_notion_sync.airflow.assets import object_asset
from sf_notion_sync.airflow.dag_factory import (
    FAST_LANE_PRIORITY,
    _dag,
    _sync_batches,
    _sync_context,
    finish,
    plan,
)
from sf_notion_sync.airflow.realtime_trigger import ChangeEventTrigger
from sf_notion_sync.config import ObjectConfig, SyncConfig
from sf_notion_sync.notion.limiter import LANE_FAST
from sf_notion_sync.salesforce.pubsub.client import change_event_topic

SCHEME = "salesforce-cdc"


def realtime_dag_id(obj: ObjectConfig) -> str:
    return f"sf_notion_realtime__{obj.name.lower()}"


def change_event_asset(obj: ObjectConfig) -> Asset:
    """The asset of an object's change events, watched by its ChangeEventTrigger."""
    name = f"salesforce_cdc__{obj.name.lower()}"
    watcher = AssetWatcher(name=f"{name}__watcher", trigger=ChangeEventTrigger(object_name=obj.name))
    return Asset(name=name, uri=f"{SCHEME}:{change_event_topic(obj.name)}", group="salesforce", watchers=[watcher])


def _payloads() -> list[dict[str, Any]]:
    events = get_current_context().get("triggering_asset_events") or {}
    return [(e.extra or {}).get("payload") or {} for evs in events.values() for e in evs]


@task(task_id="changes")
def collect_changes(object_name: str) -> dict[str, Any]:
    """What the triggering events ask for (ids, gaps, the replay id reached): descriptors, not records."""
    from sf_notion_sync.realtime.batches import consume

    got = consume(object_name, _payloads())
    print(f"{object_name}: {len(got.record_ids)} record(s) changed, gaps: {', '.join(got.gaps) or 'none'}")
    return {"record_ids": list(got.record_ids), "gaps": list(got.gaps), "replay_id": got.replay_id,
            "position": got.position}


@task.branch(task_id="route")
def route(changes: dict[str, Any]) -> list[str]:
    """Changed records to the fast lane; a gap to the incremental DAG (both when a batch holds both)."""
    return [*(["stage"] if changes["record_ids"] else []), *(["catch_up"] if changes["gaps"] else [])]


@task(task_id="stage")
def stage_changes(object_name: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Re-read the changed records from Salesforce into staging (deleted ones included)."""
    from sf_notion_sync.sync import extract_to_staging

    with _sync_context(object_name) as ctx:
        return extract_to_staging(ctx, record_ids=changes["record_ids"])


@task(task_id="ack", trigger_rule="none_failed_min_one_success")
def ack_replay(object_name: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Store the replay id this run's writes cover (never back: an older position does not overwrite)."""
    from sf_notion_sync.airflow.hooks import SyncStateHook

    if not changes["replay_id"]:
        return {"moved": False}
    state = SyncStateHook()
    try:
        moved = state.get_store().advance_replay(object_name, bytes.fromhex(changes["replay_id"]), changes["position"])
    finally:
        state.engine.dispose()
    return {"moved": moved, "position": changes["position"]}


def realtime_dag(obj: ObjectConfig, config: SyncConfig) -> DAG:
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator

    params = {"dry_run": Param(False, type="boolean", description="Build and validate, send no Notion write.")}
    with _dag(realtime_dag_id(obj), f"Salesforce {obj.name} change events -> Notion now (real time)",
              [change_event_asset(obj)], params, ["realtime", obj.name], REALTIME_DOC.format(object=obj.name),
              obj.alerts, max_active_runs=1, retries=1) as dag:
        changes = collect_changes(obj.name)
        routed = route(changes)
        staged = stage_changes(obj.name, changes)
        batches = plan(obj.name, config.defaults.max_map_length)
        synced = _sync_batches(obj.name, batches, priority_weight=FAST_LANE_PRIORITY, lane=LANE_FAST)
        summary = finish.override(outlets=[object_asset(obj)])(obj.name)
        catch_up = TriggerDagRunOperator(task_id="catch_up", trigger_dag_id=f"sf_notion_incremental__{obj.name.lower()}",
                                         conf={"caught_up_for": "{{ run_id }}"})
        acked = ack_replay(obj.name, changes)
        routed >> [staged, catch_up]
        staged >> batches
        synced >> summary >> acked
        catch_up >> acked
    return dag


def realtime_dags(config: SyncConfig) -> dict[str, DAG]:
    """One real-time DAG per enabled Salesforce object with `realtime: true`."""
    return {realtime_dag_id(obj): realtime_dag(obj, config) for obj in config.salesforce_objects() if obj.realtime}


REALTIME_DOC = """
### Real time: Salesforce {object} change events → Notion

Scheduled on the asset of `/data/{object}ChangeEvent` (Change Data Capture over the Pub/Sub API):
the triggerer follows the channel and debounces its events (1 s or 200 ids). Each run re-reads the
changed records (deletes are trashed, undeletes written again) and writes them through the fast lane;
gap or overflow events, or a replay id past Salesforce's 72-hour retention, start
`sf_notion_incremental__{object}` instead (recorded in the state database's `realtime_replay`). `ack`
stores the replay id reached once the writes are in; a restarted triggerer resumes after it.
"""
