"""Streamed extraction of Salesforce records: REST for small results, Bulk API 2.0 for large ones.

Nothing here holds a whole result (invariant 5): REST pages (<= 2,000 records) and Bulk CSV pages
(`page_size` records) are parsed and yielded one record at a time, so memory depends on the page
size, never on the number of records. Both paths yield the same plain dicts, typed from the describe,
so that a content hash does not change when a run switches between REST and Bulk.

Records come in no promised order (Bulk serves PK chunks), and an Id can repeat (a record updated
while pages are read): the staging upsert keeps the copy with the latest SystemModstamp, so nothing
here dedupes. Every call goes through a SalesforceSession, which logs in again when the session expires.
"""

from __future__ import annotations

import csv
import itertools
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from simple_salesforce.exceptions import SalesforceMalformedRequest

from .errors import ExtractError
from .pages import bulk_pages, rest_pages
from .session import SalesforceSession, as_session
from .soql import ObjectSchema, build_count, build_query, describe_object

DEFAULT_BULK_THRESHOLD = 10_000
DEFAULT_BULK_PAGE_SIZE = 10_000
DEFAULT_BULK_POLL_SECONDS = 0.5
# getDeleted only answers for the last 15 days (the recycle bin's retention).
DELETED_WINDOW = timedelta(days=15)
# getDeleted/getUpdated refuse spans longer than 30 days.
_MAX_REPLICATION_SPAN = timedelta(days=30)

_INT_TYPES = frozenset({"int", "long"})
_FLOAT_TYPES = frozenset({"double", "currency", "percent"})


class DeletedWindowMissed(RuntimeError):
    """getDeleted cannot cover the asked start any more; the caller must reconcile instead."""

    def __init__(self, object_name: str, start: datetime, earliest: datetime | str | None):
        self.object_name = object_name
        self.start = start
        self.earliest = earliest
        since = f"; the earliest date available is {earliest}" if earliest else ""
        super().__init__(
            f"getDeleted for {object_name} cannot reach back to {start.isoformat()} "
            f"(Salesforce keeps deletes for {DELETED_WINDOW.days} days{since}); run a reconcile instead"
        )


@dataclass
class ExtractStats:
    """Counts of one extraction, filled while it streams; safe to put in XCom (no payloads)."""

    object_name: str
    mode: str  # 'rest' | 'bulk'
    total: int  # COUNT() before extraction
    soql: str
    yielded: int = 0
    pages: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "object": self.object_name,
            "mode": self.mode,
            "total": self.total,
            "yielded": self.yielded,
            "pages": self.pages,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class Extraction:
    """An iterator of records that also carries its `stats` (mode and COUNT() known before iterating)."""

    stats: ExtractStats
    _records: Iterator[dict[str, Any]] = field(repr=False)

    def __iter__(self) -> Extraction:
        return self

    def __next__(self) -> dict[str, Any]:
        return next(self._records)


def canonical_datetime(value: str) -> str:
    """Salesforce's REST spelling `...000+0000`; Bulk CSV writes the same instant as `...000Z`."""
    return value[:-1] + "+0000" if value.endswith("Z") else value


def convert_rest_value(sf_type: str, value: Any) -> Any:
    """Normalise a REST JSON value: JSON numbers to the describe's int/float, datetimes to one spelling."""
    if value is None:
        return None
    if sf_type in _INT_TYPES:
        return int(value)
    if sf_type in _FLOAT_TYPES:
        return float(value)
    if sf_type == "datetime":
        return canonical_datetime(value)
    return value


def convert_csv_value(sf_type: str, value: str) -> Any:
    """Type a Bulk CSV cell from the describe: '' is null (Salesforce stores no empty strings)."""
    if value == "":
        return None
    if sf_type == "boolean":
        lowered = value.lower()
        if lowered not in ("true", "false"):
            raise ExtractError(f"boolean field holds {value!r}")
        return lowered == "true"
    if sf_type in _INT_TYPES:
        return int(value) if value.lstrip("-").isdigit() else int(float(value))
    if sf_type in _FLOAT_TYPES:
        return float(value)
    if sf_type == "datetime":
        return canonical_datetime(value)
    return value


def count(
    sf: Any,
    object_name: str,
    where: str | None = None,
    since: datetime | None = None,
    include_deleted: bool = False,
    overlap: timedelta = timedelta(0),
    config_path: str | None = None,
    until: datetime | None = None,
) -> int:
    """COUNT() of the records an extraction with the same filter would return."""
    schema = describe_object(sf, object_name)
    soql = build_count(schema, where, since, overlap, config_path, until)
    return int(as_session(sf).call(lambda client: client.query(soql, include_deleted=include_deleted))["totalSize"])


