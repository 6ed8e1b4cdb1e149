"""The throttled client against httpx.MockTransport: Retry-After, shared pause, safe retries."""

from __future__ import annotations

import json

import httpx
import pytest

from sf_notion_sync.notion.client import ThrottledNotionClient
from sf_notion_sync.notion.errors import DeferRequested, ErrorKind, NotionApiError
from sf_notion_sync.notion.limiter import MemoryBackend, NotionRateLimiter
from sf_notion_sync.notion.usage import UsageRecorder

TOKEN = "secret_unit_test_token_123"
PAGE_ID = "3f9c1a2b4c5d6e7f8091a2b3c4d5e6f7"
DS = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
T0 = 1_800_000_000.0


class FakeTime:
    def __init__(self) -> None:
        self.now = T0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def error(status, code, headers=None, **extra):
    body = {"object": "error", "status": status, "code": code, "message": code, "request_id": f"req-{status}", **extra}
    return httpx.Response(status, json=body, headers=headers or {})


def page(page_id=PAGE_ID, sf_id="001A"):
    return {"object": "page", "id": page_id, "created_time": "2026-01-01T00:00:00.000Z", "sf": sf_id}


class Script:
    """Answers requests from a list of (matcher, response-or-exception) in order; logs everything."""

    def __init__(self, *steps):
        self.steps = list(steps)
        self.log: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.log.append(request)
        for i, (method, answer) in enumerate(self.steps):
            if method == request.method:
                del self.steps[i]
                if isinstance(answer, Exception):
                    raise answer
                return answer
        if request.method == "GET":
            return httpx.Response(200, json=page(), headers={"x-request-id": "req-ok"})
        if request.url.path.endswith("/query"):
            return httpx.Response(200, json={"object": "list", "results": [], "has_more": False, "next_cursor": None})
        return httpx.Response(200, json=page())

    def sent(self, method, suffix=""):
        return [r for r in self.log if r.method == method and r.url.path.endswith(suffix)]


@pytest.fixture
def ft():
    return FakeTime()


def make_client(script, ft, key, **kw):
    limiter = NotionRateLimiter(MemoryBackend(), key, requests=1000, window_s=1.0, clock=ft.clock)
    usage = UsageRecorder(None, dag_id="dag_x", clock=ft.clock)
    return ThrottledNotionClient(
        TOKEN, base_url="https://notion.test", limiter=limiter, usage=usage,
        transport=httpx.MockTransport(script), sleep=ft.sleep, clock=ft.clock, **kw,
    )  # fmt: skip


def test_429_waits_retry_after_and_pauses_the_shared_limiter(ft, unique_key):
    reason = {"additional_data": {"rate_limit_reason": "public_api_space_request_rate_limit"}}
    script = Script(("GET", error(429, "rate_limited", {"Retry-After": "7"}, **reason)))
    client = make_client(script, ft, unique_key)
    result = client.retrieve_database(PAGE_ID)
    assert result.data["id"] == PAGE_ID
    assert result.stats.attempts == 2 and result.stats.rate_limited == 1
    assert result.stats.waited_s == pytest.approx(7.0) and sum(ft.sleeps) == pytest.approx(7.0)  # a turn, then the slot
    assert result.stats.request_ids == ["req-429", "req-ok"]
    status = client.limiter.status()
    assert status.paused_until == pytest.approx(T0 + 7) and status.last_429_reason == "workspace"
    other = NotionRateLimiter(MemoryBackend(), unique_key, requests=1000, window_s=1.0)  # another client, same token
    assert other.reserve(now=T0 + 1, max_wait=1.0) == pytest.approx(6.0, abs=0.01)  # reported to a deferring caller
    buckets = client.usage.snapshot()
    assert {(k[2], k[3], k[4]) for k in buckets} == {("GET /v1/databases/{id}", 429, "dag_x"), ("GET /v1/databases/{id}", 200, "dag_x")}
    client.close()


def test_529_is_handled_like_429(ft, unique_key):
    script = Script(("PATCH", error(529, "service_overload", {"Retry-After": "2"})))
    result = make_client(script, ft, unique_key).update_page(PAGE_ID, {})
    assert result.stats.rate_limited == 1 and len(script.sent("PATCH")) == 2


