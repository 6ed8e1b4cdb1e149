"""SQLAlchemy 2 models of the sync state database.

Every time is a timezone-aware UTC datetime (``UTCDateTime`` normalises on the way in and out,
because SQLite keeps no offset). JSON columns are plain text, so both SQLite and PostgreSQL store
them alike and the store decides when to parse them. Indexes follow the queries the engine runs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Double,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, MappedColumn, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# sync_log statuses; a row that is not Success is the one "open" row of its record.
STATUS_PENDING = "Pending"
STATUS_SUCCESS = "Success"
STATUS_FAILED = "Failed"
STATUS_RATE_LIMITED = "Rate Limited"
STATUS_DEAD = "Dead"


class UTCDateTime(TypeDecorator[datetime]):
    """A datetime that is always aware UTC in Python, whatever the database keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the state store only takes aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _zero(type_: type[TypeEngine[Any]] = Integer) -> MappedColumn[Any]:
    """A counter starting at 0, also for writers that use raw SQL."""
    return mapped_column(type_, default=0, server_default=text("0"))


def _flag() -> MappedColumn[bool]:
    return mapped_column(Boolean, default=False, server_default=false())


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), float: Double(), str: String(255)}


# --- used by the Notion client (docs/architecture.md) -------------------------------------------


class RateLimitState(Base):
    """Shared Notion budget state per key: a token fingerprint (never the token), or a workspace's or an
    endpoint's key derived from it (notion/limiter.py). ``window_log``: JSON of the latest slots."""

    __tablename__ = "rate_limit_state"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    tat: Mapped[float] = _zero(Double)
    paused_until: Mapped[float] = _zero(Double)
    rate_factor: Mapped[float] = mapped_column(default=1.0, server_default=text("1"))
    last_429_at: Mapped[float | None]
    last_429_reason: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[float] = _zero(Double)
    window_log: Mapped[str | None] = mapped_column(Text)


class ApiUsage(Base):
    """Hourly request counters per API, endpoint template, HTTP status and DAG; writers add."""

    __tablename__ = "api_usage"

    bucket_start: Mapped[datetime] = mapped_column(primary_key=True)
    api: Mapped[str] = mapped_column(String(16), primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(200), primary_key=True)
    status: Mapped[int] = mapped_column(Integer, primary_key=True)
    dag_id: Mapped[str] = mapped_column(String(250), primary_key=True, default="")
    requests: Mapped[int] = _zero(BigInteger)
    rate_limited: Mapped[int] = _zero(BigInteger)
    errors: Mapped[int] = _zero(BigInteger)
    latency_ms_sum: Mapped[float] = _zero(Double)
    latency_ms_max: Mapped[float] = _zero(Double)


# --- sync tables (issue 5) ------------------------------------------------------------------------


class RecordMap(Base):
    """Salesforce record -> Notion page, with what was last written (to skip unchanged records)."""

    __tablename__ = "record_map"
    __table_args__ = (Index(None, "object_name", "notion_page_id"),)

    object_name: Mapped[str] = mapped_column(String(80), primary_key=True)
    sf_id: Mapped[str] = mapped_column(String(18), primary_key=True)
    notion_page_id: Mapped[str] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(64))
    system_modstamp: Mapped[datetime | None]
    synced_at: Mapped[datetime]
    mapping_version: Mapped[str] = mapped_column(String(64))
    trashed: Mapped[bool] = _flag()


class SyncIntent(Base):
    """A page create that was sent (or is about to be) but whose page id is not yet recorded."""

    __tablename__ = "sync_intent"
    __table_args__ = (Index(None, "run_id"),)

    object_name: Mapped[str] = mapped_column(String(80), primary_key=True)
    sf_id: Mapped[str] = mapped_column(String(18), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(250))
    created_at: Mapped[datetime]


OPEN_LOG_WHERE = text("status <> 'Success'")


class SyncLog(Base):
    """Per-record failures and their retries; at most one open (not Success) row per record."""

    __tablename__ = "sync_log"
    __table_args__ = (
        Index(
            "uq_sync_log_open",
            "object_name",
            "sf_id",
            unique=True,
            sqlite_where=OPEN_LOG_WHERE,
            postgresql_where=OPEN_LOG_WHERE,
        ),
        Index(None, "status", "next_retry_at"),
        Index(None, "run_id"),
        # the dashboard: counts by object and status in one index pass; the newest open rows
        Index(None, "object_name", "status", "operation"),
        Index("ix_sync_log_open_updated", "updated_at", "id", sqlite_where=OPEN_LOG_WHERE,
              postgresql_where=OPEN_LOG_WHERE),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(250))
    object_name: Mapped[str] = mapped_column(String(80))
    sf_id: Mapped[str] = mapped_column(String(18))
    operation: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = _zero()
    rate_limited: Mapped[bool] = _flag()
    last_retry_time: Mapped[datetime | None]
    next_retry_at: Mapped[datetime | None]
    error_code: Mapped[str | None] = mapped_column(String(100))
    error_message: Mapped[str | None] = mapped_column(Text)
    notion_request_id: Mapped[str | None] = mapped_column(String(100))
    fatal: Mapped[bool] = _flag()
    sf_system_modstamp: Mapped[datetime | None]
    mapping_version: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SyncRun(Base):
    """One DAG run of one object: progress counters and the final summary."""

    __tablename__ = "sync_run"
    __table_args__ = (Index(None, "object_name", "started_at"), Index(None, "dag_id", "started_at"))

    run_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    dag_id: Mapped[str] = mapped_column(String(250))
    object_name: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    total: Mapped[int] = _zero()
    processed: Mapped[int] = _zero()
    created: Mapped[int] = _zero()
    updated: Mapped[int] = _zero()
    skipped: Mapped[int] = _zero()
    trashed: Mapped[int] = _zero()
    failed: Mapped[int] = _zero()
    rate_limited_429s: Mapped[int] = _zero()
    notion_requests: Mapped[int] = _zero()
    adopted: Mapped[int] = _zero()
    unresolved: Mapped[int] = _zero()
    duplicates_trashed: Mapped[int] = _zero()
    rate_limited_connection: Mapped[int] = _zero()
    rate_limited_workspace: Mapped[int] = _zero()
    rate_limited_endpoint: Mapped[int] = _zero()
    """The run's Notion 429s (and 529s) by what they paused: state.rows.RATE_LIMIT_REASONS."""
    records_per_s: Mapped[float | None]
    achieved_rps: Mapped[float | None]
    budget_rps: Mapped[float | None]
    summary: Mapped[str | None] = mapped_column(Text)
    params: Mapped[str | None] = mapped_column(Text)


