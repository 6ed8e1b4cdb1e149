"""State in the sync state database's ``rate_limit_state`` table: one row per key.

A reservation is one short transaction: the connection's row locked (``SELECT ... FOR UPDATE`` on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), the workspace's and the endpoint's rows read, the
connection's row written back. The sliding log (and the turn dispenser) is JSON text in
``window_log`` (migration 0003).
"""

from __future__ import annotations

import json
from typing import Any

from ..pacing import BudgetState
from .base import TransactBackend


class SqlBackend(TransactBackend):
    """``engine``: an SQLAlchemy engine on the state database (state.db.make_engine), migrated."""

    name = "sql"

    def __init__(self, engine: Any) -> None:
        from ...state.models import RateLimitState

        self.engine = engine
        self.table = RateLimitState.__table__
        self._ensured: set[str] = set()

    def _ensure_row(self, key: str) -> None:
        if key in self._ensured:
            return
        from ...state.db import write_connection

        dialect = self.engine.dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        elif dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:  # pragma: no cover - only the two supported databases
            raise ValueError(f"unsupported state database dialect {dialect!r}")
        with write_connection(self.engine) as conn:
            conn.execute(insert(self.table).values(key=key, **_columns(BudgetState())).on_conflict_do_nothing())
        self._ensured.add(key)

    def read(self, key: str) -> BudgetState:
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            row = conn.execute(sa.select(self.table).where(self.table.c.key == key)).mappings().first()
        return _state(row)

    def read_many(self, keys: list[str]) -> list[BudgetState]:
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            rows = {r["key"]: r for r in conn.execute(sa.select(self.table).where(self.table.c.key.in_(keys))).mappings()}
        return [_state(rows.get(k)) for k in keys]

    def transact(self, key, read_keys, fn):
        import sqlalchemy as sa

        from ...state.db import write_connection

        self._ensure_row(key)
        table = self.table
        with write_connection(self.engine) as conn:
            row = conn.execute(sa.select(table).where(table.c.key == key).with_for_update()).mappings().first()
            if row is None:  # deleted since we ensured it: recreate it on the next call
                self._ensured.discard(key)
                raise RuntimeError(f"rate_limit_state row {key!r} vanished; retry")
            others: dict[str, Any] = {}
            if read_keys:  # read, not locked: connections of one workspace do not queue for its row
                query = sa.select(table).where(table.c.key.in_(read_keys))
                others = {r["key"]: r for r in conn.execute(query).mappings()}
            new, result = fn(_state(row), [_state(others.get(k)) for k in read_keys])
            if new is not None:
                conn.execute(sa.update(table).where(table.c.key == key).values(**_columns(new)))
        return result


def _columns(state: BudgetState) -> dict[str, Any]:
    return {
        "tat": state.tat,
        "paused_until": state.paused_until,
        "rate_factor": state.factor,
        "last_429_at": state.last_429_at,
        "last_429_reason": state.last_429_reason,
        "updated_at": state.updated_at,
        "window_log": json.dumps({"sent": state.sent, "fast": state.fast, "turn": state.turn})
        if state.sent or state.turn else None,
    }


def _state(row: Any) -> BudgetState:
    if row is None:
        return BudgetState()
    log = json.loads(row["window_log"]) if row["window_log"] else {}
    return BudgetState(
        sent=tuple(log.get("sent", ())),
        fast=tuple(log.get("fast", ())),
        tat=float(row["tat"] or 0.0),
        turn=float(log.get("turn", 0.0)),
        paused_until=float(row["paused_until"] or 0.0),
        factor=float(row["rate_factor"] if row["rate_factor"] is not None else 1.0),
        last_429_at=row["last_429_at"],
        last_429_reason=row["last_429_reason"],
        updated_at=float(row["updated_at"] or 0.0),
    )
