"""Bulk API 2.0 query jobs: create, poll (UploadComplete -> InProgress -> JobComplete), CSV results.

A job freezes the overlay at creation, counts its records in a background thread, and serves
results page by page from a stream; Sforce-Locator is the base64 of the next offset, as Salesforce's is.

As in Salesforce, results come in PK-chunk order, not sorted: Id order inside a chunk, the chunks in
the order they finish. ORDER BY or LIMIT disables PK chunking; such a job over more than
`order_limit` matching records fails with a query timeout (state Failed). OFFSET is refused.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import itertools
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..datagen import make_id
from .cursors import Cursor, CursorCache
from .errors import SalesforceError, not_found
from .formats import iso_ms
from .soql import Query, parse
from .store import RecordStore

DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
DEFAULT_MAX_RECORDS = 50_000
DEFAULT_ORDER_LIMIT = 10_000
"""Matching records past which a job with ORDER BY or LIMIT fails (Salesforce: the query times out)."""
DEFAULT_PK_CHUNK_SIZE = 1_000
QUERY_TIMEOUT_MESSAGE = ("QUERY_TIMEOUT: Your query request was running for too long. ORDER BY and LIMIT disable"
                         " PK chunking in Bulk API 2.0 query jobs: remove them or filter the query further.")


@dataclass
class Job:
    id: str
    operation: str
    query: Query
    column_delimiter: str
    line_ending: str
    api_version: str
    created_ms: int
    state: str = "UploadComplete"
    records: int = 0
    error: str | None = None
    finished_at: float = 0.0
    started: float = field(default_factory=time.monotonic)

    def info(self) -> dict:
        return {
            "id": self.id, "operation": self.operation, "object": self.query.obj.name,
            "createdById": "0055g0000000001AAA", "createdDate": iso_ms(self.created_ms),
            "systemModstamp": iso_ms(self.created_ms), "state": self.state, "concurrencyMode": "Parallel",
            "contentType": "CSV", "apiVersion": float(self.api_version), "jobType": "V2Query",
            "lineEnding": self.line_ending, "columnDelimiter": self.column_delimiter,
            "numberRecordsProcessed": self.records if self.state == "JobComplete" else 0, "retries": 0,
            "totalProcessingTime": int((self.finished_at - self.started) * 1000) if self.finished_at else 0,
            **({"errorMessage": self.error} if self.error else {}),
        }


def encode_locator(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def decode_locator(locator: str) -> int:
    try:
        value = int(base64.b64decode(locator + "=" * (-len(locator) % 4), validate=True).decode())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        value = -1
    if value < 0:
        raise SalesforceError(400, "INVALIDLOCATOR", f"Invalid locator: {locator}")
    return value


class BulkJobs:
    def __init__(self, store: RecordStore, min_job_seconds: float = 0.2, order_limit: int = DEFAULT_ORDER_LIMIT,
                 pk_chunk_size: int = DEFAULT_PK_CHUNK_SIZE) -> None:
        self.store = store
        self.min_job_seconds = min_job_seconds
        self.order_limit = order_limit
        self.pk_chunk_size = pk_chunk_size
        self.jobs: dict[str, Job] = {}
        self.cursors = CursorCache(capacity=64)
        self._lock = threading.Lock()
        self._counter = itertools.count(1)

    def create(self, body: dict, api_version: str) -> Job:
        operation = body.get("operation")
        if operation not in ("query", "queryAll"):
            raise SalesforceError(400, "INVALIDJOB", f"Invalid operation: {operation!r}; expected query or queryAll")
        text = body.get("query")
        if not isinstance(text, str) or not text.strip():
            raise SalesforceError(400, "INVALIDJOB", "A query is required for a query job")
        delimiter = body.get("columnDelimiter", "COMMA")
        line_ending = body.get("lineEnding", "LF")
        if delimiter not in DELIMITERS or line_ending not in LINE_ENDINGS:
            raise SalesforceError(400, "INVALIDJOB", "Invalid columnDelimiter or lineEnding")
        query = parse(text)
        if query.count_only:
            raise SalesforceError(400, "INVALIDJOB", "COUNT() is not supported by Bulk API 2.0 query jobs")
        if query.offset:
            raise SalesforceError(400, "INVALIDJOB", "OFFSET is not supported by Bulk API 2.0 query jobs")
        with self._lock:
            job = Job(make_id("750", next(self._counter)), operation, query, delimiter, line_ending, api_version,
                      int(datetime.now(UTC).timestamp() * 1000))
            self.jobs[job.id] = job
        include_deleted = operation == "queryAll"
        rows = self.store.snapshot(query.obj.name)
        if query.order:
            def results():
                return self.store.stream(query, include_deleted, rows)
        else:
            chunk_size, seed = self.pk_chunk_size, job.id

            def results():
                return self.store.stream_pk_chunks(query, include_deleted, rows, chunk_size, seed)
        self.cursors.put(job.id, Cursor(results, {"rows": rows, "include_deleted": include_deleted}))
        threading.Thread(target=self._run, args=(job, include_deleted, rows), daemon=True,
                         name=f"bulk-{job.id}").start()
        return job

    def _run(self, job: Job, include_deleted: bool, rows) -> None:
        job.state = "InProgress"
        try:
            job.records = self.store.count(job.query, include_deleted, rows)
            query = job.query
            if query.order or query.limit is not None:
                unlimited = dataclasses.replace(query, limit=None)
                if self.store.count(unlimited, include_deleted, rows) > self.order_limit:
                    raise SalesforceError(400, "QUERY_TIMEOUT", QUERY_TIMEOUT_MESSAGE)
        except SalesforceError as exc:
            job.error, job.state = exc.message, "Failed"
            job.finished_at = time.monotonic()
            return
        remaining = self.min_job_seconds - (time.monotonic() - job.started)
        if remaining > 0:
            time.sleep(remaining)  # a real job is never instantly complete; clients must poll
        job.finished_at = time.monotonic()
        job.state = "JobComplete" if job.state == "InProgress" else job.state

    def get(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise not_found("Job not found")  # Bulk 2.0 answers 404 NOT_FOUND for an unknown job id
        return job

    def abort(self, job_id: str) -> Job:
        job = self.get(job_id)
        if job.state in ("UploadComplete", "InProgress"):
            job.state = "Aborted"
        return job

    def delete(self, job_id: str) -> None:
        self.get(job_id)
        self.jobs.pop(job_id, None)
        self.cursors.drop(job_id)

    def page(self, job_id: str, locator: str | None, max_records: int | None):
        """(job, cursor, offset, count, next locator) for one results page; the caller streams it."""
        job = self.get(job_id)
        if job.state != "JobComplete":
            raise SalesforceError(400, "INVALIDJOB", f"Job {job_id} is not complete (state {job.state})")
        offset = decode_locator(locator) if locator else 0
        size = DEFAULT_MAX_RECORDS if max_records is None else max_records
        if size <= 0:
            raise SalesforceError(400, "INVALIDJOB", "maxRecords must be a positive integer")
        count = max(0, min(size, job.records - offset))
        next_locator = encode_locator(offset + count) if offset + count < job.records else "null"
        cursor = self.cursors.get(job_id)
        if cursor is None:
            raise SalesforceError(400, "INVALIDLOCATOR", "The results of this job have expired")
        return job, cursor, offset, count, next_locator

    def clear(self) -> None:
        with self._lock:
            self.jobs.clear()
            self.cursors.clear()
