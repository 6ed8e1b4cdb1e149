"""Watermarks (invariant 3): advanced only after the writes they cover are committed."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select, update

from sf_notion_sync.state.base import StoreBase, _dumps, utcnow
from sf_notion_sync.state.db import write_connection
from sf_notion_sync.state.models import Watermark
from sf_notion_sync.state.rows import WatermarkValue

DEFAULT_WATERMARK_KIND = "incremental"

_watermark = Watermark.__table__


class WatermarkStore(StoreBase):
    """Per object and kind, the stamp up to which Salesforce has been read."""

    def get_watermark(self, object_name: str, kind: str = DEFAULT_WATERMARK_KIND) -> WatermarkValue | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(_watermark).where(_watermark.c.object_name == object_name, _watermark.c.kind == kind)
            ).one_or_none()
        return None if row is None else _watermark_value(row)

    def advance_watermark(
        self,
        object_name: str,
        value: datetime,
        ids_at_value: Iterable[str] = (),
        kind: str = DEFAULT_WATERMARK_KIND,
        now: datetime | None = None,
    ) -> WatermarkValue:
        """Move the watermark forward, never back; at the same value the tie Ids are merged.

        Returns the watermark as stored afterwards (unchanged when ``value`` is older).
        """
        now = now or utcnow()
        key = and_(_watermark.c.object_name == object_name, _watermark.c.kind == kind)
        with write_connection(self.engine) as conn:
            seed = self._insert(_watermark).values(
                object_name=object_name,
                kind=kind,
                value=value,
                ids_at_value=_dumps(sorted(set(ids_at_value))),
                updated_at=now,
            )
            if conn.execute(seed.on_conflict_do_nothing().returning(_watermark.c.kind)).first() is None:
                current = _watermark_value(
                    conn.execute(select(_watermark).where(key).with_for_update()).one()
                )
                if value > current.value:
                    ids = set(ids_at_value)
                elif value == current.value:
                    ids = set(current.ids_at_value) | set(ids_at_value)
                else:
                    return current
                conn.execute(
                    update(_watermark)
                    .where(key)
                    .values(value=value, ids_at_value=_dumps(sorted(ids)), updated_at=now)
                )
            return _watermark_value(conn.execute(select(_watermark).where(key)).one())


def _watermark_value(row: Any) -> WatermarkValue:
    return WatermarkValue(
        value=row.value, ids_at_value=frozenset(json.loads(row.ids_at_value)), updated_at=row.updated_at
    )
