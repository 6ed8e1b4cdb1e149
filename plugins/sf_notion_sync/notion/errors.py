"""One exception type for every Notion failure, sorted into rate-limited, transient and fatal.

The sorting decides the retry policy (client.py): rate-limited is always retried after
Retry-After; transient is retried with backoff where re-sending is safe; fatal never. Messages name
the record, property and limit when known, and never the token (the SDK's messages come from the
response body, which does not echo it).
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

import httpx
from notion_client.errors import HTTPResponseError, InvalidPathParameterError, RequestTimeoutError

from .retry_after import parse_retry_after


class ErrorKind(StrEnum):
    RATE_LIMITED = "rate_limited"
    TRANSIENT = "transient"
    FATAL = "fatal"


RATE_LIMITED_STATUSES = frozenset({429, 529})
TRANSIENT_STATUSES = frozenset({500, 502, 503, 504, 409})
RATE_LIMITED_CODES = frozenset({"rate_limited", "service_overload"})
TRANSIENT_CODES = frozenset(
    {"conflict_error", "internal_server_error", "service_unavailable", "gateway_timeout", "bad_gateway"}
)
FATAL_CODES = frozenset(
    {
        "validation_error",
        "object_not_found",
        "unauthorized",
        "restricted_resource",
        "invalid_json",
        "missing_version",
        "invalid_request_url",
        "invalid_request",
    }
)
RUN_LEVEL_CODES = frozenset({"unauthorized", "restricted_resource", "missing_version", "invalid_request_url"})
"""Errors about the token, its access or the request itself, not one record: every other record
would fail the same way, so a batch stops at the first instead of marking each record failed."""
BLOCKED_REASON = "public_api_request_blocked"
"""A 429 whose ``rate_limit_reason`` says the integration is blocked: retrying won't help ("Request
limits"), so it stops the batch like a revoked token, with Notion's message."""
TIMEOUT_CODE = "timeout"
TRANSPORT_CODE = "transport_error"
INVALID_RESPONSE_CODE = "invalid_response"


def classify(status: int, code: str | None = None) -> ErrorKind:
    """Sort a failure by its HTTP status (0 = no response) and Notion error code."""
    if status in RATE_LIMITED_STATUSES or code in RATE_LIMITED_CODES:
        return ErrorKind.RATE_LIMITED
    if code in FATAL_CODES:
        return ErrorKind.FATAL
    if status == 0 or status in TRANSIENT_STATUSES or code in TRANSIENT_CODES:
        return ErrorKind.TRANSIENT
    if status >= 500:
        return ErrorKind.TRANSIENT
    return ErrorKind.FATAL


class NotionApiError(Exception):
    """A failed Notion request, with what is needed to decide a retry and to explain it."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        code: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        rate_limit_reason: str | None = None,
        method: str | None = None,
        endpoint: str | None = None,
        record_id: str | None = None,
        property_name: str | None = None,
        limit: str | None = None,
        kind: ErrorKind | None = None,
        retry_guidance: str | None = None,
        committed_resource_id: str | None = None,
    ) -> None:
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id
        self.retry_after = retry_after
        self.rate_limit_reason = rate_limit_reason
        self.method = method
        self.endpoint = endpoint
        self.record_id = record_id
        self.property_name = property_name
        self.limit = limit
        self.kind = kind or classify(status, code)
        self.retry_guidance = retry_guidance
        """Notion's ``additional_data.retry_guidance`` on a 5xx: the write may have been saved, do not resend."""
        self.committed_resource_id = committed_resource_id
        """Notion's ``additional_data.committed_resource_id``: the write was saved as this object."""
        super().__init__(self._render())

    @property
    def retriable(self) -> bool:
        return self.kind is not ErrorKind.FATAL

    @property
    def rate_limited(self) -> bool:
        return self.kind is ErrorKind.RATE_LIMITED

    @property
    def stops_run(self) -> bool:
        return self.code in RUN_LEVEL_CODES or self.rate_limit_reason == BLOCKED_REASON

    @property
    def may_have_written(self) -> bool:
        """The request may have been applied: no answer, a 5xx or a conflict (a 429 or a 4xx was not)."""
        return self.kind is ErrorKind.TRANSIENT

    @property
    def resend_forbidden(self) -> bool:
        """Notion said not to repeat this write (it may be saved already): resending could duplicate it."""
        return bool(self.retry_guidance or self.committed_resource_id)

    def _render(self) -> str:
        method = None if (self.endpoint or "").startswith(f"{self.method} ") else self.method
        where = " ".join(p for p in (method, self.endpoint) if p)  # endpoints are templated with their method
        head = f"Notion {where} failed" if where else "Notion request failed"
        parts = [f"status {self.status}" if self.status else "no response"]
        if self.code:
            parts.append(self.code)
        if self.record_id:
            parts.append(f"record {self.record_id}")
        if self.property_name:
            parts.append(f"property {self.property_name!r}")
        if self.limit:
            parts.append(f"limit {self.limit}")
        if self.retry_after is not None:
            parts.append(f"retry after {self.retry_after:g}s")
        if self.rate_limit_reason:
            parts.append(f"reason {self.rate_limit_reason}")
        if self.committed_resource_id:
            parts.append(f"committed as {self.committed_resource_id}")
        elif self.retry_guidance:
            parts.append(f"retry guidance {self.retry_guidance}")
        if self.request_id:
            parts.append(f"request_id {self.request_id}")
        return f"{head} ({', '.join(parts)}): {self.message}"

    def with_context(self, **context: Any) -> NotionApiError:
        """A copy with record/property/limit filled in by a caller that knows them."""
        fields = {k: getattr(self, k) for k in _FIELDS}
        fields.update({k: v for k, v in context.items() if v is not None})
        return NotionApiError(self.message, **fields)


