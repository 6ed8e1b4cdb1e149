"""Data access for the sync engine: one short transaction per method, SQLite and PostgreSQL alike.

No Airflow here. Writes go through ``write_connection`` (on SQLite ``BEGIN IMMEDIATE``, so parallel
tasks queue on the busy timeout instead of failing on a lock upgrade). Upserts use each dialect's
``INSERT .. ON CONFLICT``; rows touched by concurrent writers are visited in key order so two
PostgreSQL transactions cannot deadlock on each other.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, fields
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any, TypeVar

from sqlalchemy import Engine, Table, and_, case, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from sf_notion_sync.state.db import default_state_url, make_engine, upgrade, write_connection
from sf_notion_sync.state.models import (
    OPEN_LOG_WHERE,
    STATUS_DEAD,
    STATUS_FAILED,
    STATUS_PENDING,
    STATUS_RATE_LIMITED,
    STATUS_SUCCESS,
    ApiUsage,
    BatchMetric,
    RecordMap,
    StagingRecord,
    SyncBatch,
    SyncIntent,
    SyncLog,
    SyncRun,
    Watermark,
)
from sf_notion_sync.state.rows import (
    RATE_LIMIT_REASONS,
    BatchInfo,
    BatchMetricInfo,
    Counters,
    Failure,
    Intent,
    LogEntry,
    RecordMapEntry,
    RunInfo,
    StagedRecord,
    UsageDelta,
    UsageRollup,
    WatermarkValue,
)

T = TypeVar("T")

STAGING_CHUNK = 2_000
IN_CHUNK = 500  # ids per IN (...) list; far below SQLite's bound-parameter limit
DEFAULT_WATERMARK_KIND = "incremental"
RETRYABLE_STATUSES = (STATUS_FAILED, STATUS_RATE_LIMITED, STATUS_PENDING)
USAGE_GROUPS = ("api", "endpoint", "status", "dag_id")

_staging = StagingRecord.__table__
_record_map = RecordMap.__table__
_intent = SyncIntent.__table__
_log = SyncLog.__table__
_run = SyncRun.__table__
_batch = SyncBatch.__table__
_metric = BatchMetric.__table__
_watermark = Watermark.__table__
_usage = ApiUsage.__table__

_RUN_COUNTERS = tuple(f.name for f in fields(Counters))
_BATCH_COUNTERS = tuple(name for name in _RUN_COUNTERS if name in _batch.c)
# costs were paid even by an attempt that is re-run, so they accumulate instead of being replaced
_COST_COUNTERS = frozenset({"rate_limited_429s", "notion_requests"})


def utcnow() -> datetime:
    return datetime.now(UTC)


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def _row(cls: type[T], row: Any) -> T:
    return cls(**{f.name: row._mapping[f.name] for f in fields(cls)})  # type: ignore[arg-type]


class StateStore:
    """The sync state database as the engine uses it; safe to share between threads."""

    def __init__(self, engine: Engine) -> None:
        if engine.dialect.name not in ("sqlite", "postgresql"):
            raise ValueError(
                f"the sync state store supports SQLite and PostgreSQL, not {engine.dialect.name}"
            )
        self.engine = engine
        self._insert = sqlite.insert if engine.dialect.name == "sqlite" else postgresql.insert

    @classmethod
    def from_url(cls, url: str | None = None, *, migrate: bool = True) -> StateStore:
        """A store on ``url`` (default: connection ``sync_state_db``), migrated to the latest schema."""
        engine = make_engine(url or default_state_url())
        if migrate:
            upgrade(engine)
        return cls(engine)

    # --- staging ----------------------------------------------------------------------------------

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

    # --- record map -------------------------------------------------------------------------------

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

    # --- create intents (invariant 2) -------------------------------------------------------------

    def write_intents(
        self, object_name: str, sf_ids: Iterable[str], run_id: str, at: datetime | None = None
    ) -> None:
        """Note creates about to be sent; committed before the first request goes out."""
        at = at or utcnow()
        rows = [
            {"object_name": object_name, "sf_id": i, "run_id": run_id, "created_at": at}
            for i in sorted(sf_ids)
        ]
        if not rows:
            return
        stmt = self._insert(_intent)
        stmt = stmt.on_conflict_do_update(
            index_elements=["object_name", "sf_id"],
            set_={"run_id": stmt.excluded.run_id, "created_at": stmt.excluded.created_at},
        )
        with write_connection(self.engine) as conn:
            conn.execute(stmt, rows)

    def claim_intent(self, object_name: str, sf_id: str, run_id: str, at: datetime | None = None) -> bool:
        """Write the record's create intent unless one is open (another run is creating its page): the
        claim and the check are one statement, so two runs never both create it."""
        stmt = self._insert(_intent).values(object_name=object_name, sf_id=sf_id, run_id=run_id,
                                            created_at=at or utcnow())
        with write_connection(self.engine) as conn:
            return conn.execute(stmt.on_conflict_do_nothing(index_elements=["object_name", "sf_id"])).rowcount == 1

    def clear_intents(self, object_name: str, sf_ids: Iterable[str]) -> int:
        count = 0
        with write_connection(self.engine) as conn:
            for chunk in _chunks(sorted(sf_ids), IN_CHUNK):
                count += conn.execute(
                    delete(_intent).where(_intent.c.object_name == object_name, _intent.c.sf_id.in_(chunk))
                ).rowcount
        return count

    def open_intents(
        self, object_name: str | None = None, sf_ids: Iterable[str] | None = None
    ) -> list[Intent]:
        """Creates whose outcome is unknown: look these pages up by Salesforce Id before creating again."""
        query = select(_intent).order_by(_intent.c.object_name, _intent.c.sf_id)
        if object_name is not None:
            query = query.where(_intent.c.object_name == object_name)
        with self.engine.connect() as conn:
            if sf_ids is None:
                return [_row(Intent, r) for r in conn.execute(query)]
            return [
                _row(Intent, r)
                for chunk in _chunks(sf_ids, IN_CHUNK)
                for r in conn.execute(query.where(_intent.c.sf_id.in_(chunk)))
            ]

    # --- sync_log ---------------------------------------------------------------------------------

    def record_failures(
        self,
        failures: Iterable[Failure],
        *,
        retry_delay: Callable[[int], float] | None = None,
        max_attempts: int | None = None,
        now: datetime | None = None,
    ) -> list[LogEntry]:
        """Count a failed attempt on each record's open sync_log row (created on the first failure).

        ``next_retry_at`` is the failure's own (e.g. from Retry-After) or now + ``retry_delay(attempts)``.
        Past ``max_attempts`` the row becomes Dead. A fatal (validation) failure is Dead at once: the
        same input would fail the same way, so it is shown and alerted now, with its reason; it comes
        back (attempts counted afresh) when the record's SystemModstamp or the mapping changes.
        """
        now = now or utcnow()
        failures = sorted(failures, key=lambda f: (f.object_name, f.sf_id))
        result: list[LogEntry] = []
        with write_connection(self.engine) as conn:
            for failure in failures:
                row_id, attempts = self._upsert_failure(conn, failure, now)
                dead = failure.fatal or (max_attempts is not None and attempts >= max_attempts)
                next_retry_at = failure.next_retry_at
                if next_retry_at is None and retry_delay is not None and not dead:
                    next_retry_at = now + timedelta(seconds=retry_delay(attempts))
                status = (
                    STATUS_DEAD if dead
                    else STATUS_PENDING if failure.pending
                    else STATUS_RATE_LIMITED if failure.rate_limited
                    else STATUS_FAILED
                )
                row = conn.execute(
                    update(_log)
                    .where(_log.c.id == row_id)
                    .values(status=status, next_retry_at=None if dead else next_retry_at)
                    .returning(*_log.c)
                ).one()
                result.append(_row(LogEntry, row))
        return result

    def record_failure(self, failure: Failure, **kwargs: Any) -> LogEntry:
        return self.record_failures([failure], **kwargs)[0]

    def _upsert_failure(self, conn: Connection, failure: Failure, now: datetime) -> tuple[int, int]:
        values = {
            "run_id": failure.run_id,
            "object_name": failure.object_name,
            "sf_id": failure.sf_id,
            "operation": failure.operation,
            "status": STATUS_FAILED,
            "attempts": 1,
            "rate_limited": failure.rate_limited,
            "error_code": failure.error_code,
            "error_message": failure.error_message,
            "notion_request_id": failure.notion_request_id,
            "fatal": failure.fatal,
            "sf_system_modstamp": failure.sf_system_modstamp,
            "mapping_version": failure.mapping_version,
            "created_at": now,
            "updated_at": now,
        }
        stmt = self._insert(_log).values(values)
        keep = {"object_name", "sf_id", "created_at", "attempts", "status"}
        # a changed record or mapping is a new case: its attempts start again (so a Dead one revives)
        changed = or_(
            and_(
                stmt.excluded.sf_system_modstamp.is_not(None),
                _log.c.sf_system_modstamp.is_distinct_from(stmt.excluded.sf_system_modstamp),
            ),
            and_(
                stmt.excluded.mapping_version.is_not(None),
                _log.c.mapping_version.is_distinct_from(stmt.excluded.mapping_version),
            ),
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["object_name", "sf_id"],
            index_where=OPEN_LOG_WHERE,
            set_={
                **{k: stmt.excluded[k] for k in values if k not in keep},
                "attempts": case((changed, 1), else_=_log.c.attempts + 1),
                "last_retry_time": now,
            },
        )
        row = conn.execute(stmt.returning(_log.c.id, _log.c.attempts)).one()
        return row.id, row.attempts

    def record_success(self, object_name: str, sf_ids: Iterable[str], now: datetime | None = None) -> int:
        """Close the open sync_log rows of records that were written after all."""
        return self._set_open_status(object_name, sf_ids, STATUS_SUCCESS, now)

    def _set_open_status(self, object_name: str, sf_ids: Iterable[str], status: str, now: datetime | None) -> int:
        """Move the open rows of these records to ``status`` (no further retry)."""
        values = {"status": status, "next_retry_at": None, "updated_at": now or utcnow()}
        return self._update_records(_log, object_name, sf_ids, values, _log.c.status != STATUS_SUCCESS)

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

    def due_for_retry(
        self, now: datetime | None = None, object_name: str | None = None, limit: int = 1000
    ) -> list[LogEntry]:
        """Non-fatal open failures whose time has come: rate-limited first, then the oldest."""
        now = now or utcnow()
        query = (
            select(_log)
            .where(
                _log.c.status.in_(RETRYABLE_STATUSES),
                _log.c.fatal.is_(False),
                (_log.c.next_retry_at.is_(None)) | (_log.c.next_retry_at <= now),
            )
            .order_by(_log.c.rate_limited.desc(), _log.c.created_at, _log.c.id)
            .limit(limit)
        )
        if object_name is not None:
            query = query.where(_log.c.object_name == object_name)
        with self.engine.connect() as conn:
            return [_row(LogEntry, r) for r in conn.execute(query)]

    def open_failures(self, object_name: str, sf_ids: Iterable[str] | None = None) -> dict[str, LogEntry]:
        """Open (not Success) rows by Salesforce Id; the engine retries a fatal one once its
        SystemModstamp or mapping version differs from the one stored here."""
        query = select(_log).where(_log.c.object_name == object_name, _log.c.status != STATUS_SUCCESS)
        with self.engine.connect() as conn:
            if sf_ids is None:
                rows = conn.execute(query).all()
            else:
                rows = [
                    r
                    for c in _chunks(sf_ids, IN_CHUNK)
                    for r in conn.execute(query.where(_log.c.sf_id.in_(c)))
                ]
        return {r.sf_id: _row(LogEntry, r) for r in rows}

    def mark_dead(self, object_name: str, sf_ids: Iterable[str], now: datetime | None = None) -> int:
        return self._set_open_status(object_name, sf_ids, STATUS_DEAD, now)

    def log_status_counts(self, object_name: str | None = None) -> dict[str, int]:
        query = select(_log.c.status, func.count()).group_by(_log.c.status)
        if object_name is not None:
            query = query.where(_log.c.object_name == object_name)
        with self.engine.connect() as conn:
            return {status: n for status, n in conn.execute(query)}

    # --- runs and batches -------------------------------------------------------------------------

    def start_run(
        self,
        run_id: str,
        dag_id: str,
        object_name: str,
        kind: str,
        *,
        params: dict[str, Any] | None = None,
        budget_rps: float | None = None,
        now: datetime | None = None,
    ) -> RunInfo:
        """Create the run, or mark a re-run of it as running again (its counters stay)."""
        values = {
            "run_id": run_id,
            "dag_id": dag_id,
            "object_name": object_name,
            "kind": kind,
            "status": "running",
            "started_at": now or utcnow(),
            "budget_rps": budget_rps,
            "params": None if params is None else _dumps(params),
        }
        stmt = self._insert(_run).values(values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["run_id"],
            set_={"status": "running", "finished_at": None, "budget_rps": stmt.excluded.budget_rps},
        )
        with write_connection(self.engine) as conn:
            conn.execute(stmt)
        return self.get_run(run_id)  # type: ignore[return-value]

    def set_run_total(self, run_id: str, total: int) -> None:
        with write_connection(self.engine) as conn:
            conn.execute(update(_run).where(_run.c.run_id == run_id).values(total=total))

    def add_run_counters(self, run_id: str, counters: Counters) -> None:
        """Add to the run's counters in the database (atomic under concurrent batches)."""
        with write_connection(self.engine) as conn:
            self._add_run_counters(conn, run_id, asdict(counters))

    def add_rate_limits(self, run_id: str, by_reason: Mapping[str, int]) -> None:
        """Add 429s to the run's counts by what they paused (RATE_LIMIT_REASONS)."""
        unknown = set(by_reason) - set(RATE_LIMIT_REASONS)
        if unknown:
            raise ValueError(f"unknown rate-limit reasons {sorted(unknown)}; known: {', '.join(RATE_LIMIT_REASONS)}")
        with write_connection(self.engine) as conn:
            self._add_run_counters(conn, run_id, {f"rate_limited_{r}": n for r, n in by_reason.items()})

    @staticmethod
    def _add_run_counters(conn: Connection, run_id: str, deltas: dict[str, int]) -> None:
        changes = {k: _run.c[k] + v for k, v in deltas.items() if v}
        if changes:
            conn.execute(update(_run).where(_run.c.run_id == run_id).values(changes))

    def finish_run(
        self,
        run_id: str,
        status: str,
        summary: dict[str, Any],
        *,
        records_per_s: float | None = None,
        achieved_rps: float | None = None,
        now: datetime | None = None,
    ) -> RunInfo:
        with write_connection(self.engine) as conn:
            conn.execute(
                update(_run)
                .where(_run.c.run_id == run_id)
                .values(
                    status=status,
                    finished_at=now or utcnow(),
                    summary=_dumps(summary),
                    records_per_s=records_per_s,
                    achieved_rps=achieved_rps,
                )
            )
        return self.get_run(run_id)  # type: ignore[return-value]

    def get_run(self, run_id: str) -> RunInfo | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(_run).where(_run.c.run_id == run_id)).one_or_none()
        return None if row is None else _run_info(row)

    def recent_runs(self, object_name: str | None = None, limit: int = 20) -> list[RunInfo]:
        query = select(_run).order_by(_run.c.started_at.desc()).limit(limit)
        if object_name is not None:
            query = query.where(_run.c.object_name == object_name)
        with self.engine.connect() as conn:
            return [_run_info(r) for r in conn.execute(query)]

    def plan_batches(
        self, run_id: str, object_name: str, ranges: Sequence[tuple[int, int]]
    ) -> list[BatchInfo]:
        """Replace the run's batch plan with inclusive seq ranges, numbered from 0."""
        rows = [
            {
                "run_id": run_id,
                "batch_index": i,
                "object_name": object_name,
                "first_seq": first,
                "last_seq": last,
                "size": last - first + 1,
                "status": "pending",
            }
            for i, (first, last) in enumerate(ranges)
        ]
        with write_connection(self.engine) as conn:
            conn.execute(delete(_batch).where(_batch.c.run_id == run_id))
            if rows:
                conn.execute(insert(_batch), rows)
        return self.list_batches(run_id)

    def start_batch(self, run_id: str, batch_index: int, now: datetime | None = None) -> BatchInfo:
        with write_connection(self.engine) as conn:
            conn.execute(
                update(_batch)
                .where(_batch.c.run_id == run_id, _batch.c.batch_index == batch_index)
                .values(status="running", started_at=now or utcnow(), finished_at=None)
            )
        return self.get_batch(run_id, batch_index)  # type: ignore[return-value]

    def finish_batch(
        self,
        run_id: str,
        batch_index: int,
        status: str,
        counters: Counters,
        *,
        seconds: float,
        record_metric: bool = True,
        now: datetime | None = None,
    ) -> BatchInfo:
        """Store the batch's counters, add them to its run, and record a sizer metric; atomically.

        A re-run of the batch replaces its earlier outcome counters and the run's sums move by the
        difference only, so clearing a mapped task never double counts; 429s and requests add up.
        """
        now = now or utcnow()
        new = asdict(counters)
        records_per_s = counters.processed / seconds if seconds > 0 else None
        with write_connection(self.engine) as conn:
            where = and_(_batch.c.run_id == run_id, _batch.c.batch_index == batch_index)
            old = conn.execute(select(_batch).where(where)).one_or_none()
            if old is None:
                raise KeyError(f"no batch {batch_index} planned for run {run_id!r}")
            conn.execute(
                update(_batch)
                .where(where)
                .values(
                    status=status,
                    finished_at=now,
                    seconds=seconds,
                    records_per_s=records_per_s,
                    **{k: new[k] + (getattr(old, k) if k in _COST_COUNTERS else 0) for k in _BATCH_COUNTERS},
                )
            )
            replaced = set(_BATCH_COUNTERS) - _COST_COUNTERS
            deltas = {k: new[k] - (getattr(old, k) if k in replaced else 0) for k in _RUN_COUNTERS}
            self._add_run_counters(conn, run_id, deltas)
            if record_metric and seconds > 0:
                conn.execute(
                    insert(_metric).values(
                        object_name=old.object_name,
                        finished_at=now,
                        size=counters.processed,
                        seconds=seconds,
                        records_per_s=records_per_s,
                        errors=counters.failed,
                        rate_limited_429s=counters.rate_limited_429s,
                    )
                )
        return self.get_batch(run_id, batch_index)  # type: ignore[return-value]

    def get_batch(self, run_id: str, batch_index: int) -> BatchInfo | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(_batch).where(_batch.c.run_id == run_id, _batch.c.batch_index == batch_index)
            ).one_or_none()
        return None if row is None else _row(BatchInfo, row)

    def list_batches(self, run_id: str) -> list[BatchInfo]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(_batch).where(_batch.c.run_id == run_id).order_by(_batch.c.batch_index)
            )
            return [_row(BatchInfo, r) for r in rows]

    # --- batch metrics ----------------------------------------------------------------------------

    def record_batch_metric(
        self,
        object_name: str,
        size: int,
        seconds: float,
        *,
        errors: int = 0,
        rate_limited_429s: int = 0,
        finished_at: datetime | None = None,
    ) -> None:
        with write_connection(self.engine) as conn:
            conn.execute(
                insert(_metric).values(
                    object_name=object_name,
                    finished_at=finished_at or utcnow(),
                    size=size,
                    seconds=seconds,
                    records_per_s=size / seconds if seconds > 0 else 0.0,
                    errors=errors,
                    rate_limited_429s=rate_limited_429s,
                )
            )

    def recent_batch_metrics(self, object_name: str, limit: int = 20) -> list[BatchMetricInfo]:
        """The newest metrics first."""
        query = (
            select(_metric)
            .where(_metric.c.object_name == object_name)
            .order_by(_metric.c.finished_at.desc(), _metric.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_row(BatchMetricInfo, r) for r in conn.execute(query)]

    # --- watermarks (invariant 3: advance only after the covered writes are committed) ------------

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

    # --- API usage --------------------------------------------------------------------------------

    def add_api_usage(self, deltas: Iterable[UsageDelta]) -> None:
        """Add request counters into their hourly buckets (one upsert per bucket and key)."""
        merged: dict[tuple[Any, ...], dict[str, Any]] = {}
        for d in deltas:
            key = (_hour(d.at), d.api, d.endpoint, d.status, d.dag_id)
            row = merged.setdefault(
                key,
                dict(zip(("bucket_start", *USAGE_GROUPS), key, strict=True))
                | {
                    "requests": 0,
                    "rate_limited": 0,
                    "errors": 0,
                    "latency_ms_sum": 0.0,
                    "latency_ms_max": 0.0,
                },
            )
            row["requests"] += d.requests
            row["rate_limited"] += d.rate_limited
            row["errors"] += d.errors
            row["latency_ms_sum"] += d.latency_ms_sum
            row["latency_ms_max"] = max(row["latency_ms_max"], d.latency_ms_max)
        if not merged:
            return
        stmt = self._insert(_usage)
        ex = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=["bucket_start", *USAGE_GROUPS],
            set_={
                **{k: _usage.c[k] + ex[k] for k in ("requests", "rate_limited", "errors", "latency_ms_sum")},
                "latency_ms_max": case(
                    (ex.latency_ms_max > _usage.c.latency_ms_max, ex.latency_ms_max),
                    else_=_usage.c.latency_ms_max,
                ),
            },
        )
        with write_connection(self.engine) as conn:
            conn.execute(stmt, [merged[k] for k in sorted(merged)])

    def usage_rollup(
        self,
        since: datetime,
        *,
        granularity: str = "hour",
        by: Sequence[str] = ("api", "endpoint"),
        api: str | None = None,
        dag_id: str | None = None,
    ) -> list[UsageRollup]:
        """Usage since ``since`` summed per hour or day (UTC) and per the ``by`` columns, oldest first."""
        if granularity not in ("hour", "day"):
            raise ValueError(f"granularity must be 'hour' or 'day', not {granularity!r}")
        unknown = set(by) - set(USAGE_GROUPS)
        if unknown:
            raise ValueError(f"cannot group API usage by {sorted(unknown)}; choose from {USAGE_GROUPS}")
        group = [_usage.c.bucket_start, *(_usage.c[c] for c in by)]
        query = (
            select(
                *group,
                func.sum(_usage.c.requests),
                func.sum(_usage.c.rate_limited),
                func.sum(_usage.c.errors),
                func.sum(_usage.c.latency_ms_sum),
                func.max(_usage.c.latency_ms_max),
            )
            .where(_usage.c.bucket_start >= _hour(since))
            .group_by(*group)
        )
        if api is not None:
            query = query.where(_usage.c.api == api)
        if dag_id is not None:
            query = query.where(_usage.c.dag_id == dag_id)
        totals: dict[tuple[datetime, tuple[Any, ...]], list[Any]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                bucket = row[0].replace(hour=0) if granularity == "day" else row[0]
                key = tuple(row[1 : 1 + len(by)])
                requests, limited, errors, lat_sum, lat_max = row[1 + len(by) :]
                acc = totals.setdefault((bucket, key), [0, 0, 0, 0.0, 0.0])
                acc[0] += int(requests)
                acc[1] += int(limited)
                acc[2] += int(errors)
                acc[3] += float(lat_sum)
                acc[4] = max(acc[4], float(lat_max))
        return [
            UsageRollup(bucket, key, *values)
            for (bucket, key), values in sorted(
                totals.items(), key=lambda kv: (kv[0][0], tuple(map(str, kv[0][1])))
            )
        ]

    def purge_api_usage(self, older_than_days: int, now: datetime | None = None) -> int:
        cutoff = _hour((now or utcnow()) - timedelta(days=older_than_days))
        with write_connection(self.engine) as conn:
            return conn.execute(delete(_usage).where(_usage.c.bucket_start < cutoff)).rowcount


def _latest_per_id(records: Iterable[StagedRecord]) -> dict[str, StagedRecord]:
    """One record per Id in first-seen order, the one with the latest SystemModstamp (as the upsert keeps)."""
    latest: dict[str, StagedRecord] = {}
    for record in records:
        seen = latest.get(record.sf_id)
        if seen is None or (record.system_modstamp is not None
                            and (seen.system_modstamp is None or record.system_modstamp > seen.system_modstamp)):
            latest[record.sf_id] = record
    return latest


def _group_ids(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    grouped: dict[str, list[str]] = {}
    for object_name, sf_id in pairs:
        grouped.setdefault(object_name, []).append(sf_id)
    return sorted(grouped.items())


def _run_info(row: Any) -> RunInfo:
    data = {f.name: row._mapping[f.name] for f in fields(RunInfo)}
    for key in ("summary", "params"):
        data[key] = None if data[key] is None else json.loads(data[key])
    return RunInfo(**data)


def _watermark_value(row: Any) -> WatermarkValue:
    return WatermarkValue(
        value=row.value, ids_at_value=frozenset(json.loads(row.ids_at_value)), updated_at=row.updated_at
    )