def extract(
    sf: Any,
    object_name: str,
    fields: Iterable[str],
    where: str | None = None,
    since: datetime | None = None,
    include_deleted: bool = False,
    threshold: int = DEFAULT_BULK_THRESHOLD,
    *,
    overlap: timedelta = timedelta(0),
    limit: int | None = None,
    mode: str | None = None,
    page_size: int = DEFAULT_BULK_PAGE_SIZE,
    rest_batch_size: int | None = None,
    bulk_poll_seconds: float = DEFAULT_BULK_POLL_SECONDS,
    config_path: str | None = None,
    until: datetime | None = None,
    ordered: bool = False,
) -> Extraction:
    """Stream `fields` (plus Id, SystemModstamp, and IsDeleted with `include_deleted`), in no promised order.

    `since` reads `SystemModstamp >= since - overlap` (ties at the watermark are re-read, never lost);
    `until` stops before that stamp (a bounded re-sync's window end, exclusive). Repeated Ids are kept:
    the staging upsert keeps the latest SystemModstamp. `mode` forces 'rest' or 'bulk'; by default
    Bulk API 2.0 is used when COUNT() reaches `threshold`, unless the caller needs cursor order:
    `ordered` (it may stop early, e.g. a run limited to its budget share) or a `limit`. Bulk cannot
    serve those (ORDER BY and LIMIT disable its PK chunking and time out at volume), so they read
    REST, ORDER BY SystemModstamp, Id, and only the pages consumed; a forced Bulk run stops after
    `limit` records instead of sending LIMIT. `page_size` bounds a Bulk CSV page; `rest_batch_size`
    (200..2,000) asks REST for smaller pages through Sforce-Query-Options.
    """
    if mode not in (None, "rest", "bulk"):
        raise ValueError(f"mode must be 'rest', 'bulk' or None, got {mode!r}")
    if mode == "bulk" and ordered:
        raise ValueError("an ordered extraction reads REST: Bulk API 2.0 serves no order")
    session = as_session(sf)
    schema = describe_object(session, object_name)
    fields = list(fields)
    if include_deleted:
        fields.append("IsDeleted")
    total = count(session, object_name, where, since, include_deleted, overlap, config_path, until)
    if limit is not None:
        total = min(total, limit)
    chosen = mode or ("bulk" if total >= threshold and not (ordered or limit is not None) else "rest")
    rest = chosen == "rest"
    soql = build_query(schema, fields, where, since, overlap, limit if rest else None, config_path, until,
                       ordered=rest)
    stats = ExtractStats(object_name=schema.name, mode=chosen, total=total, soql=soql)
    if rest:
        records = _rest_records(session, schema, soql, include_deleted, rest_batch_size, stats)
    else:
        records = _bulk_records(session, schema, soql, include_deleted, page_size, bulk_poll_seconds, stats)
        if limit is not None:
            records = itertools.islice(records, limit)
    return Extraction(stats, _counted(records, stats))


def _counted(records: Iterator[dict[str, Any]], stats: ExtractStats) -> Iterator[dict[str, Any]]:
    started = time.monotonic()
    try:
        for record in records:
            stats.yielded += 1
            yield record
    finally:
        stats.seconds += time.monotonic() - started


def _rest_records(
    session: SalesforceSession, schema: ObjectSchema, soql: str, include_deleted: bool, batch_size: int | None,
    stats: ExtractStats,
) -> Iterator[dict[str, Any]]:
    types = schema.field_types
    for page in rest_pages(session, soql, include_deleted, batch_size):
        stats.pages += 1
        for raw in page:
            yield {
                name: convert_rest_value(types.get(name, "string"), value)
                for name, value in raw.items()
                if name != "attributes"
            }


def _bulk_records(
    session: SalesforceSession,
    schema: ObjectSchema,
    soql: str,
    include_deleted: bool,
    page_size: int,
    poll_seconds: float,
    stats: ExtractStats,
) -> Iterator[dict[str, Any]]:
    for page in bulk_pages(session, schema.name, soql, include_deleted, page_size, poll_seconds):
        stats.pages += 1
        yield from _parse_csv_page(schema, page)


