"""Several connections of one workspace against the emulator (issue 17): requests spread over their
budgets, a page created through one is updated through another, and a workspace limit nobody configured
is learned from its 429 and paces every connection after it."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from sf_notion_sync.notion.client import ThrottledNotionClient
from sf_notion_sync.notion.limiter import NotionRateLimiter, SqlBackend, build_limiter
from sf_notion_sync.notion.routes import Route, Routes, planned_limit
from sf_notion_sync.sandbox.notion_emulator import NotionEmulator
from sf_notion_sync.state.store import StateStore

TOKENS = ("secret_routes_a", "secret_routes_b", "secret_routes_c")
WORKSPACE = "notion-workspace:routes-test"
SCHEMA = {"Name": {"type": "title"}}
WINDOW_S = 2.0


def start(tmp_path, **limits):
    emulator = NotionEmulator(state_dir=tmp_path / "emu", tokens=list(TOKENS), latency_median_ms=0,
                              window_alignment="epoch", limit_mode="window", window_s=WINDOW_S, **limits)
    return emulator, emulator.create_database("Routes", SCHEMA)["data_source_id"]


def routes(engine, count: int, per_connection: int, workspace: int | None = None, learned=None) -> Routes:
    """As the hooks build them: one backend for all (one read sees every connection), and a workspace
    bucket that carries a cut, binding from the start only below the connections' budgets together."""
    backend = SqlBackend(engine)
    members = [Route(f"notion_{i}", token, build_limiter(token, requests=per_connection, window_s=WINDOW_S,
                                                         workspace_key=WORKSPACE, shared=backend,
                                                         follows_cut=count == 1))
               for i, token in enumerate(TOKENS[:count])]
    limit = planned_limit([per_connection] * count, workspace, None)
    bucket = NotionRateLimiter(backend, f"{WORKSPACE}|budget", requests=limit.requests, window_s=WINDOW_S,
                               workspace_key=WORKSPACE, cut_base=per_connection * count)
    return Routes(members, bucket, binding=limit.requests < per_connection * count, learned=limit.learned,
                  on_learned=learned)


def client(server, spread: Routes) -> ThrottledNotionClient:
    return ThrottledNotionClient(spread.primary.token, base_url=server.base_url, routes=spread)


def create(notion: ThrottledNotionClient, ds: str, name: str) -> str:
    return notion.create_page(ds, {"Name": {"title": [{"text": {"content": name}}]}}, sf_id=name).data["id"]


def test_requests_spread_over_the_connections_and_pages_move_between_them(tmp_path, engine):
    emulator, ds = start(tmp_path, window_requests=8)  # each connection: 8 per 2 s
    with emulator.serve() as server:
        spread = routes(engine, 3, 8)
        notion = client(server, spread)
        ids = [create(notion, ds, f"rec-{i}") for i in range(48)]
        assert notion.totals.rate_limited == 0 and len(set(ids)) == 48
        sent = [len(r.limiter.backend.read(r.limiter.key).sent) for r in spread.routes]
        assert all(n >= 8 for n in sent), sent  # every connection carried its share (a log keeps 8)
        for page_id in ids[:6]:  # a page created through one connection is updated through whichever is next
            notion.update_page(page_id, {"Name": {"title": [{"text": {"content": "renamed"}}]}})
        listed = {p["id"] for p in notion.query_data_source(ds)}
        assert listed == set(ids) and notion.totals.rate_limited == 0
        notion.close()
    emulator.close()


