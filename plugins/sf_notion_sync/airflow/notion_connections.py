"""The Notion connections an object writes through (sync.yaml ``notion.connections``), as one client.

Each connection is an Airflow ``notion`` connection: its own integration token and budget. With several,
they must belong to one Notion workspace, whose limit they share: the workspace is the connection's
extra ``workspace``, else the bot's workspace from ``GET /v1/users/me`` (asked once, then kept in the
state database). Requests are spread over the connections by notion/routes.py, under a workspace bucket
sized by ``notion.workspace_budget`` or by the limit learned from workspace 429s.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from sf_notion_sync.config import WorkspaceBudget

from .hooks import NotionHook, SyncStateHook

log = logging.getLogger(__name__)


class NotionConnections:
    """``conn_ids`` (first: the primary, whose settings the client's base URL and version come from)."""

    def __init__(self, conn_ids: Sequence[str], *, sync_state_conn_id: str = "sync_state_db", dag_id: str = "",
                 workspace_budget: WorkspaceBudget | None = None) -> None:
        if not conn_ids:
            raise ValueError("at least one Notion connection is needed")
        self.conn_ids = tuple(conn_ids)
        self.sync_state_conn_id = sync_state_conn_id
        self.dag_id = dag_id
        self.workspace_budget = workspace_budget
        self.hooks = {c: NotionHook(c, sync_state_conn_id, dag_id=dag_id) for c in self.conn_ids}

    @property
    def primary(self) -> NotionHook:
        return self.hooks[self.conn_ids[0]]

    @property
    def shared(self) -> bool:
        """Whether a workspace bucket applies: several connections, or a known workspace limit."""
        return len(self.conn_ids) > 1 or self.workspace_budget is not None

    @cached_property
    def store(self):
        """The state database: connections' workspaces, learned workspace limits."""
        return SyncStateHook(self.sync_state_conn_id).get_store()

    def workspace_of(self, conn_id: str) -> str:
        """The connection's Notion workspace: its extra, the state database's record, or users/me."""
        from sf_notion_sync.notion.limiter import token_fingerprint

        hook = self.hooks[conn_id]
        if hook.settings.workspace:
            return hook.settings.workspace
        fingerprint = token_fingerprint(hook.settings.token)
        known = self.store.connection_workspace(fingerprint)
        if known:
            return known
        client = hook.get_conn()
        try:
            bot = (client.request("GET", "users/me").data.get("bot") or {})
        finally:
            client.close()
        workspace = str(bot.get("workspace_id") or bot.get("workspace_name") or "").strip()
        if not workspace:
            raise ValueError(f"Notion connection {conn_id!r}: users/me names no workspace; set the connection's "
                             "extra 'workspace' (one name for every connection of the workspace)")
        self.store.set_connection_workspace(fingerprint, workspace)
        return workspace

    @cached_property
    def workspace(self) -> str | None:
        """The workspace every connection belongs to (None with one connection and no workspace limit)."""
        if not self.shared:
            return None
        found, failed = {}, None
        for conn_id in self.conn_ids:  # one that cannot say (a bad token) fails its own preflight check
            try:
                found[conn_id] = self.workspace_of(conn_id)
            except Exception as exc:  # noqa: BLE001 - kept, raised if no connection can say
                log.warning("Notion connection %r: its workspace is unknown: %s", conn_id, exc)
                failed = failed or exc
        if not found:
            raise failed  # type: ignore[misc]
        if len(set(found.values())) > 1:
            listed = ", ".join(f"{c}: {w}" for c, w in found.items())
            raise ValueError(f"the Notion connections of one object must belong to one workspace, got {listed}")
        return next(iter(found.values()))

    def limit(self):
        """The workspace bucket's size (routes.WorkspaceLimit), or None when no bucket applies."""
        from sf_notion_sync.notion.routes import planned_limit

        if self.workspace is None:
            return None
        learned = self.store.learned_limit(self.workspace)
        configured = self.workspace_budget.requests if self.workspace_budget else None
        window_s = self.bucket_window_s
        level = max(1, round(learned.requests * window_s / learned.window_s)) if learned else None
        return planned_limit([self.hooks[c].settings.requests for c in self.conn_ids], configured, level)

    @property
    def bucket_window_s(self) -> float:
        """The workspace bucket's window: the configured limit's, else the primary connection's."""
        return self.workspace_budget.window_s if self.workspace_budget else self.primary.settings.window_s

    def routes(self, conn_ids: Sequence[str] | None = None):
        """The Routes of ``conn_ids`` (default: all), under the workspace bucket when one applies."""
        from sf_notion_sync.notion.limiter import NotionRateLimiter
        from sf_notion_sync.notion.pacing import WorkspacePolicy
        from sf_notion_sync.notion.routes import PROBE_STEP, Route, Routes

        chosen = tuple(conn_ids or self.conn_ids)
        workspace_key = f"notion-workspace:{self.workspace}" if self.workspace else None
        limit = self.limit()
        bucketed = limit is not None and len(chosen) > 1  # the bucket then carries a workspace cut
        options = {"recovery_step": PROBE_STEP, "follows_cut": not bucketed} if workspace_key else {}
        first = self.hooks[chosen[0]].get_limiter(workspace_key=workspace_key, **options)
        routes = [Route(c, self.hooks[c].settings.token, first if i == 0 else
                        self.hooks[c].get_limiter(workspace_key, shared=first.backend, **options))
                  for i, c in enumerate(chosen)]
        if limit is None:
            return Routes(routes)
        window_s = self.bucket_window_s
        on_learned = self._learned_sink(window_s)
        total = sum(r.limiter.requests * window_s / r.limiter.window_s for r in routes)
        binding = limit.requests < total  # else the connections' own budgets pace, one reservation each
        if not (bucketed or binding):
            return Routes(routes, shared=True, learned=limit.learned, on_learned=on_learned)
        bucket = NotionRateLimiter(first.backend, f"{workspace_key}|budget", requests=limit.requests,
                                   window_s=window_s, fast_lane_cap=first.budget.fast_lane_cap,
                                   workspace_key=workspace_key, cut_base=math.floor(total),
                                   policy=WorkspacePolicy(step=PROBE_STEP, period_s=window_s))
        return Routes(routes, bucket, binding=binding, learned=limit.learned, on_learned=on_learned)

    def _learned_sink(self, window_s: float):
        """Keeps a level learned from a workspace 429 (per ``window_s``) in the state database."""
        workspace = self.workspace

        def learned(level: int) -> None:
            log.warning("Notion workspace %s answered its limit: learned %d requests per %gs", workspace, level,
                        window_s)
            self.store.learn_limit(workspace, level, window_s)

        return learned

    def get_conn(self, conn_ids: Sequence[str] | None = None, **client_options: Any):
        """One ThrottledNotionClient over the connections (default: all), spreading its requests."""
        from sf_notion_sync.notion.client import ThrottledNotionClient
        from sf_notion_sync.notion.usage import UsageRecorder, sql_usage_sink

        settings = self.primary.settings
        engine = SyncStateHook(self.sync_state_conn_id).engine
        routes = self.routes(conn_ids)
        return ThrottledNotionClient(
            token=routes.primary.token, base_url=settings.base_url, notion_version=settings.notion_version,
            routes=routes, usage=UsageRecorder(sql_usage_sink(engine), dag_id=self.dag_id), **client_options,
        )

    def get_budget(self):
        """The budget a run plans against: every connection's, up to the workspace bucket."""
        import dataclasses

        budget = self.primary.get_budget()
        limit = self.limit()
        if limit is None:
            return dataclasses.replace(budget, connections=len(self.conn_ids))
        window_s = self.bucket_window_s
        per_window = max(1, round(limit.requests * budget.window_s / window_s))  # in the connections' window
        return dataclasses.replace(budget, connections=len(self.conn_ids), workspace_requests=per_window)