def _parse_csv_page(schema: ObjectSchema, page: str) -> Iterator[dict[str, Any]]:
    """Rows of one Bulk CSV page, read line by line from the page string (no second copy of it)."""
    reader = csv.reader(_lines(page))
    header = next(reader, None)
    if header is None:
        return
    try:
        names = [schema.canonical(name) for name in header]
    except ValueError as exc:
        raise ExtractError(f"Bulk result column not in the describe: {exc}") from None
    converters = [(name, schema.field_types[name]) for name in names]
    for row in reader:
        if len(row) != len(converters):
            raise ExtractError(f"Bulk CSV row has {len(row)} cells, header has {len(converters)}")
        yield {name: convert_csv_value(sf_type, cell) for (name, sf_type), cell in zip(converters, row, strict=True)}


def _lines(text: str) -> Iterator[str]:
    """Lines with their '\\n', sliced lazily; csv joins the lines of a quoted multi-line cell itself."""
    start, size = 0, len(text)
    while start < size:
        end = text.find("\n", start)
        if end < 0:
            yield text[start:]
            return
        yield text[start : end + 1]
        start = end + 1


@dataclass(frozen=True)
class ReplicationResult:
    """What getDeleted / getUpdated answered: `records` are (Id, deletedDate) or (Id, None) pairs."""

    records: list[tuple[str, str | None]]
    latest_date_covered: str | None
    earliest_date_available: str | None = None


def deleted_since(
    sf: Any, object_name: str, start: datetime, end: datetime | None = None, *, now: datetime | None = None
) -> ReplicationResult:
    """Ids deleted from `start` on, through getDeleted; the next call starts at `latest_date_covered`.

    Salesforce reads start and end to the minute and may cover less than asked (open transactions),
    so a span within one minute asks nothing and covers nothing. DeletedWindowMissed when `start` is
    before what Salesforce still keeps: 15 days back, or less once its delete log is purged.
    """
    now = now or datetime.now(UTC)
    span = _replication_span(start, end or now)
    if span is None:
        return ReplicationResult(records=[], latest_date_covered=start.isoformat())
    start, end = span
    if start < now - DELETED_WINDOW:
        raise DeletedWindowMissed(object_name, start, now - DELETED_WINDOW)
    try:
        answer = as_session(sf).call(lambda client: getattr(client, object_name).deleted(start, end))
    except SalesforceMalformedRequest as exc:
        if "INVALID_REPLICATION_DATE" in str(exc.content):
            raise DeletedWindowMissed(object_name, start, None) from None
        raise
    earliest = answer.get("earliestDateAvailable")
    if earliest and _parse_sf_datetime(earliest) > start:
        raise DeletedWindowMissed(object_name, start, earliest)
    return ReplicationResult(
        records=[(r["id"], r.get("deletedDate")) for r in answer.get("deletedRecords") or []],
        latest_date_covered=answer.get("latestDateCovered"),
        earliest_date_available=earliest,
    )


def updated_ids_since(
    sf: Any, object_name: str, start: datetime, end: datetime | None = None
) -> ReplicationResult:
    """Ids created or updated from `start` on, through getUpdated (a cheap change probe: one call);
    read to the minute like `deleted_since`, the next call starts at `latest_date_covered`."""
    span = _replication_span(start, end or datetime.now(UTC))
    if span is None:
        return ReplicationResult(records=[], latest_date_covered=start.isoformat())
    start, end = span
    answer = as_session(sf).call(lambda client: getattr(client, object_name).updated(start, end))
    return ReplicationResult(
        records=[(record_id, None) for record_id in answer.get("ids") or []],
        latest_date_covered=answer.get("latestDateCovered"),
    )


def _replication_span(start: datetime, end: datetime) -> tuple[datetime, datetime] | None:
    """(start, end) in UTC cut to the minute, as getDeleted/getUpdated read them; None when that leaves no span."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("getDeleted/getUpdated need timezone-aware datetimes")
    if end <= start:
        raise ValueError(f"end {end.isoformat()} is not after start {start.isoformat()}")
    if end - start > _MAX_REPLICATION_SPAN:
        raise ValueError(f"getDeleted/getUpdated cover at most {_MAX_REPLICATION_SPAN.days} days per call")
    start, end = (t.astimezone(UTC).replace(second=0, microsecond=0) for t in (start, end))
    return None if end <= start else (start, end)


def _parse_sf_datetime(value: str) -> datetime:
    parsed = datetime.fromisoformat(canonical_datetime(value).replace("+0000", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