def test_an_unknown_workspace_limit_is_learned_from_its_429_and_paces_every_connection(tmp_path, engine):
    emulator, ds = start(tmp_path, window_requests=10, workspace_window_requests=12, workspace_window_s=WINDOW_S)
    store = StateStore(engine)
    with emulator.serve() as server:
        spread = routes(engine, 3, 10, learned=lambda level: store.learn_limit(WORKSPACE, level, WINDOW_S))
        assert not spread.binding and spread.ceiling == 30 and spread.learned  # nothing binds until a 429
        notion = client(server, spread)
        ids = [create(notion, ds, f"rec-{i}") for i in range(60)]
        assert len(set(ids)) == 60 and len({p["id"] for p in notion.query_data_source(ds)}) == 60
        limited = notion.totals.rate_limited_by_reason
        assert limited["workspace"] >= 1 and notion.totals.rate_limited <= 15, limited  # unlearned: 30 and more
        learned = store.learned_limit(WORKSPACE)  # what was sent when it answered: a little above the limit
        assert learned is not None and 8 <= learned.requests <= 20, learned
        bucket = spread.workspace.status()  # the cut holds for the workspace; each connection keeps its own
        assert bucket.budget_factor < 1 and bucket.effective_requests <= 15, bucket  # of 30: near the limit of 12
        assert all(route.limiter.status().effective_requests == 10 for route in spread.routes)
        notion.close()
    emulator.close()


def test_a_configured_workspace_limit_is_never_exceeded(tmp_path, engine):
    emulator, ds = start(tmp_path, window_requests=10, workspace_window_requests=12, workspace_window_s=WINDOW_S)
    with emulator.serve() as server:
        spread = routes(engine, 3, 10, workspace=11)  # a little under the server's 12: arrival jitter
        assert spread.workspace.requests == 11 and not spread.learned
        notion = client(server, spread)
        ids = [create(notion, ds, f"rec-{i}") for i in range(30)]
        assert len(set(ids)) == 30 and notion.totals.rate_limited == 0
        notion.close()
    emulator.close()


def test_a_create_lost_on_one_connection_is_found_through_another(tmp_path, engine):
    import httpx

    from sf_notion_sync.notion.errors import NotionApiError

    emulator, ds = start(tmp_path, window_requests=100)
    with emulator.serve() as server:
        spread = routes(engine, 2, 100)
        notion = client(server, spread)
        httpx.post(f"{server.url}/_sandbox/script", timeout=10, json={"responses": [
            {"fault": "lost_create", "method": "POST", "path_prefix": "/v1/pages", "count": 1}]}).raise_for_status()
        with pytest.raises(NotionApiError) as lost:  # stored, its answer lost: never re-sent by the client
            create(notion, ds, "001LOST")
        assert lost.value.may_have_written
        log = httpx.get(f"{server.url}/_sandbox/requests", params={"since": 0}, timeout=10).json()
        through = {r["token"] for r in log if r["method"] == "POST" and r["path"] == "/v1/pages"}
        found = {}
        for _ in range(4):  # the lookups go through whichever connection comes next: the other one too
            found[notion.find_page_by_sf_id(ds, "Name", "001LOST", property_type="title")["id"]] = True
        log = httpx.get(f"{server.url}/_sandbox/requests", params={"since": 0}, timeout=10).json()
        queried = {r["token"] for r in log if r["path"].endswith("/query")}
        assert len(found) == 1 and len(queried) == 2 and queried > through  # one page, seen through both
        assert len(list(notion.query_data_source(ds))) == 1
        notion.close()
    emulator.close()


def test_callers_queued_on_a_connection_come_back_to_it_so_every_connection_carries_its_share(tmp_path, engine):
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    emulator, ds = start(tmp_path, window_requests=10)
    with emulator.serve() as server:
        spread = routes(engine, 2, 10)  # no bucket: turns are each connection's own
        clients = [client(server, spread) for _ in range(6)]  # six callers at once: bulk callers get turns
        with ThreadPoolExecutor(6) as pool:
            ids = list(pool.map(lambda i: create(clients[i % 6], ds, f"rec-{i}"), range(60)))
        log = httpx.get(f"{server.url}/_sandbox/requests", params={"since": 0}, timeout=10).json()
        by_token = Counter(r["token"] for r in log if r["path"] == "/v1/pages" and r["status"] == 200)
        assert len(set(ids)) == 60 and sum(c.totals.rate_limited for c in clients) == 0
        assert len(by_token) == 2 and min(by_token.values()) >= 24, by_token  # each near half of 60
        interval = WINDOW_S / 10
        assert all(r.limiter.backend.read(r.limiter.key).turn < time.time() + 2 * interval for r in spread.routes)
        for c in clients:
            c.close()
    emulator.close()
