"""Each 429 reason against the emulator's limits: what the client's limiter pauses, and for whom."""

from __future__ import annotations

import time

import httpx
import pytest

from sf_notion_sync.notion.client import ThrottledNotionClient
from sf_notion_sync.notion.errors import DeferRequested
from sf_notion_sync.notion.limiter import EndpointPaused, build_limiter
from sf_notion_sync.sandbox.notion_emulator import NotionEmulator

ALICE, BOB = "secret_reasons_alice", "secret_reasons_bob"  # two connections of one workspace
SCHEMA = {"Name": {"type": "title"}}
QUERY = "POST /v1/data_sources/{id}/query"


def start(tmp_path, **limits):
    emulator = NotionEmulator(state_dir=tmp_path / "emu", tokens=[ALICE, BOB], latency_median_ms=0,
                              window_alignment="first_request", **limits)
    return emulator, emulator.create_database("Reasons", SCHEMA)["data_source_id"]


def client(server, engine, token, requests=1000, **kw) -> ThrottledNotionClient:
    limiter = build_limiter(token, requests=requests, window_s=60.0, engine=engine, workspace_key="workspace:test")
    return ThrottledNotionClient(token, base_url=server.base_url, limiter=limiter, **kw)


def test_a_connection_limit_pauses_the_token_until_the_reset_then_the_full_budget(tmp_path, engine):
    emulator, ds = start(tmp_path, window_requests=3, window_s=2.0)  # our limiter believes in 1000
    with emulator.serve() as server:
        alice, bob = client(server, engine, ALICE), client(server, engine, BOB)
        started = time.time()
        for _ in range(4):  # the 4th is refused until the window's reset (Retry-After 2 s), then sent
            alice.retrieve_data_source(ds)
        assert alice.totals.rate_limited == 1 and time.time() - started >= 1.0
        status = alice.limiter.status()
        assert status.last_429_reason == "connection" and status.effective_requests == 1000  # no cut
        assert not bob.limiter.status().paused  # the other connection goes on
        alice.close(), bob.close()
    emulator.close()


def test_a_workspace_limit_pauses_every_connection_of_it_and_cuts_the_budget(tmp_path, engine):
    emulator, ds = start(tmp_path, workspace_window_requests=4, workspace_window_s=60.0, workspace_retry_after_s=90)
    with emulator.serve() as server:
        alice, bob = client(server, engine, ALICE, allow_defer=True), client(server, engine, BOB, allow_defer=True)
        for _ in range(2):
            alice.retrieve_data_source(ds)
            bob.retrieve_data_source(ds)
        with pytest.raises(DeferRequested) as deferred:  # 429 with Retry-After 90 s: longer than a window
            alice.retrieve_data_source(ds)
        assert deferred.value.wait_seconds == pytest.approx(90, abs=2)
        with pytest.raises(DeferRequested):  # Bob never saw the 429, and waits all the same
            bob.retrieve_data_source(ds)
        status = bob.limiter.status()
        assert status.paused and status.last_429_reason == "workspace"
        assert (status.budget_factor, status.effective_requests) == (0.75, 750)
        alice.close(), bob.close()
    emulator.close()


def test_an_endpoint_limit_pauses_that_endpoint_only(tmp_path, engine):
    emulator, ds = start(tmp_path, endpoint_limits={QUERY: {"requests": 2, "window_s": 60.0}})
    with emulator.serve() as server:
        alice = client(server, engine, ALICE, allow_defer=True)
        alice.query_page(ds), alice.query_page(ds)
        with pytest.raises(DeferRequested):  # the third query: Retry-After ~60 s
            alice.query_page(ds)
        started = time.time()
        alice.retrieve_data_source(ds)  # another endpoint: no wait
        assert time.time() - started < 1.0 and not alice.limiter.status().paused
        with pytest.raises(EndpointPaused):
            alice.limiter.reserve(endpoint=QUERY)
        alice.close()
    emulator.close()


def test_a_529_pauses_like_a_workspace_limit(tmp_path, engine):
    emulator, ds = start(tmp_path)
    with emulator.serve() as server:
        script = {"responses": [{"status": 529, "method": "GET", "retry_after": 1, "count": 1}]}
        httpx.post(f"{server.url}/_sandbox/script", json=script).raise_for_status()
        alice, bob = client(server, engine, ALICE), client(server, engine, BOB)
        result = alice.request("GET", f"data_sources/{ds}")
        assert result.stats.rate_limited == 1 and result.stats.waited_s > 0
        status = bob.limiter.status()
        assert status.last_429_reason == "workspace" and status.budget_factor == 0.75
        assert status.paused_until == pytest.approx(status.last_429_at + 1)  # Retry-After: 1
        alice.close(), bob.close()
    emulator.close()
