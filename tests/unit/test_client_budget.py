"""The client and the limiter: each 429 reason pauses what it names, a paused endpoint holds up no other."""

from __future__ import annotations

import httpx
import pytest

from sf_notion_sync.notion.client import ThrottledNotionClient
from sf_notion_sync.notion.errors import DeferRequested
from sf_notion_sync.notion.limiter import MemoryBackend, NotionRateLimiter
from tests.unit.test_client_retry import DS, PAGE_ID, T0, TOKEN, FakeTime, Script, error


def limited(reason: str | None, retry_after: int, status: int = 429):
    extra = {"additional_data": {"rate_limit_reason": reason}} if reason else {}
    code = "service_overload" if status == 529 else "rate_limited"
    return error(status, code, {"Retry-After": str(retry_after)}, **extra)


@pytest.fixture
def ft():
    return FakeTime()


def client_for(script, ft, key, **kw) -> ThrottledNotionClient:
    limiter = NotionRateLimiter(MemoryBackend(), key, requests=1000, window_s=1.0, clock=ft.clock)
    return ThrottledNotionClient(TOKEN, base_url="https://notion.test", limiter=limiter,
                                 transport=httpx.MockTransport(script), sleep=ft.sleep, clock=ft.clock, **kw)


def test_connection_limit_pauses_the_token_then_the_full_budget(ft, unique_key):
    client = client_for(Script(("GET", limited("public_api_request_rate_limit", 5))), ft, unique_key)
    assert client.retrieve_database(PAGE_ID).stats.waited_s == pytest.approx(5.0)
    status = client.limiter.status()
    assert status.last_429_reason == "connection" and status.effective_requests == 1000  # no cut
    assert status.paused_until == pytest.approx(T0 + 5)


@pytest.mark.parametrize(("reason", "status"), [("public_api_space_request_rate_limit", 429), (None, 529)])
def test_workspace_limit_pauses_the_workspace_and_cuts_its_budget(ft, unique_key, reason, status):
    script = Script(("PATCH", limited(reason, 70, status)))
    client = client_for(script, ft, unique_key, allow_defer=True)
    other = NotionRateLimiter(MemoryBackend(), unique_key + "-other", workspace_key=f"{unique_key}|workspace",
                              requests=1000, window_s=1.0, clock=ft.clock)  # another token of the workspace
    with pytest.raises(DeferRequested) as deferred:  # its Retry-After (70 s) is past the defer threshold
        client.update_page(PAGE_ID, {})
    assert deferred.value.wait_seconds == pytest.approx(70.0)
    assert other.reserve(max_wait=10.0) == pytest.approx(70.0)  # a deferring caller is told the wait
    status = client.limiter.status()
    assert status.last_429_reason == "workspace" and status.effective_requests == 750


def test_endpoint_limit_pauses_that_endpoint_only(ft, unique_key):
    script = Script(("POST", limited("public_api_endpoint_rate_limit", 4)))
    client = client_for(script, ft, unique_key)
    result = client.query_page(DS)  # 429, waits the endpoint's pause out, then succeeds
    assert result.stats.attempts == 2 and result.stats.waited_s == pytest.approx(4.0)
    assert ft.sleeps == [pytest.approx(4.0)]
    limiter = client.limiter
    limiter.pause(30, "endpoint", endpoint="POST /v1/data_sources/{id}/query")
    before = list(ft.sleeps)
    client.retrieve_database(PAGE_ID)  # another endpoint: no wait
    assert ft.sleeps == before and limiter.status().paused_until < ft.now


def test_a_long_endpoint_pause_defers_without_taking_a_slot(ft, unique_key):
    client = client_for(Script(), ft, unique_key, allow_defer=True)
    client.limiter.pause(60, "endpoint", endpoint="POST /v1/pages")
    with pytest.raises(DeferRequested):
        client.create_page(DS, {}, sf_id="001A")
    assert client.limiter.status().used == 0


def test_429s_are_counted_by_what_they_paused(ft, unique_key):
    script = Script(("GET", limited("public_api_request_rate_limit", 1)), ("GET", limited(None, 1, 529)),
                    ("GET", limited("public_api_endpoint_rate_limit", 1)))
    client = client_for(script, ft, unique_key)
    result = client.retrieve_database(PAGE_ID)
    assert result.stats.rate_limited == 3 and client.totals.rate_limited == 3
    assert result.stats.rate_limited_by_reason == {"connection": 1, "workspace": 1, "endpoint": 1}
    assert client.totals.rate_limited_by_reason == result.stats.rate_limited_by_reason
