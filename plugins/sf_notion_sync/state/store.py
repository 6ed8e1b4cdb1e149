"""StateStore: the sync state database as the engine uses it, one part per table group.

Each part (``state/*_store.py``) owns its tables' queries, one short transaction per method, SQLite
and PostgreSQL alike (see ``state/base.py``). Callers use only ``StateStore``; a new table group is a
new part added to ``StateStore``'s bases below.
"""

from __future__ import annotations

from sf_notion_sync.state.base import IN_CHUNK, STAGING_CHUNK, utcnow
from sf_notion_sync.state.batch_store import BatchStore
from sf_notion_sync.state.db import default_state_url, make_engine, upgrade
from sf_notion_sync.state.intent_store import IntentStore
from sf_notion_sync.state.record_map_store import RecordMapStore
from sf_notion_sync.state.replay_ids import ReplayIdStore
from sf_notion_sync.state.run_metrics import RunMetricsStore
from sf_notion_sync.state.run_store import RunStore
from sf_notion_sync.state.staging_store import StagingStore
from sf_notion_sync.state.sync_log_store import RETRYABLE_STATUSES, SyncLogStore
from sf_notion_sync.state.usage_store import USAGE_GROUPS, UsageStore
from sf_notion_sync.state.watermark_store import DEFAULT_WATERMARK_KIND, WatermarkStore
from sf_notion_sync.state.workspaces import WorkspaceStore

__all__ = [
    "DEFAULT_WATERMARK_KIND",
    "IN_CHUNK",
    "RETRYABLE_STATUSES",
    "STAGING_CHUNK",
    "USAGE_GROUPS",
    "StateStore",
    "utcnow",
]


class StateStore(
    StagingStore,
    RecordMapStore,
    IntentStore,
    SyncLogStore,
    RunStore,
    BatchStore,
    WatermarkStore,
    UsageStore,
    RunMetricsStore,
    ReplayIdStore,
    WorkspaceStore,
):
    """The sync state database as the engine uses it; safe to share between threads."""

    @classmethod
    def from_url(cls, url: str | None = None, *, migrate: bool = True) -> StateStore:
        """A store on ``url`` (default: connection ``sync_state_db``), migrated to the latest schema."""
        engine = make_engine(url or default_state_url())
        if migrate:
            upgrade(engine)
        return cls(engine)