def test_sdk_retry_is_off_and_headers_are_ours(ft, unique_key):
    script = Script(("GET", error(400, "validation_error")))
    client = make_client(script, ft, unique_key)
    with pytest.raises(NotionApiError) as info:
        client.retrieve_data_source(DS)
    assert info.value.kind is ErrorKind.FATAL and len(script.log) == 1
    req = script.log[0]
    assert req.headers["Notion-Version"] == "2026-12-01"
    assert req.headers["Authorization"] == f"Bearer {TOKEN}"
    assert client._http.timeout.connect == 10.0 and client._http.timeout.read == 60.0
    assert TOKEN not in repr(client) and TOKEN not in str(info.value) and TOKEN not in repr(client._http.headers)


@pytest.mark.parametrize("status", [500, 502, 503, 504, 409])
@pytest.mark.parametrize("method", ["GET", "PATCH"])
def test_transient_retried_with_backoff_for_reads_and_updates(ft, unique_key, status, method):
    script = Script((method, error(status, "x")), (method, error(status, "x")))
    client = make_client(script, ft, unique_key)
    result = client.retrieve_database(PAGE_ID) if method == "GET" else client.trash_page(PAGE_ID)
    assert result.stats.attempts == 3 and result.stats.transient_errors == 2
    assert len(ft.sleeps) == 2 and all(0 <= s <= 30 for s in ft.sleeps)
    if method == "PATCH":
        assert json.loads(script.log[-1].content) == {"in_trash": True}


def test_transient_retries_are_bounded(ft, unique_key):
    script = Script(*[("GET", error(503, "service_unavailable")) for _ in range(10)])
    with pytest.raises(NotionApiError) as info:
        make_client(script, ft, unique_key, max_attempts=3).retrieve_database(PAGE_ID)
    assert info.value.status == 503 and len(script.log) == 3


def test_non_idempotent_post_is_not_retried(ft, unique_key):
    script = Script(("POST", error(500, "internal_server_error")))
    with pytest.raises(NotionApiError):
        make_client(script, ft, unique_key).request("POST", "comments", body={})
    assert len(script.log) == 1


@pytest.mark.parametrize(
    "failure",
    [error(500, "internal_server_error"), error(504, "gateway_timeout"), error(409, "conflict_error"),
     error(503, "service_unavailable"), httpx.Response(502, text="<html>502 Bad Gateway</html>"),
     error(503, "service_unavailable", additional_data={"retry_guidance": "do_not_retry"}),
     httpx.ReadTimeout("timed out"), httpx.RemoteProtocolError("Server disconnected without sending a response.")],
)  # fmt: skip
def test_create_with_unknown_outcome_is_never_re_sent_nor_looked_up(ft, unique_key, failure):
    """The page may exist and a query may not see it yet: the caller resolves it (sync/intents.py)."""
    script = Script(("POST", failure))
    client = make_client(script, ft, unique_key)
    with pytest.raises(NotionApiError) as info:
        client.create_page(DS, {"Name": {"title": []}}, sf_id="001A")
    assert info.value.may_have_written and "record 001A" in str(info.value)
    assert [r.url.path for r in script.log] == ["/v1/pages"]  # one create, no lookup, no resend
    body = json.loads(script.log[0].content)
    assert body["parent"] == {"type": "data_source_id", "data_source_id": DS}


def test_committed_503_is_adopted_without_lookup_or_resend(ft, unique_key):
    committed = {"retry_guidance": "do_not_retry", "committed_resource_id": "11111111111111111111111111111111"}
    script = Script(("POST", error(503, "service_unavailable", additional_data=committed)))
    result = make_client(script, ft, unique_key).create_page(DS, {}, sf_id="001B")
    assert result.committed and result.data["id"] == "11111111111111111111111111111111"
    assert len(script.log) == 1