_FIELDS = (
    "status", "code", "request_id", "retry_after", "rate_limit_reason", "method", "endpoint",
    "record_id", "property_name", "limit", "kind", "retry_guidance", "committed_resource_id",
)  # fmt: skip


def from_exception(
    exc: BaseException,
    *,
    method: str | None = None,
    endpoint: str | None = None,
    record_id: str | None = None,
    now: float | None = None,
) -> NotionApiError:
    """Turn an SDK or httpx exception into a NotionApiError (the original stays as __cause__)."""
    ctx: dict[str, Any] = {"method": method, "endpoint": endpoint, "record_id": record_id}
    if isinstance(exc, NotionApiError):
        return exc.with_context(**ctx)
    if isinstance(exc, HTTPResponseError):
        return _from_response(exc.status, exc.headers, exc.body, now=now, **ctx)
    if isinstance(exc, RequestTimeoutError | httpx.TimeoutException):
        return NotionApiError("request timed out", code=TIMEOUT_CODE, kind=ErrorKind.TRANSIENT, **ctx)
    if isinstance(exc, InvalidPathParameterError):
        return NotionApiError(str(exc), code="invalid_path", kind=ErrorKind.FATAL, **ctx)
    if isinstance(exc, json.JSONDecodeError):  # a 2xx whose body did not arrive whole
        return NotionApiError("response body is not JSON", code=INVALID_RESPONSE_CODE, kind=ErrorKind.TRANSIENT, **ctx)
    if isinstance(exc, httpx.TransportError):
        return NotionApiError(
            f"{type(exc).__name__}: {exc}", code=TRANSPORT_CODE, kind=ErrorKind.TRANSIENT, **ctx
        )
    raise TypeError(f"not a Notion transport error: {type(exc).__name__}") from exc


def from_response(
    response: httpx.Response, *, now: float | None = None, **ctx: Any
) -> NotionApiError:
    return _from_response(response.status_code, response.headers, response.text, now=now, **ctx)


def _from_response(
    status: int, headers: httpx.Headers, body: str, *, now: float | None, **ctx: Any
) -> NotionApiError:
    data = _json_object(body)
    code = data.get("code") if isinstance(data.get("code"), str) else None
    message = data.get("message") if isinstance(data.get("message"), str) else f"HTTP {status}"
    additional = data.get("additional_data") if isinstance(data.get("additional_data"), dict) else {}
    kind = classify(status, code)
    retry_after = None
    if kind is ErrorKind.RATE_LIMITED or "retry-after" in headers:
        # the header, else additional_data.retry_after, which repeats it ("Request limits")
        retry_after = parse_retry_after(headers.get("retry-after") or _text(additional.get("retry_after")), now=now)
    reason = additional.get("rate_limit_reason")
    if reason == BLOCKED_REASON:
        kind = ErrorKind.FATAL
    return NotionApiError(
        message,
        status=status,
        code=code,
        request_id=data.get("request_id") or headers.get("x-request-id"),
        retry_after=retry_after,
        rate_limit_reason=reason if isinstance(reason, str) else None,
        kind=kind,
        retry_guidance=_text(additional.get("retry_guidance")),
        committed_resource_id=_text(additional.get("committed_resource_id") or data.get("committed_resource_id")),
        **ctx,
    )


def _text(value: Any) -> str | None:
    """A scalar from the error body as text (Notion documents strings; numbers are tolerated)."""
    if isinstance(value, bool) or value is None:
        return None
    return str(value) if isinstance(value, str | int | float) and str(value) else None


def _json_object(body: str) -> dict[str, Any]:
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


class DeferRequested(Exception):
    """The limiter asks for a wait longer than the defer threshold; the caller may defer.

    No budget was reserved: after waiting ``wait_seconds`` (until ``resume_at``, epoch seconds)
    the caller simply calls again.
    """

    def __init__(self, wait_seconds: float, resume_at: float) -> None:
        self.wait_seconds = wait_seconds
        self.resume_at = resume_at
        super().__init__(f"Notion budget wait of {wait_seconds:.1f}s exceeds the defer threshold")


class PropertyValueError(ValueError):
    """A Salesforce value that Notion would reject; names record, property, problem and limit."""

    def __init__(
        self,
        problem: str,
        *,
        record_id: str | None = None,
        property_name: str | None = None,
        property_type: str | None = None,
        limit: str | None = None,
    ) -> None:
        self.problem = problem
        self.record_id = record_id
        self.property_name = property_name
        self.property_type = property_type
        self.limit = limit
        where = f"record {record_id or '?'}, property {property_name!r}"
        if property_type:
            where += f" ({property_type})"
        tail = f" (limit {limit})" if limit else ""
        super().__init__(f"{where}: {problem}{tail}")


class SchemaMismatchError(Exception):
    """The Notion data source does not match the mapping; lists every problem at once."""

    def __init__(self, data_source_id: str, problems: list[str]) -> None:
        self.data_source_id = data_source_id
        self.problems = problems
        listed = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"Notion data source {data_source_id} does not match the mapping:\n{listed}")
