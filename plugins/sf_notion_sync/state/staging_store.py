"""Staging: one run's extracted records, one row per Salesforce Id, numbered by a dense seq."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import and_, delete, func, or_, select

from sf_notion_sync.state.base import IN_CHUNK, STAGING_CHUNK, StoreBase, _chunks, _dumps, _row
from sf_notion_sync.state.db import write_connection
from sf_notion_sync.state.models import RecordMap, StagingRecord
from sf_notion_sync.state.rows import RecordMapEntry, StagedRecord

_staging = StagingRecord.__table__
_record_map = RecordMap.__table__


class StagingStore(StoreBase):
    """The run's staged records (extraction writes, batches read seq ranges)."""

    def append_staging(
        self, run_id: str, object_name: str, records: Iterable[StagedRecord], chunk_size: int = STAGING_CHUNK
    ) -> int:
        """Stage records after those already staged for the run, one row per Id; one transaction per chunk.

        Extraction serves records in any order and can serve an Id twice (Bulk PK chunks; a record
        updated while pages are read), so this is an upsert: an Id already staged keeps its seq and takes
        the copy with the later SystemModstamp (a stamped copy beats an unstamped one; on a tie the first
        stays). Seqs stay dense (0..N-1 per run) so that batches are seq ranges. Call from one writer per
        run. Returns how many Ids were new.
        """
        next_seq = self.count_staging(run_id)
        added = 0
        upsert = self._staging_upsert()
        for chunk in _chunks(records, chunk_size):
            latest = _latest_per_id(chunk)
            with write_connection(self.engine) as conn:
                known: dict[str, int] = {}
                for ids in _chunks(latest, IN_CHUNK):
                    query = select(_staging.c.sf_id, _staging.c.seq).where(
                        _staging.c.run_id == run_id, _staging.c.sf_id.in_(ids))
                    known.update((sf_id, seq) for sf_id, seq in conn.execute(query))
                rows = []
                for r in latest.values():
                    seq = known.get(r.sf_id)
                    if seq is None:
                        seq, next_seq, added = next_seq, next_seq + 1, added + 1
                    rows.append({
                        "run_id": run_id,
                        "seq": seq,
                        "object_name": object_name,
                        "sf_id": r.sf_id,
                        "system_modstamp": r.system_modstamp,
                        "is_deleted": r.is_deleted,
                        "payload": r.payload if isinstance(r.payload, str) else _dumps(r.payload),
                        "content_hash": r.content_hash,
                    })
                conn.execute(upsert, rows)
        return added

    def _staging_upsert(self) -> Any:
        """INSERT .. ON CONFLICT (run_id, sf_id): replace the staged copy only with a later-stamped one."""
        stmt = self._insert(_staging)
        new, old = stmt.excluded.system_modstamp, _staging.c.system_modstamp
        columns = ("object_name", "system_modstamp", "is_deleted", "payload", "content_hash")
        return stmt.on_conflict_do_update(
            index_elements=[_staging.c.run_id, _staging.c.sf_id],
            set_={name: stmt.excluded[name] for name in columns},
            where=and_(new.is_not(None), or_(old.is_(None), new > old)),
        )

    def iter_staging(
        self, run_id: str, first_seq: int = 0, last_seq: int | None = None, chunk_size: int = STAGING_CHUNK
    ) -> Iterator[StagedRecord]:
        """Records with first_seq <= seq <= last_seq in seq order, read in chunks (bounded memory)."""
        cursor = first_seq
        while True:
            query = select(_staging).where(_staging.c.run_id == run_id, _staging.c.seq >= cursor)
            if last_seq is not None:
                query = query.where(_staging.c.seq <= last_seq)
            with self.engine.connect() as conn:
                rows = conn.execute(query.order_by(_staging.c.seq).limit(chunk_size)).all()
            for row in rows:
                yield StagedRecord(
                    sf_id=row.sf_id,
                    system_modstamp=row.system_modstamp,
                    payload=json.loads(row.payload),
                    content_hash=row.content_hash,
                    is_deleted=row.is_deleted,
                    seq=row.seq,
                )
            if len(rows) < chunk_size:
                return
            cursor = rows[-1].seq + 1

    def count_staging(self, run_id: str) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).where(_staging.c.run_id == run_id)).scalar_one()

    def clear_staging(self, run_id: str) -> int:
        with write_connection(self.engine) as conn:
            return conn.execute(delete(_staging).where(_staging.c.run_id == run_id)).rowcount

    def iter_unstaged_map_entries(
        self, run_id: str, object_name: str, chunk_size: int = STAGING_CHUNK
    ) -> Iterator[RecordMapEntry]:
        """Untrashed map entries whose record is not staged in the run: reconcile's trash candidates."""
        staged = select(_staging.c.sf_id).where(
            _staging.c.run_id == run_id, _staging.c.sf_id == _record_map.c.sf_id
        )
        after = ""
        while True:
            query = (
                select(_record_map)
                .where(
                    _record_map.c.object_name == object_name,
                    _record_map.c.trashed.is_(False),
                    _record_map.c.sf_id > after,
                    ~staged.exists(),
                )
                .order_by(_record_map.c.sf_id)
                .limit(chunk_size)
            )
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
            yield from (_row(RecordMapEntry, r) for r in rows)
            if len(rows) < chunk_size:
                return
            after = rows[-1].sf_id


def _latest_per_id(records: Iterable[StagedRecord]) -> dict[str, StagedRecord]:
    """One record per Id in first-seen order, the one with the latest SystemModstamp (as the upsert keeps)."""
    latest: dict[str, StagedRecord] = {}
    for record in records:
        seen = latest.get(record.sf_id)
        if seen is None or (record.system_modstamp is not None
                            and (seen.system_modstamp is None or record.system_modstamp > seen.system_modstamp)):
            latest[record.sf_id] = record
    return latest