class SyncBatch(Base):
    """One mapped batch of a run: a dense seq range of the run's staging records."""

    __tablename__ = "sync_batch"

    run_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    batch_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    object_name: Mapped[str] = mapped_column(String(80))
    first_seq: Mapped[int] = mapped_column(Integer)
    last_seq: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    processed: Mapped[int] = _zero()
    created: Mapped[int] = _zero()
    updated: Mapped[int] = _zero()
    skipped: Mapped[int] = _zero()
    failed: Mapped[int] = _zero()
    rate_limited_429s: Mapped[int] = _zero()
    adopted: Mapped[int] = _zero()
    unresolved: Mapped[int] = _zero()
    seconds: Mapped[float | None]
    records_per_s: Mapped[float | None]
    cursor: Mapped[str | None] = mapped_column(Text)
    """JSON: where each part resumes, saved as its writers commit (sync/checkpoint.py); null = from first_seq."""


class BatchMetric(Base):
    """Throughput of a finished batch, read back by the dynamic batch sizer."""

    __tablename__ = "batch_metrics"
    __table_args__ = (Index(None, "object_name", "finished_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    object_name: Mapped[str] = mapped_column(String(80))
    finished_at: Mapped[datetime]
    size: Mapped[int] = mapped_column(Integer)
    seconds: Mapped[float]
    records_per_s: Mapped[float]
    errors: Mapped[int] = _zero()
    rate_limited_429s: Mapped[int] = _zero()


class Watermark(Base):
    """Incremental cursor per object and kind; ids_at_value breaks SystemModstamp ties."""

    __tablename__ = "watermark"

    object_name: Mapped[str] = mapped_column(String(80), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[datetime]
    ids_at_value: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    updated_at: Mapped[datetime]


class StagingRecord(Base):
    """Extracted Salesforce records of a run, numbered densely so batches are seq ranges."""

    __tablename__ = "staging_record"
    # one row per record and run (the staging upsert's key); reconcile: map entries missing from a run
    __table_args__ = (Index(None, "run_id", "sf_id", unique=True),)

    run_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    object_name: Mapped[str] = mapped_column(String(80))
    sf_id: Mapped[str] = mapped_column(String(18))
    system_modstamp: Mapped[datetime | None]
    is_deleted: Mapped[bool] = _flag()
    payload: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))


# --- the operator's view (issue 15; read and written by state/run_metrics.py) ---------------------


class SyncRunMinute(Base):
    """What one run did in one minute (UTC), added up from every batch: records done, Notion requests
    and 429s, with the budget and the budget's keys (token fingerprints, never the token)."""

    __tablename__ = "sync_run_minute"
    __table_args__ = (Index(None, "minute"),)

    run_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    minute: Mapped[datetime] = mapped_column(primary_key=True)
    object_name: Mapped[str] = mapped_column(String(80))
    records: Mapped[int] = _zero()
    notion_requests: Mapped[int] = _zero()
    rate_limited_429s: Mapped[int] = _zero()
    budget_rps: Mapped[float | None]
    budget_key: Mapped[str | None] = mapped_column(String(128))
    workspace_key: Mapped[str | None] = mapped_column(String(128))


class SyncLossyChange(Base):
    """One value Notion got shortened or cleared for one record in one run (properties.PropertyWarning)."""

    __tablename__ = "sync_lossy_change"
    __table_args__ = (Index(None, "run_id", "property_name", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(250))
    object_name: Mapped[str] = mapped_column(String(80))
    sf_id: Mapped[str] = mapped_column(String(18))
    property_name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class PreflightSchema(Base):
    """The Notion data source's properties (name -> type) as the object's last preflight read them."""

    __tablename__ = "preflight_schema"

    object_name: Mapped[str] = mapped_column(String(80), primary_key=True)
    data_source_id: Mapped[str | None] = mapped_column(String(64))
    properties: Mapped[str] = mapped_column(Text)
    problems: Mapped[str] = mapped_column(Text)
    checked_at: Mapped[datetime]
