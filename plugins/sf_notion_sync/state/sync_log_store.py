"""sync_log: each record's one open failure row, its attempts and when it is retried."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.engine import Connection

from sf_notion_sync.state.base import IN_CHUNK, StoreBase, _chunks, _row, utcnow
from sf_notion_sync.state.db import write_connection
from sf_notion_sync.state.models import (
    OPEN_LOG_WHERE,
    STATUS_DEAD,
    STATUS_FAILED,
    STATUS_PENDING,
    STATUS_RATE_LIMITED,
    STATUS_SUCCESS,
    SyncLog,
)
from sf_notion_sync.state.rows import Failure, LogEntry

RETRYABLE_STATUSES = (STATUS_FAILED, STATUS_RATE_LIMITED, STATUS_PENDING)

_log = SyncLog.__table__


class SyncLogStore(StoreBase):
    """Failed attempts per record, what the retry DAG and the dashboard read."""

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
