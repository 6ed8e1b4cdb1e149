"""Plain values the state store takes and returns, so callers never hold ORM objects or sessions."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

RATE_LIMIT_REASONS = ("connection", "workspace", "endpoint")
"""What a Notion 429 (or 529) paused (notion.limiter.REASONS); the run counts its 429s by them."""


@dataclass(frozen=True, slots=True)
class StagedRecord:
    """An extracted Salesforce record as staged for a run (``payload`` a dict or JSON text)."""

    sf_id: str
    system_modstamp: datetime | None
    payload: dict[str, Any] | str
    content_hash: str
    is_deleted: bool = False
    seq: int = -1  # assigned by the store


@dataclass(frozen=True, slots=True)
class RecordMapEntry:
    object_name: str
    sf_id: str
    notion_page_id: str
    content_hash: str
    system_modstamp: datetime | None
    synced_at: datetime
    mapping_version: str
    trashed: bool = False


@dataclass(frozen=True, slots=True)
class Intent:
    object_name: str
    sf_id: str
    run_id: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Failure:
    """What went wrong writing one record; ``next_retry_at`` set explicitly wins (e.g. Retry-After)."""

    run_id: str
    object_name: str
    sf_id: str
    operation: str
    error_code: str | None
    error_message: str | None
    rate_limited: bool = False
    fatal: bool = False
    notion_request_id: str | None = None
    sf_system_modstamp: datetime | None = None
    mapping_version: str | None = None
    next_retry_at: datetime | None = None
    pending: bool = False
    """A create whose outcome is unknown: shown as Pending until a settled lookup resolves it."""


@dataclass(frozen=True, slots=True)
class LogEntry:
    id: int
    run_id: str
    object_name: str
    sf_id: str
    operation: str
    status: str
    attempts: int
    rate_limited: bool
    last_retry_time: datetime | None
    next_retry_at: datetime | None
    error_code: str | None
    error_message: str | None
    notion_request_id: str | None
    fatal: bool
    sf_system_modstamp: datetime | None
    mapping_version: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(slots=True)
class Counters:
    """Progress counters of a batch; a run holds the sums over its batches.

    Mutable, because a writer counts into one as it goes; the store only reads the one it is given.
    """

    processed: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    trashed: int = 0
    failed: int = 0
    rate_limited_429s: int = 0
    notion_requests: int = 0
    adopted: int = 0
    """Creates whose answer was lost, found later by a settled lookup (or Notion's committed id)."""
    unresolved: int = 0
    """Creates whose outcome is still unknown: their intents stay for the next run or the retry DAG."""
    duplicates_trashed: int = 0

    def add(self, other: Counters) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@dataclass(frozen=True, slots=True)
class RunInfo:
    run_id: str
    dag_id: str
    object_name: str
    kind: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    total: int
    processed: int
    created: int
    updated: int
    skipped: int
    trashed: int
    failed: int
    rate_limited_429s: int
    notion_requests: int
    adopted: int
    unresolved: int
    duplicates_trashed: int
    rate_limited_connection: int
    rate_limited_workspace: int
    rate_limited_endpoint: int
    records_per_s: float | None
    achieved_rps: float | None
    budget_rps: float | None
    summary: dict[str, Any] | None
    params: dict[str, Any] | None

    @property
    def rate_limited_by_reason(self) -> dict[str, int]:
        return {reason: getattr(self, f"rate_limited_{reason}") for reason in RATE_LIMIT_REASONS}


@dataclass(frozen=True, slots=True)
class BatchInfo:
    run_id: str
    batch_index: int
    object_name: str
    first_seq: int
    last_seq: int
    size: int
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    processed: int
    created: int
    updated: int
    skipped: int
    failed: int
    rate_limited_429s: int
    adopted: int
    unresolved: int
    seconds: float | None
    records_per_s: float | None
    cursor: int | list[int] | None = None
    """Where the batch resumes (one seq per part) after a deferral or a killed attempt; None: from first_seq."""


@dataclass(frozen=True, slots=True)
class BatchMetricInfo:
    object_name: str
    finished_at: datetime
    size: int
    seconds: float
    records_per_s: float
    errors: int
    rate_limited_429s: int


@dataclass(frozen=True, slots=True)
class WatermarkValue:
    value: datetime
    ids_at_value: frozenset[str] = field(default_factory=frozenset)
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class UsageDelta:
    """Requests to add to the hourly bucket that contains ``at``."""

    at: datetime
    api: str
    endpoint: str
    status: int
    dag_id: str = ""
    requests: int = 1
    rate_limited: int = 0
    errors: int = 0
    latency_ms_sum: float = 0.0
    latency_ms_max: float = 0.0


@dataclass(frozen=True, slots=True)
class UsageRollup:
    """Counters summed over one hour or day for one group (``key`` per the ``by`` columns)."""

    bucket_start: datetime
    key: tuple[str | int, ...]
    requests: int
    rate_limited: int
    errors: int
    latency_ms_sum: float
    latency_ms_max: float

    @property
    def latency_ms_avg(self) -> float:
        return self.latency_ms_sum / self.requests if self.requests else 0.0
