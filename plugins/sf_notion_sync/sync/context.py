"""What every engine call needs: the config, the state store, the two API clients, the Notion budget
and the run's ids.

Clients may be given as factories so that a task builds them only when it really talks to the API
(an all-unchanged batch never opens a Notion connection); the budget is a value, so reading it costs
no client. Nothing here is JSON-serialised: each task builds its own context; only descriptors and
counts cross task boundaries.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sf_notion_sync.config import ObjectConfig, SyncConfig
from sf_notion_sync.notion.client import ThrottledNotionClient
from sf_notion_sync.notion.properties import OnInvalid
from sf_notion_sync.notion.schema import resolve_data_source_id
from sf_notion_sync.state.store import StateStore, utcnow

from .budget import NotionBudget
from .progress import interval_from_env
from .resync import Resync

KIND_FULL = "full"
KIND_INCREMENTAL = "incremental"
KIND_RECORDS = "records"
"""A run over given record ids (retry, fast lane): never reconciles, never moves the watermark."""
KIND_RESYNC = "resync"
"""A run over a SystemModstamp window (sync/resync.py): never reconciles, never moves the watermark."""
_UNREAD = object()


@dataclass
class SyncContext:
    config: SyncConfig
    object_name: str
    store: StateStore
    notion: ThrottledNotionClient | Callable[[], ThrottledNotionClient]
    salesforce: Any  # a simple_salesforce.Salesforce, or a callable returning one
    run_id: str
    dag_id: str = ""
    dry_run: bool = False
    data_source_id: str | None = None
    """Set from preflight's result in later tasks; resolved (one request) when missing."""
    on_invalid: OnInvalid = "fail"
    """A Salesforce value Notion would reject: fail the record ("fail") or clear that property ("null")."""
    clock: Callable[[], datetime] = utcnow
    sleep: Callable[[float], None] = time.sleep
    """How a short wait passes (settling unknown creates); tests pass a fake clock's."""
    budget: NotionBudget = field(default_factory=NotionBudget)
    """The token's budget as the connection sets it (the glue reads it once, with the pool's slots)."""
    notion_connection_ids: tuple[str, ...] = ()
    """The Notion connections (integrations) this object writes through, when sync.yaml names several."""
    connection_client: Callable[[Sequence[str]], ThrottledNotionClient] | None = None
    """A client over the given connections only (preflight checks each one alone, then keeps those that can)."""
    progress_interval_s: float = field(default_factory=interval_from_env)
    """Seconds between a batch's progress lines (sync/progress.py; env SF_NOTION_SYNC_PROGRESS_INTERVAL_S)."""
    _clients: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _limited_before: Counter[str] = field(default_factory=Counter, init=False, repr=False)
    _resync: Resync | None | object = field(default=_UNREAD, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.object_name not in self.config.objects:
            known = ", ".join(sorted(self.config.objects)) or "none"
            raise KeyError(f"object {self.object_name!r} is not in {self.config.path} (configured: {known})")

    @property
    def obj(self) -> ObjectConfig:
        return self.config.objects[self.object_name]

    @property
    def mapping_version(self) -> str:
        return self.obj.mapping_version

    @property
    def budget_rps(self) -> float:
        return self.budget.rate

    @property
    def resync(self) -> Resync | None:
        """The run's re-sync window as its extraction stored it; None for a live run (read once it exists)."""
        if self._resync is _UNREAD:
            run = self.store.get_run(self.run_id)
            if run is None:
                return None
            window = (run.params or {}).get(KIND_RESYNC)
            self._resync = Resync.from_params(window) if window else None
        return self._resync  # type: ignore[return-value]

    def notion_client(self) -> ThrottledNotionClient:
        if "notion" not in self._clients:  # a client given may have counted 429s for someone else already
            self._limited_before = Counter(self._client("notion", self.notion).totals.rate_limited_by_reason)
        return self._clients["notion"]

    def close(self) -> None:
        """Add the 429s this context's Notion requests met to the run's counts by what they paused (a task
        ends here, so no request is missed), then close the Notion client if this context built it."""
        client = self._clients.pop("notion", None)
        if client is None:
            return
        met = Counter(client.totals.rate_limited_by_reason) - self._limited_before
        if met:
            self.store.add_rate_limits(self.run_id, met)
        if callable(self.notion):
            client.close()

    def sf(self) -> Any:
        return self._client("salesforce", self.salesforce)

    def _client(self, key: str, given: Any) -> Any:
        if key not in self._clients:
            self._clients[key] = given() if callable(given) else given
        return self._clients[key]

    def property_ids(self, names: list[str]) -> list[str]:
        """Notion property ids of these mapped properties (one GET of the data source per context):
        what a query's ``filter_properties`` names, since from 2026-12-01 results carry only the title
        without it."""
        if "schema" not in self._clients:
            self._clients["schema"] = self.notion_client().retrieve_data_source(self.data_source()).data.get("properties") or {}
        schema = self._clients["schema"]
        missing = [n for n in names if n not in schema]
        if missing:
            raise KeyError(f"properties {missing} are not in Notion data source {self.data_source()} of {self.object_name}")
        return [schema[n]["id"] for n in names]

    def data_source(self) -> str:
        """The data source id of the object's database (API 2025-09-03 writes pages to data sources)."""
        if self.data_source_id is None:
            self.data_source_id = resolve_data_source_id(self.notion_client(), self.obj.database_id)
        return self.data_source_id