def test_update_with_retry_guidance_is_not_resent(ft, unique_key):
    """PATCH is idempotent and retried after a 5xx, unless Notion says not to repeat the write."""
    guidance = error(503, "service_unavailable", additional_data={"retry_guidance": "do_not_retry"})
    script = Script(("PATCH", guidance))
    with pytest.raises(NotionApiError) as info:
        make_client(script, ft, unique_key).update_page(PAGE_ID, {})
    assert info.value.resend_forbidden and len(script.log) == 1
    committed = {"retry_guidance": "do_not_retry", "committed_resource_id": PAGE_ID}
    script = Script(("PATCH", error(503, "service_unavailable", additional_data=committed)))
    assert make_client(script, ft, unique_key).update_page(PAGE_ID, {}).committed and len(script.log) == 1


def test_create_after_429_is_re_sent(ft, unique_key):
    script = Script(("POST", error(429, "rate_limited", {"Retry-After": "1"})))
    result = make_client(script, ft, unique_key).create_page(DS, {}, sf_id="001C")
    assert len(script.sent("POST", "/v1/pages")) == 2 and not result.committed


def test_retry_after_falls_back_to_additional_data(ft, unique_key):
    script = Script(("GET", error(429, "rate_limited", additional_data={"retry_after": 4})))
    result = make_client(script, ft, unique_key).retrieve_database(PAGE_ID)
    assert sum(ft.sleeps) == pytest.approx(4.0) and result.stats.rate_limited == 1


def test_create_fatal_is_not_retried_and_names_the_record(ft, unique_key):
    script = Script(("POST", error(400, "validation_error")))
    with pytest.raises(NotionApiError) as info:
        make_client(script, ft, unique_key).create_page(DS, {}, sf_id="001D")
    assert "record 001D" in str(info.value) and len(script.log) == 1


def test_long_wait_defers_instead_of_sleeping(ft, unique_key):
    script = Script(("PATCH", error(429, "rate_limited", {"Retry-After": "30"})))
    client = make_client(script, ft, unique_key, allow_defer=True)
    with pytest.raises(DeferRequested) as info:
        client.update_page(PAGE_ID, {})
    assert info.value.wait_seconds == pytest.approx(30) and info.value.resume_at == pytest.approx(T0 + 30)
    assert ft.sleeps == [] and len(script.log) == 1
    ft.now += 30  # the trigger fired: the same call now goes through
    assert client.update_page(PAGE_ID, {}).stats.attempts == 1


def test_query_pages_through_cursor_and_windowed_past_cap(ft, unique_key):
    def transport(request):
        body = json.loads(request.content)
        start = (body.get("filter") or {}).get("created_time", {}).get("on_or_after")
        # 5 pages, created t0..t2 with a tie at t1; the "cap" cuts every window after 3 results.
        pages = [("a", "t0"), ("b", "t1"), ("c", "t1"), ("d", "t2"), ("e", "t2")]
        live = [p for p in pages if start is None or p[1] >= start]
        window = live[:3]
        return httpx.Response(200, json={
            "object": "list", "has_more": False, "next_cursor": None,
            "results": [{"id": i, "created_time": t} for i, t in window],
            **({"request_status": {"type": "incomplete", "incomplete_reason": "query_result_limit_reached"}} if len(live) > 3 else {}),
        })  # fmt: skip

    client = make_client(transport, ft, unique_key)
    assert [p["id"] for p in client.query_windowed(DS)] == ["a", "b", "c", "d", "e"]


def test_query_data_source_follows_cursors(ft, unique_key):
    def transport(request):
        cursor = json.loads(request.content).get("start_cursor")
        n = int(cursor or 0)
        more = n < 2
        return httpx.Response(200, json={
            "object": "list", "results": [{"id": str(n)}], "has_more": more, "next_cursor": str(n + 1) if more else None,
        })  # fmt: skip

    client = make_client(transport, ft, unique_key)
    assert [p["id"] for p in client.query_data_source(DS, filter={"property": "X", "checkbox": {"equals": True}})] == ["0", "1", "2"]
    assert client.totals.attempts == 3


def test_blocked_integration_stops_at_once(ft, unique_key):
    blocked = {"additional_data": {"rate_limit_reason": "public_api_request_blocked"}}
    script = Script(("GET", error(429, "rate_limited", {"Retry-After": "1"}, **blocked)))
    with pytest.raises(NotionApiError) as info:
        make_client(script, ft, unique_key).retrieve_database(PAGE_ID)
    assert info.value.stops_run and not info.value.rate_limited and len(script.log) == 1
