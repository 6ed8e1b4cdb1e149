"""Notion workspaces as the sync has met them: which workspace each connection's token belongs to, and a
workspace's limit learned from its 429s.

Notion does not publish the workspace limit that all connections of a workspace share ("Request limits");
a run that meets it learns a level (notion/routes.py) and keeps it here, so the next run starts from it.
A connection's workspace comes from ``GET /v1/users/me`` (the bot's workspace) once, then from here.
Tokens are stored by fingerprint only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Float, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from sf_notion_sync.state.base import StoreBase, utcnow
from sf_notion_sync.state.db import write_connection
from sf_notion_sync.state.models import Base, _zero


class NotionConnectionWorkspace(Base):
    __tablename__ = "notion_connection_workspace"

    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace: Mapped[str] = mapped_column(String(128))
    seen_at: Mapped[datetime]


class NotionWorkspaceLimit(Base):
    __tablename__ = "notion_workspace_limit"

    workspace: Mapped[str] = mapped_column(String(128), primary_key=True)
    requests: Mapped[int] = mapped_column(Integer)
    window_s: Mapped[float] = mapped_column(Float)
    learned_at: Mapped[datetime]
    limited: Mapped[int] = _zero(Integer)
    """Workspace 429s that taught it."""


@dataclass(frozen=True)
class LearnedLimit:
    workspace: str
    requests: int
    window_s: float
    learned_at: datetime
    limited: int


_conn_ws = NotionConnectionWorkspace.__table__
_limit = NotionWorkspaceLimit.__table__


class WorkspaceStore(StoreBase):
    """Connections' workspaces and learned workspace limits."""

    def connection_workspace(self, fingerprint: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(_conn_ws.c.workspace).where(_conn_ws.c.fingerprint == fingerprint)).scalar()

    def set_connection_workspace(self, fingerprint: str, workspace: str) -> None:
        values = {"workspace": workspace[:128], "seen_at": utcnow()}
        with write_connection(self.engine) as conn:
            conn.execute(self._insert(_conn_ws).values(fingerprint=fingerprint, **values)
                         .on_conflict_do_update(index_elements=["fingerprint"], set_=values))

    def learned_limit(self, workspace: str) -> LearnedLimit | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(_limit).where(_limit.c.workspace == workspace)).one_or_none()
        return LearnedLimit(row.workspace, row.requests, row.window_s, row.learned_at, row.limited) if row else None

    def learn_limit(self, workspace: str, requests: int, window_s: float) -> None:
        """Keep the level a workspace 429 taught (the latest wins: the limit is shared, it moves)."""
        values = {"requests": int(requests), "window_s": float(window_s), "learned_at": utcnow()}
        with write_connection(self.engine) as conn:
            conn.execute(self._insert(_limit).values(workspace=workspace, limited=1, **values)
                         .on_conflict_do_update(index_elements=["workspace"],
                                                set_={**values, "limited": _limit.c.limited + 1}))
