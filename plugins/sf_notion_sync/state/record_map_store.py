"""Record map: which Notion page holds each Salesforce record, with its last written hash and stamp."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Connection

from sf_notion_sync.state.base import IN_CHUNK, STAGING_CHUNK, StoreBase, _chunks, _row, utcnow
from sf_notion_sync.state.db import write_connection
from sf_notion_sync.state.models import RecordMap, SyncIntent
from sf_notion_sync.state.rows import RecordMapEntry

_record_map = RecordMap.__table__
_intent = SyncIntent.__table__


class RecordMapStore(StoreBase):
    """Salesforce Id -> Notion page, read before each write and updated after it."""

    def get_record_map(self, object_name: str, sf_ids: Iterable[str]) -> dict[str, RecordMapEntry]:
        found: dict[str, RecordMapEntry] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(sf_ids, IN_CHUNK):
                query = select(_record_map).where(
                    _record_map.c.object_name == object_name, _record_map.c.sf_id.in_(chunk)
                )
                found.update((r.sf_id, _row(RecordMapEntry, r)) for r in conn.execute(query))
        return found

    def upsert_record_map(self, entries: Iterable[RecordMapEntry]) -> int:
        """Insert or replace map entries (one transaction per chunk)."""
        count = 0
        for chunk in _chunks(entries, IN_CHUNK):
            with write_connection(self.engine) as conn:
                self._upsert_map(conn, chunk)
            count += len(chunk)
        return count

    def record_created_pages(self, entries: Sequence[RecordMapEntry]) -> None:
        """Record new pages and drop their create intents in the same transaction (invariant 2)."""
        if not entries:
            return
        with write_connection(self.engine) as conn:
            self._upsert_map(conn, list(entries))
            for object_name, ids in _group_ids((e.object_name, e.sf_id) for e in entries):
                conn.execute(
                    delete(_intent).where(_intent.c.object_name == object_name, _intent.c.sf_id.in_(ids))
                )

    def _upsert_map(self, conn: Connection, entries: list[RecordMapEntry]) -> None:
        entries = sorted(entries, key=lambda e: (e.object_name, e.sf_id))
        stmt = self._insert(_record_map)
        keys = (
            "notion_page_id",
            "content_hash",
            "system_modstamp",
            "synced_at",
            "mapping_version",
            "trashed",
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["object_name", "sf_id"], set_={k: stmt.excluded[k] for k in keys}
        )
        conn.execute(stmt, [asdict(e) for e in entries])

    def mark_trashed(self, object_name: str, sf_ids: Iterable[str], at: datetime | None = None) -> int:
        values = {"trashed": True, "synced_at": at or utcnow()}
        return self._update_records(_record_map, object_name, sf_ids, values)

    def iter_record_ids(
        self, object_name: str, include_trashed: bool = False, chunk_size: int = STAGING_CHUNK
    ) -> Iterator[str]:
        """All mapped Salesforce Ids of an object in Id order, read in chunks."""
        after = ""
        while True:
            query = select(_record_map.c.sf_id).where(
                _record_map.c.object_name == object_name, _record_map.c.sf_id > after
            )
            if not include_trashed:
                query = query.where(_record_map.c.trashed.is_(False))
            with self.engine.connect() as conn:
                ids = conn.execute(query.order_by(_record_map.c.sf_id).limit(chunk_size)).scalars().all()
            yield from ids
            if len(ids) < chunk_size:
                return
            after = ids[-1]

    def count_record_map(self, object_name: str, include_trashed: bool = False) -> int:
        query = select(func.count()).where(_record_map.c.object_name == object_name)
        if not include_trashed:
            query = query.where(_record_map.c.trashed.is_(False))
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one()


def _group_ids(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    grouped: dict[str, list[str]] = {}
    for object_name, sf_id in pairs:
        grouped.setdefault(object_name, []).append(sf_id)
    return sorted(grouped.items())
