"""ThrottledNotionClient: notion_client.Client behind the shared limiter, with one retry policy.

Every call: limiter.reserve -> sleep a short wait, or raise DeferRequested for a long one when the
caller may defer -> send -> classify -> tenacity. The SDK's own retry is off (``retry=False``) so
retries never stack, and it runs on our httpx client (keep-alive pool, split timeouts). We never use
``with Client()``: the SDK would swap our httpx client for a fresh one; ``close()`` is explicit.

Retry policy: 429/529 pause the shared limiter for Retry-After -- the connection, its workspace or
one endpoint, as Notion's ``rate_limit_reason`` says (limiter.pause_reason) -- so the next attempt's
reserve() holds every worker it concerns until then; transient errors back off exponentially with jitter,
for reads and idempotent updates only, and never when Notion's ``retry_guidance`` says not to repeat
the write. A write Notion answered with a 5xx but ``committed_resource_id`` was saved: it is a success
(``committed``). A page create with an unknown outcome (timeout, 5xx, 409, dropped connection) is
never re-sent here: it raises, and the caller resolves it with a lookup old enough to trust
(sync/intents.py), since a data-source query may not see a new page at once (invariant 2).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import tenacity
from notion_client.client import Client, ClientOptions
from notion_client.errors import NotionClientErrorBase

from . import constants as C
from . import windowing as W
from .errors import DeferRequested, ErrorKind, NotionApiError, from_exception
from .limiter import (
    LANE_BULK,
    MemoryBackend,
    NotionRateLimiter,
    SlotNotTaken,
    TurnGiven,
    pause_reason,
    token_fingerprint,
)
from .routes import Route, Routes
from .usage import UsageRecorder, template_endpoint

TEXT_ID_TYPES = ("rich_text", "title")
_MAX_ASKS = 1000
"""Asks to the limiter for one slot at most: each answer not taken is a wait (a turn, a paused endpoint)."""
_SDK_LOG = logging.getLogger("sf_notion_sync.notion.sdk")


@dataclass
class CallStats:
    """Rate-limit information about one call (or, in ``client.totals``, all calls so far)."""

    attempts: int = 0
    waited_s: float = 0.0
    elapsed_s: float = 0.0
    """Wall time in the calls: slot waits, round trips and retries (what depends on Notion, not on us)."""
    rate_limited: int = 0
    rate_limited_by_reason: Counter[str] = field(default_factory=Counter)
    """The 429s (and 529s) by what they paused: limiter.REASONS."""
    transient_errors: int = 0
    request_ids: list[str] = field(default_factory=list)

    def add(self, other: CallStats) -> None:
        self.attempts += other.attempts
        self.waited_s += other.waited_s
        self.elapsed_s += other.elapsed_s
        self.rate_limited += other.rate_limited
        self.rate_limited_by_reason.update(other.rate_limited_by_reason)
        self.transient_errors += other.transient_errors
        self.request_ids.extend(other.request_ids[-20:])
        del self.request_ids[:-100]  # keep the recent ones only: totals live as long as the client


@dataclass
class ApiResult:
    data: dict[str, Any]
    stats: CallStats
    committed: bool = False
    """Notion answered a 5xx but said the write was saved (``committed_resource_id``, the only key of
    ``data`` then besides ``object``): adopt it, do not resend."""


@dataclass
class QueryPage:
    """One page of a data-source query; ``next_cursor`` lets a deferred task resume."""

    results: list[dict[str, Any]]
    next_cursor: str | None
    incomplete_reason: str | None
    stats: CallStats


def _stuck(message: str) -> NotionApiError:
    return NotionApiError(message, code="query_window_stuck", kind=ErrorKind.FATAL)


class ThrottledNotionClient:
    """A Notion client that stays within the shared budget and retries safely.

    ``limiter`` defaults to a per-process one at the documented budget; pass a shared one (SQL or
    Redis, see limiter.build_limiter) when several processes use the token. ``routes`` instead: several
    connections (tokens) of one workspace, each request sent through the one whose permit comes first
    (routes.py); ``token`` is then the first route's. ``allow_defer`` makes a
    wait longer than ``defer_threshold_s`` raise DeferRequested instead of sleeping. ``lane`` is the
    limiter lane its requests take (``fast`` only for the fast lane's single-record syncs).
    """

    def __init__(
        self,
        token: str,
        *,
        base_url: str = C.DEFAULT_BASE_URL,
        notion_version: str = C.NOTION_VERSION,
        limiter: NotionRateLimiter | None = None,
        routes: Routes | None = None,
        usage: UsageRecorder | None = None,
        allow_defer: bool = False,
        defer_threshold_s: float = C.DEFER_THRESHOLD_S,
        lane: str = LANE_BULK,
        max_attempts: int = C.MAX_ATTEMPTS,
        max_rate_limited: int = 20,
        max_elapsed_s: float = C.RETRY_MAX_ELAPSED_S,
        backoff_initial_s: float = C.BACKOFF_INITIAL_S,
        backoff_max_s: float = C.BACKOFF_MAX_S,
        connect_timeout_s: float = C.CONNECT_TIMEOUT_S,
        read_timeout_s: float = C.READ_TIMEOUT_S,
        max_connections: int = C.MAX_CONNECTIONS,
        max_keepalive_connections: int = C.MAX_KEEPALIVE_CONNECTIONS,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not token:
            raise ValueError("a Notion token is required")
        self.base_url = base_url.rstrip("/")
        self.fingerprint = token_fingerprint(token)
        self._owns_limiter = limiter is None and routes is None
        if routes is None:
            limiter = limiter or NotionRateLimiter(MemoryBackend(), self.fingerprint, clock=clock)
            routes = Routes([Route("notion", token, limiter)], clock=clock)
        self.routes = routes
        self.limiter = routes.primary.limiter
        self.usage = usage
        self.allow_defer = allow_defer
        self.defer_threshold_s = defer_threshold_s
        self.lane = lane
        self.max_attempts = max_attempts
        self.max_rate_limited = max_rate_limited
        self.max_elapsed_s = max_elapsed_s
        self.backoff = tenacity.wait_random_exponential(multiplier=backoff_initial_s, max=backoff_max_s)
        self._sleep = sleep
        self._clock = clock
        self._local = threading.local()
        self.totals = CallStats()

        self._http = httpx.Client(
            transport=transport,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_keepalive_connections),
            event_hooks={"response": [self._on_response]},
        )
        options = ClientOptions(
            base_url=self.base_url,
            notion_version=notion_version,
            retry=False,
            logger=_SDK_LOG,  # failures surface as NotionApiError; the SDK's per-failure warnings are noise
            log_level=logging.ERROR,
        )
        self._sdk = Client(options=options, client=self._http)
        # The SDK's client setter replaced timeout and headers: set ours. The token lives only in the
        # httpx headers, whose repr masks Authorization (not in ClientOptions, whose repr would show it).
        self._http.timeout = httpx.Timeout(
            read_timeout_s, connect=connect_timeout_s, write=C.WRITE_TIMEOUT_S, pool=C.POOL_TIMEOUT_S
        )
        self._http.headers["Authorization"] = f"Bearer {token}"

    def __repr__(self) -> str:
        return f"ThrottledNotionClient(base_url={self.base_url!r}, token={self.fingerprint}, limiter={self.limiter!r})"

    def close(self) -> None:
        if self.usage is not None:
            self.usage.close()
        self._http.close()
        if self._owns_limiter:
            self.routes.close()

    def __enter__(self) -> ThrottledNotionClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the one way a request is sent --------------------------------------------------------------

    def _on_response(self, response: httpx.Response) -> None:
        self._local.status = response.status_code
        self._local.request_id = response.headers.get("x-request-id") or response.headers.get("x-notion-request-id")

    def request(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        query: dict[str, Any] | None = None,
        idempotent: bool | None = None,
        record_id: str | None = None,
        allow_defer: bool | None = None,
    ) -> ApiResult:
        """Send one API call (``path`` relative to /v1/) under the budget and the retry policy.

        ``idempotent`` (default: GET/PATCH/DELETE and queries) allows retrying transient errors;
        429/529 are always retried since Notion did not process the request.
        """
        if idempotent is None:
            idempotent = method.upper() in ("GET", "PATCH", "DELETE") or path.endswith("/query")
        stats, started = CallStats(), time.perf_counter()
        try:
            data = self._retrying(stats, idempotent)(
                self._send, method, path, body=body, query=query, stats=stats, record_id=record_id, allow_defer=allow_defer
            )
        except NotionApiError as exc:
            if method.upper() == "GET" or not exc.committed_resource_id:
                raise
            return ApiResult(data={"object": "page", "id": exc.committed_resource_id}, stats=stats, committed=True)
        finally:
            stats.elapsed_s = time.perf_counter() - started
            self.totals.add(stats)
        return ApiResult(data=data, stats=stats)

    def _retrying(self, stats: CallStats, retry_transient: bool) -> tenacity.Retrying:
        def should_retry(exc: BaseException) -> bool:
            if not isinstance(exc, NotionApiError):
                return False
            if exc.kind is ErrorKind.RATE_LIMITED:
                return True
            return exc.kind is ErrorKind.TRANSIENT and retry_transient and not exc.resend_forbidden

        def stop(state: tenacity.RetryCallState) -> bool:
            if state.seconds_since_start is not None and state.seconds_since_start >= self.max_elapsed_s:
                return True
            return stats.rate_limited >= self.max_rate_limited or stats.transient_errors >= self.max_attempts

        def wait(state: tenacity.RetryCallState) -> float:
            # Rate-limited: the limiter is paused until Retry-After, so the next reserve() waits.
            # Transient: exponential backoff with full jitter, counted from transient failures only.
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, NotionApiError) and exc.kind is ErrorKind.TRANSIENT:
                return self.backoff(_AttemptView(stats.transient_errors))
            return 0.0

        def sleep(seconds: float) -> None:
            if seconds > 0:
                stats.waited_s += seconds
                self._sleep(seconds)

        return tenacity.Retrying(
            retry=tenacity.retry_if_exception(should_retry), stop=stop, wait=wait, sleep=sleep, reraise=True
        )

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None,
        query: dict[str, Any] | None,
        stats: CallStats,
        record_id: str | None,
        allow_defer: bool | None,
    ) -> dict[str, Any]:
        defer = self.allow_defer if allow_defer is None else allow_defer
        endpoint = template_endpoint(method, path)
        route = self._wait_for_slot(endpoint, defer, stats)
        stats.attempts += 1
        self._local.status, self._local.request_id = 0, None
        started = time.perf_counter()
        try:
            data = self._sdk.request(path=path, method=method, query=query, body=body, auth=route.token)
        except (NotionClientErrorBase, httpx.TransportError, json.JSONDecodeError) as exc:
            error = from_exception(exc, method=method, endpoint=endpoint, record_id=record_id)
            self._record(method, path, error.status, started)
            if error.request_id:
                stats.request_ids.append(error.request_id)
            if error.kind is ErrorKind.RATE_LIMITED:
                stats.rate_limited += 1
                retry_after = C.RETRY_AFTER_FALLBACK_S if error.retry_after is None else error.retry_after
                reason = pause_reason(error.rate_limit_reason, error.status)
                stats.rate_limited_by_reason[reason] += 1
                self.routes.pause(route, retry_after, reason, endpoint)
            elif error.kind is ErrorKind.TRANSIENT:
                stats.transient_errors += 1
            raise error from exc
        self._record(method, path, getattr(self._local, "status", 0) or 200, started)
        request_id = (data.get("request_id") if isinstance(data, dict) else None) or self._local.request_id
        if request_id:
            stats.request_ids.append(request_id)
        return data

    def _wait_for_slot(self, endpoint: str, defer: bool, stats: CallStats) -> Route:
        """Take a slot and sleep until it; a longer wait than the defer threshold raises DeferRequested
        when deferring is allowed. When no slot is taken (a paused endpoint, or a bulk turn: see pacing),
        sleep that wait out and ask again; back at a turn, the caller keeps its place in the line.
        Returns the route (connection) the slot is of."""
        queued, queued_on = False, None
        for _ in range(_MAX_ASKS):
            try:
                route, wait = self.routes.take(
                    max_wait=self.defer_threshold_s if defer else None, lane=self.lane, endpoint=endpoint,
                    queued=queued, queued_on=queued_on,
                )
                taken = True
            except SlotNotTaken as not_taken:
                wait, taken, queued = not_taken.wait_s, False, isinstance(not_taken, TurnGiven)
                queued_on = not_taken.route if queued else None
            if defer and wait > self.defer_threshold_s:
                raise DeferRequested(wait, self._clock() + wait)
            if wait > 0:
                stats.waited_s += wait
                self._sleep(wait)
            if taken:
                return route
        raise RuntimeError(f"no Notion slot for {endpoint} after {_MAX_ASKS} asks to the limiter")

    def _record(self, method: str, path: str, status: int, started: float) -> None:
        if self.usage is not None:
            self.usage.record(method, path, status, (time.perf_counter() - started) * 1000.0)

    # --- endpoints the engine uses ------------------------------------------------------------------

    def retrieve_database(self, database_id: str) -> ApiResult:
        return self.request("GET", f"databases/{database_id}")

    def retrieve_data_source(self, data_source_id: str) -> ApiResult:
        return self.request("GET", f"data_sources/{data_source_id}")

    def query_page(
        self,
        data_source_id: str,
        *,
        filter: dict[str, Any] | None = None,
        sorts: list[dict[str, Any]] | None = None,
        start_cursor: str | None = None,
        page_size: int = C.MAX_PAGE_SIZE,
        filter_properties: Sequence[str] | None = None,
    ) -> QueryPage:
        """One page of results; resume a long listing from ``next_cursor``. ``filter_properties``
        (property ids) are the properties the results carry: from 2026-12-01 a query without it
        returns only the title, so every caller that reads properties names them."""
        body: dict[str, Any] = {"page_size": min(page_size, C.MAX_PAGE_SIZE)}
        if filter:
            body["filter"] = filter
        if sorts:
            body["sorts"] = sorts
        if start_cursor:
            body["start_cursor"] = start_cursor
        params = {"filter_properties": list(filter_properties)} if filter_properties else None
        result = self.request(
            "POST", f"data_sources/{data_source_id}/query", body=body, query=params, idempotent=True
        )
        data = result.data
        status = data.get("request_status") or {}
        return QueryPage(
            results=list(data.get("results") or []),
            next_cursor=data.get("next_cursor") if data.get("has_more") else None,
            incomplete_reason=status.get("incomplete_reason") if isinstance(status, dict) else None,
            stats=result.stats,
        )

    def query_data_source(self, data_source_id: str, **query: Any) -> Iterator[dict[str, Any]]:
        """Every page the query (``query`` as for query_page) returns, up to Notion's 10,000-result cap;
        see query_windowed."""
        for page in self._pages(data_source_id, query):
            yield from page.results

    def _pages(self, data_source_id: str, query: dict[str, Any]) -> Iterator[QueryPage]:
        """query_page along next_cursor until the query ends (or hits the cap)."""
        cursor = query.get("start_cursor")
        for _ in range(C.QUERY_RESULT_CAP + 1):
            page = self.query_page(data_source_id, **{**query, "start_cursor": cursor})
            yield page
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def query_windowed(
        self,
        data_source_id: str,
        *,
        filter: dict[str, Any] | None = None,
        created_on_or_after: str | None = None,
        split_property: tuple[str, str] | None = None,
        page_size: int = C.MAX_PAGE_SIZE,
        max_windows: int = 10_000,
        max_split_depth: int = C.SPLIT_MAX_DEPTH,
        max_split_requests: int = C.SPLIT_MAX_REQUESTS,
        filter_properties: Sequence[str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every page, past the 10,000-result cap: windows by created_time, ascending. When a
        window is cut (request_status.incomplete_reason), the next starts at the last created_time
        seen; pages at that boundary are deduplicated by id. A window that is all one minute cannot
        advance: that minute is listed by prefixes of the text property ``split_property`` =
        (name, "rich_text" | "title"), see _split_minute."""
        base = W.conjuncts(filter)
        start = created_on_or_after
        boundary: str | None = None
        seen: set[str] = set()
        for _ in range(max_windows):
            window = base + ([W.created("on_or_after", start)] if start else [])
            query = {"filter": W.all_of(window), "sorts": W.CREATED_ASCENDING, "page_size": page_size,
                     "filter_properties": filter_properties}
            first: str | None = None
            incomplete = False
            for page in self._pages(data_source_id, query):
                incomplete = incomplete or bool(page.incomplete_reason)
                for item in page.results:
                    created = item.get("created_time")
                    first = first or created
                    if created != boundary:
                        boundary, seen = created, set()
                    if item["id"] not in seen:
                        seen.add(item["id"])
                        yield item
            if not incomplete:
                return
            if boundary is None or first != boundary:
                start = boundary
                continue
            if split_property is None:
                raise _stuck(
                    f"windowed query cannot advance: more than {C.QUERY_RESULT_CAP} pages of data source "
                    f"{data_source_id} share created_time {boundary}; pass split_property to split them"
                )
            yield from self._split_minute(
                data_source_id, base, boundary, split_property, seen, page_size=page_size,
                max_depth=max_split_depth, max_requests=max_split_requests, filter_properties=filter_properties,
            )  # fmt: skip
            start = W.next_minute(boundary)
        raise NotionApiError(f"windowed query did not finish in {max_windows} windows", kind=ErrorKind.FATAL)

    def _split_minute(
        self,
        data_source_id: str,
        base: list[dict[str, Any]],
        minute: str,
        split_property: tuple[str, str],
        seen: set[str],
        *,
        page_size: int,
        max_depth: int,
        max_requests: int,
        filter_properties: Sequence[str] | None,
    ) -> Iterator[dict[str, Any]]:
        """Every page created in ``minute``, which holds more than the cap, by partitions of the text
        property (is_empty, equals, starts_with: windowing.sub_partitions), each split again while
        it hits the cap. A partition is read only up to its first page that says it is capped: its
        parts list those pages again (``seen`` dedupes by id)."""
        name, kind = split_property
        if kind not in TEXT_ID_TYPES:
            raise ValueError(f"split_property must be a title or rich_text property, not {kind!r}")
        scope = base + W.minute_range(minute)
        where = f"data source {data_source_id}, created_time {minute}"
        over_budget = f"listing {where} by {name!r} prefixes did not finish within {max_requests} requests"
        pending: list[W.Partition] = [[]]
        fold: bool | None = None
        probe: tuple[str, str] | None = None
        requests = 0
        for _ in range(max_requests):  # every partition costs at least one request
            if not pending:
                return
            partition = pending.pop()
            query = {"filter": W.all_of(scope + W.text_condition(name, kind, partition)), "page_size": page_size,
                     "filter_properties": filter_properties}
            values: list[str] = []
            capped = False
            for page in self._pages(data_source_id, query):
                requests += 1
                if requests > max_requests:
                    raise _stuck(over_budget)
                for item in page.results:
                    value = W.plain_text(item, name, kind)
                    if value:
                        values.append(value)
                    if probe is None and value != value.swapcase():
                        probe = (item["id"], value)
                    if item["id"] not in seen:
                        seen.add(item["id"])
                        yield item
                if page.incomplete_reason:
                    capped = True
                    break
            if not capped:
                continue
            if len(partition) > 1:
                pending += W.split_group(partition, values, bool(fold))
                continue
            op, prefix = partition[0] if partition else ("starts_with", "")
            if op != "starts_with" or len(prefix) >= max_depth:
                what = {"is_empty": "empty", "equals": f"equal to {prefix!r}"}.get(op, f"starting with {prefix!r}")
                bound = f" (prefix depth bound {max_depth})" if op == "starts_with" else ""
                raise _stuck(f"cannot list {where}: more than {C.QUERY_RESULT_CAP} pages have {name!r} {what}{bound}")
            if fold is None:
                requests += 1
                fold = probe is not None and self._folds_case(data_source_id, scope, name, kind, probe)
            pending += W.sub_partitions(prefix, values, fold, max_depth)
            pending += [] if partition else [[("is_empty", "")]]
        if pending:
            raise _stuck(over_budget)

    def _folds_case(
        self, data_source_id: str, scope: list[dict[str, Any]], name: str, kind: str, probe: tuple[str, str]
    ) -> bool:
        """Whether text filters ignore case (Notion does not document it): does a page match its own
        value with the case swapped? Folding decides the partitions: 'a' and 'A' are one or two."""
        page_id, value = probe
        condition = {"property": name, kind: {"starts_with": value.swapcase()}}
        found = self.query_page(data_source_id, filter=W.all_of([*scope, condition]))
        return any(item["id"] == page_id for item in found.results)

    def find_page_by_sf_id(
        self, data_source_id: str, id_property: str, sf_id: str, *, property_type: str = "rich_text"
    ) -> dict[str, Any] | None:
        """The oldest live page whose Salesforce Id property equals ``sf_id``, or None. An empty
        answer proves nothing about a page created moments ago (queries may lag behind writes)."""
        if property_type not in TEXT_ID_TYPES:
            raise ValueError(f"the Salesforce Id property must be title or rich_text, not {property_type!r}")
        page = self.query_page(
            data_source_id,
            filter={"property": id_property, property_type: {"equals": sf_id}},
            sorts=W.CREATED_ASCENDING,
            page_size=1,
        )
        return page.results[0] if page.results else None

    def create_page(
        self,
        data_source_id: str,
        properties: dict[str, Any],
        *,
        sf_id: str,
        children: list[dict[str, Any]] | None = None,
        allow_defer: bool | None = None,
    ) -> ApiResult:
        """Send one page create for Salesforce record ``sf_id``; retried only after a 429/529.

        A NotionApiError with ``may_have_written`` means the page may exist: the caller keeps its
        intent and resolves it later (sync/intents.py). ``committed`` results carry only the id.
        """
        body: dict[str, Any] = {"parent": {"type": "data_source_id", "data_source_id": data_source_id}, "properties": properties}
        if children:
            body["children"] = children
        return self.request("POST", "pages", body=body, idempotent=False, record_id=sf_id, allow_defer=allow_defer)

    def relation_ids(self, page_id: str, property_id: str) -> list[str]:
        """Every page a relation property references: a page object lists at most 25 (the property
        says ``has_more``); the page-property endpoint pages through the rest."""
        path = f"pages/{page_id}/properties/{quote(property_id, safe='%')}"
        ids: list[str] = []
        cursor: str | None = None
        for _ in range(C.MAX_RELATION_PAGES):
            query: dict[str, Any] = {"page_size": C.MAX_PAGE_SIZE, **({"start_cursor": cursor} if cursor else {})}
            data = self.request("GET", path, query=query).data
            ids += [item["relation"]["id"] for item in data.get("results") or [] if item.get("type") == "relation"]
            cursor = data.get("next_cursor")
            if not data.get("has_more") or not cursor:
                return ids
        raise NotionApiError(f"relation {property_id} of page {page_id} did not end within "
                             f"{C.MAX_RELATION_PAGES} pages", kind=ErrorKind.FATAL)

    def update_page(self, page_id: str, properties: dict[str, Any], *, record_id: str | None = None) -> ApiResult:
        return self.request("PATCH", f"pages/{page_id}", body={"properties": properties}, record_id=record_id)

    def trash_page(self, page_id: str, *, record_id: str | None = None) -> ApiResult:
        return self.request("PATCH", f"pages/{page_id}", body={"in_trash": True}, record_id=record_id)


@dataclass
class _AttemptView:
    """What tenacity's wait strategies read: the attempt number to back off from."""

    attempt_number: int
