"""The change-event trigger: an AssetWatcher's BaseEventTrigger that follows one object's CDC channel.

It runs in the triggerer (Airflow's "Event-driven scheduling": each TriggerEvent becomes an asset event
whose extra is {"from_trigger": true, "payload": <the payload>}), so the payload is plain JSON: record
ids, change types, the replay id reached and its position (realtime/batches.py). The triggerer tells
watcher triggers apart by the hash of their classpath and kwargs, so the kwargs are configuration only
(object, connection ids, debounce): where to resume is read from the state database when `run` starts,
never serialised. Connections: `salesforce_default` (extras instance_url + session_id, or a login; extra
`pubsub_endpoint`, default Salesforce's api.pubsub.salesforce.com:7443) and `sync_state_db`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from sf_notion_sync.realtime.batches import DEBOUNCE_S, MAX_IDS
from sf_notion_sync.salesforce.pubsub.client import change_event_topic


class ChangeEventTrigger(BaseEventTrigger):
    """Yields one event per debounced batch of `object_name`'s changes, forever."""

    def __init__(self, object_name: str, salesforce_conn_id: str = "salesforce_default",
                 sync_state_conn_id: str = "sync_state_db", debounce_s: float = DEBOUNCE_S,
                 max_ids: int = MAX_IDS) -> None:
        super().__init__()
        self.object_name = object_name
        self.salesforce_conn_id = salesforce_conn_id
        self.sync_state_conn_id = sync_state_conn_id
        self.debounce_s = float(debounce_s)
        self.max_ids = int(max_ids)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}",
                {"object_name": self.object_name, "salesforce_conn_id": self.salesforce_conn_id,
                 "sync_state_conn_id": self.sync_state_conn_id, "debounce_s": self.debounce_s,
                 "max_ids": self.max_ids})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from sf_notion_sync.airflow.hooks import SyncStateHook
        from sf_notion_sync.realtime.follow import follow_changes

        state = SyncStateHook(self.sync_state_conn_id)
        store = await asyncio.to_thread(state.get_store)
        try:
            async for payload in follow_changes(self.object_name, change_event_topic(self.object_name), self._open_client,
                                                store, debounce_s=self.debounce_s, max_ids=self.max_ids):
                self.log.info("%s: %d change(s), gap %s, replay position %s", self.object_name,
                              len(payload["record_ids"]), payload["gap"], payload["position"])
                yield TriggerEvent(payload)
        finally:
            state.engine.dispose()

    async def _open_client(self, refresh: bool):
        from sf_notion_sync.salesforce.pubsub.client import PubSubClient

        endpoint, creds, roots = await asyncio.to_thread(pubsub_settings, self.salesforce_conn_id, refresh)
        return PubSubClient(endpoint, creds, root_certificates=roots)  # on the loop: a grpc.aio channel binds to it


def pubsub_settings(conn_id: str, refresh: bool = False):
    """(endpoint, credentials, CA roots) for the connection: its session id, or (after an auth failure,
    when it can log in) a fresh login. The CA roots are REQUESTS_CA_BUNDLE's when set (the sandbox's),
    else the system's."""
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook
    from airflow.sdk.bases.hook import BaseHook

    from sf_notion_sync.airflow.hooks import salesforce_can_log_in
    from sf_notion_sync.salesforce.pubsub.client import DEFAULT_ENDPOINT, Credentials

    conn = BaseHook.get_connection(conn_id)
    extras = conn.extra_dejson or {}
    if extras.get("session_id") and not (refresh and salesforce_can_log_in(conn)):
        creds = Credentials.from_session(extras["session_id"], extras.get("instance_url") or "")
    else:
        sf = SalesforceHook(salesforce_conn_id=conn_id).get_conn()
        creds = Credentials.from_session(sf.session_id, f"https://{sf.sf_instance}")
    bundle = os.environ.get("REQUESTS_CA_BUNDLE")
    roots = Path(bundle).read_bytes() if bundle and Path(bundle).is_file() else None
    return extras.get("pubsub_endpoint") or DEFAULT_ENDPOINT, creds, roots
