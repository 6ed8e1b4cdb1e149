"""Where the real-time lane stands per object: the last change-event replay id it applied, and its gaps.

The change-event trigger resumes after the stored replay id when the triggerer restarts. The id moves
only after the writes it covers are committed (invariant 3), and only forward: each batch of events
carries a position (a counter the trigger keeps from the stored one), and an older position never
overwrites a newer one, whatever order fast-lane runs finish in. Replay ids are opaque bytes
(Salesforce: "Subscribers must not compute new Replay IDs"), stored as hex. A gap (the stored id
expired, or Salesforce sent gap or overflow events) is counted with its reason and time, so it is
never silent; the incremental DAG catches up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, String, or_, select, update
from sqlalchemy.orm import Mapped, mapped_column

from sf_notion_sync.state.base import StoreBase, utcnow
from sf_notion_sync.state.db import write_connection
from sf_notion_sync.state.models import Base, _zero


class RealtimeReplay(Base):
    """Per object, the replay id reached by the real-time lane and the gaps it met."""

    __tablename__ = "realtime_replay"

    object_name: Mapped[str] = mapped_column(String(80), primary_key=True)
    replay_id: Mapped[str | None] = mapped_column(String(128))
    position: Mapped[int] = _zero(Integer)
    updated_at: Mapped[datetime]
    gaps: Mapped[int] = _zero(Integer)
    last_gap_at: Mapped[datetime | None]
    last_gap_reason: Mapped[str | None] = mapped_column(String(255))


@dataclass(frozen=True)
class ReplayState:
    object_name: str
    replay_id: bytes | None
    position: int
    gaps: int
    last_gap_reason: str | None


_replay = RealtimeReplay.__table__


class ReplayIdStore(StoreBase):
    """Read and advance the real-time lane's replay id; record its gaps."""

    def get_replay(self, object_name: str) -> ReplayState | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(_replay).where(_replay.c.object_name == object_name)).one_or_none()
        if row is None:
            return None
        return ReplayState(row.object_name, bytes.fromhex(row.replay_id) if row.replay_id else None, row.position,
                           row.gaps, row.last_gap_reason)

    def _seed(self, conn, object_name: str) -> None:
        conn.execute(self._insert(_replay).values(object_name=object_name, position=0, updated_at=utcnow(), gaps=0)
                     .on_conflict_do_nothing(index_elements=["object_name"]))

    def advance_replay(self, object_name: str, replay_id: bytes, position: int) -> bool:
        """Store `replay_id` reached at `position` unless a later position is stored; True when it moved."""
        with write_connection(self.engine) as conn:
            self._seed(conn, object_name)
            moved = conn.execute(
                update(_replay)
                .where(_replay.c.object_name == object_name,
                       or_(_replay.c.position < position, _replay.c.replay_id.is_(None)))
                .values(replay_id=replay_id.hex(), position=position, updated_at=utcnow())
            ).rowcount
        return bool(moved)

    def record_gap(self, object_name: str, reason: str, *, forget_replay: bool = False) -> None:
        """Count a gap; `forget_replay` drops the stored id (it expired), keeping the position counter."""
        values: dict = {"gaps": _replay.c.gaps + 1, "last_gap_at": utcnow(), "last_gap_reason": reason[:255],
                        "updated_at": utcnow()}
        if forget_replay:
            values["replay_id"] = None
        with write_connection(self.engine) as conn:
            self._seed(conn, object_name)
            conn.execute(update(_replay).where(_replay.c.object_name == object_name).values(values))
