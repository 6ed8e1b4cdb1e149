"""Airflow assets of the Notion databases the sync writes, so that other DAGs can be scheduled on them.

Every sync DAG's ``finish`` task (full, incremental, retry) declares its object's database as an outlet,
``notion://<database id>``; when the run's summary is stored, the event gets the summary's counts as
its extra. The fast lane learns its object from the trigger's conf, so it declares an alias and adds
the event of the object it synced. ``NotionUpsertOperator`` does the same when given the outlet.
A consumer writes ``schedule=[notion_asset(database_id)]`` and reads the counts from
``triggering_asset_events``. An event means "a run finished and its writes are in"; the counts say
whether anything changed (every run emits one, also when all its records were unchanged).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from airflow.sdk import Asset, AssetAlias

from sf_notion_sync.config import ObjectConfig

SCHEME = "notion"
FAST_LANE_ALIAS = AssetAlias("sf_notion_fast_lane__notion_databases")
EVENT_KEYS = ("object", "run_id", "status", "total", "processed", "created", "updated", "skipped", "trashed",
              "failed", "adopted", "unresolved", "duplicates_trashed", "notion_requests", "rate_limited_429s")
"""What of a run's summary goes into its event: counts, no timings or budget figures."""


def notion_asset(database_id: str) -> Asset:
    """The asset of one Notion database; any spelling of its id (dashes or not, any case) gives the same."""
    try:
        canonical = uuid.UUID(database_id.strip())
    except ValueError:
        raise ValueError(f"not a Notion database id (32 hex digits, dashes optional): {database_id!r}") from None
    return Asset(f"{SCHEME}://{canonical}", group=SCHEME)


def object_asset(obj: ObjectConfig) -> Asset:
    return notion_asset(obj.database_id)


def event_extra(summary: Mapping[str, Any]) -> dict[str, Any]:
    return {key: summary[key] for key in EVENT_KEYS if key in summary}


def record_sync_event(context: Mapping[str, Any], obj: ObjectConfig, summary: Mapping[str, Any]) -> None:
    """Put the run's counts on the event its task emits for ``obj``'s database: on the declared outlet,
    or added through the fast lane's alias; a task declaring neither emits nothing."""
    asset, outlets = object_asset(obj), context["task"].outlets
    if asset in outlets:
        context["outlet_events"][asset].extra = event_extra(summary)
    elif FAST_LANE_ALIAS in outlets:
        context["outlet_events"][FAST_LANE_ALIAS].add(asset, extra=event_extra(summary))
