"""What every table group's part of the StateStore shares: the engine, the dialect's upsert, chunking.

No Airflow here. Writes go through ``write_connection`` (on SQLite ``BEGIN IMMEDIATE``, so parallel
tasks queue on the busy timeout instead of failing on a lock upgrade). Upserts use each dialect's
``INSERT .. ON CONFLICT``; rows touched by concurrent writers are visited in key order so two
PostgreSQL transactions cannot deadlock on each other.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import fields
from datetime import UTC, datetime
from itertools import islice
from typing import Any, TypeVar

from sqlalchemy import Engine, Table, update
from sqlalchemy.dialects import postgresql, sqlite

from sf_notion_sync.state.db import write_connection

T = TypeVar("T")

STAGING_CHUNK = 2_000
IN_CHUNK = 500  # ids per IN (...) list; far below SQLite's bound-parameter limit


def utcnow() -> datetime:
    return datetime.now(UTC)


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def _row(cls: type[T], row: Any) -> T:
    return cls(**{f.name: row._mapping[f.name] for f in fields(cls)})  # type: ignore[arg-type]


class StoreBase:
    """The engine and the dialect's ``insert`` (with ON CONFLICT) that each table group's part uses."""

    def __init__(self, engine: Engine) -> None:
        if engine.dialect.name not in ("sqlite", "postgresql"):
            raise ValueError(
                f"the sync state store supports SQLite and PostgreSQL, not {engine.dialect.name}"
            )
        self.engine = engine
        self._insert = sqlite.insert if engine.dialect.name == "sqlite" else postgresql.insert

    def _update_records(
        self, table: Table, object_name: str, sf_ids: Iterable[str], values: dict[str, Any], *where: Any
    ) -> int:
        """Set ``values`` on these records' rows of ``table``; one short transaction per IN chunk."""
        count = 0
        for chunk in _chunks(sorted(sf_ids), IN_CHUNK):
            with write_connection(self.engine) as conn:
                count += conn.execute(
                    update(table)
                    .where(table.c.object_name == object_name, table.c.sf_id.in_(chunk), *where)
                    .values(values)
                ).rowcount
        return count
