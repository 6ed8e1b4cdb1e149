"""Records of a non-Salesforce source through the engine path NotionUpsertOperator takes, against the
Notion emulator: created once, unchanged ones cost no request, changed ones are updated, a raising
transform fails only its record into sync_log, and a create whose answer is lost makes no second page."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from sf_notion_sync.config import load_config
from sf_notion_sync.notion.client import ThrottledNotionClient
from sf_notion_sync.notion.limiter import MemoryBackend, NotionRateLimiter, token_fingerprint
from sf_notion_sync.state.db import make_engine, upgrade
from sf_notion_sync.state.store import StateStore
from sf_notion_sync.sync.budget import NotionBudget
from sf_notion_sync.sync.context import SyncContext
from sf_notion_sync.sync.external import stage_external, upsert_staged
from sf_notion_sync.transforms import TRANSFORM_FAILED

TOKEN = "secret_upsert_external"
TICKETS = 60
SETTLE_S = 1.5
QUERY_LAG_S = 1.0
"""A new page stays out of queries this long: a lookup right after a lost create must not be trusted."""
CONFIG = """
defaults:
  batch_size: {min: 20, max: 25}
  exactly_once: {settle_seconds: %(settle)s}
objects:
  Ticket:
    source: external
    database_id: "%(database_id)s"
    id_property: Ticket Id
    id_field: ticket_id
    modified_field: updated_at
    properties:
      Subject: {field: subject, type: title}
      Priority: {field: priority, type: select, transform: "tests.integration.test_upsert_external:label"}
"""
SCHEMA = {"Subject": {"type": "title"}, "Priority": {"type": "select"}, "Ticket Id": {"type": "rich_text"}}


def label(record: Any) -> str:
    if record["priority"] == "boom":
        raise ValueError("priority 'boom' is not a level")
    return f"P{record['priority']}"


def ticket(i: int, priority: str = "2", stamp: str = "2026-11-01T00:00:00Z") -> dict[str, Any]:
    return {"ticket_id": f"T-{i:04d}", "subject": f"Ticket {i}", "priority": priority, "updated_at": stamp}


@dataclass
class Target:
    tmp: Path
    url: str
    data_source_id: str
    store: StateStore
    limiter_key: str

    def context(self, run_id: str, **client: Any) -> SyncContext:
        budget = NotionBudget(requests=100_000, window_s=1.0, pool_slots=1)

        def notion() -> ThrottledNotionClient:
            limiter = NotionRateLimiter(MemoryBackend(), self.limiter_key, requests=budget.requests,
                                        window_s=budget.window_s, burst=budget.requests)
            return ThrottledNotionClient(TOKEN, base_url=self.url, limiter=limiter, backoff_initial_s=0.01,
                                         backoff_max_s=0.05, **client)

        return SyncContext(load_config(self.tmp / "sync.yaml"), "Ticket", self.store, notion, _no_salesforce,
                           run_id, dag_id="upsert-e2e", budget=budget)

    def upsert(self, run_id: str, records: list[dict[str, Any]], **client: Any) -> dict[str, Any]:
        """As the operator does it: stage, then write until done (a deferral resumes at its cursor)."""
        ctx = self.context(run_id, **client)
        try:
            stage_external(ctx, iter(records))
            progress = upsert_staged(ctx)
            for _ in range(20):
                if progress["done"]:
                    return progress["summary"]
                progress = upsert_staged(ctx, resume=progress)
            raise AssertionError(f"still not done: {progress}")
        finally:
            ctx.close()

    def control(self, method: str, path: str, body: dict | None = None) -> Any:
        response = httpx.request(method, f"{self.url}{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def pages(self) -> list[dict[str, Any]]:
        return self.control("GET", f"/_sandbox/data_sources/{self.data_source_id}/pages?include_trashed=0")["pages"]

    def writes_since(self, since: float) -> Counter[str]:
        return Counter("create" if r["method"] == "POST" else "update"
                       for r in self.control("GET", f"/_sandbox/requests?since={since}")
                       if r["path"].rstrip("/").startswith("/v1/pages") and r["method"] in ("POST", "PATCH"))


def _no_salesforce() -> Any:
    raise AssertionError("an external source must not talk to Salesforce")


def _text(page: dict[str, Any], name: str) -> str:
    prop = page["properties"][name]
    return "".join(i["plain_text"] for i in prop[prop["type"]])


@pytest.fixture
def emu(notion_emulator):
    return notion_emulator(tokens=[TOKEN], rate=0, seed=20261201)


@pytest.fixture
def target(emu, server, tmp_path: Path) -> Iterator[Target]:
    ids = emu.create_database("Tickets", SCHEMA)
    (tmp_path / "sync.yaml").write_text(CONFIG % {"settle": SETTLE_S, "database_id": ids["database_id"]})
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    upgrade(engine)
    yield Target(tmp_path, server.base_url, ids["data_source_id"], StateStore(engine),
                 f"{token_fingerprint(TOKEN)}:{uuid.uuid4().hex}")
    engine.dispose()


def test_create_skip_update_and_a_failing_transform(target: Target) -> None:
    tickets = [ticket(i) for i in range(TICKETS)]
    started = time.time()
    first = target.upsert("run-1", tickets)
    assert (first["created"], first["failed"], first["status"]) == (TICKETS, 0, "success")
    assert first["batches"] == 3 and first["watermark"] is None
    assert first["notion_requests"] == TICKETS + 1  # a create each, and the database's data source once
    pages = {_text(p, "Ticket Id"): p for p in target.pages()}
    assert len(pages) == TICKETS and pages["T-0007"]["properties"]["Priority"]["select"]["name"] == "P2"
    assert target.writes_since(started) == Counter(create=TICKETS)

    again_at = time.time()
    again = target.upsert("run-2", tickets)
    assert (again["skipped"], again["notion_requests"]) == (TICKETS, 0)  # unchanged costs no request
    assert target.writes_since(again_at) == Counter()

    changed = [*tickets]
    changed[3] = ticket(3, priority="1", stamp="2026-11-02T00:00:00Z")
    changed[4] = ticket(4, priority="boom", stamp="2026-11-02T00:00:00Z")
    third_at = time.time()
    third = target.upsert("run-3", changed)
    assert (third["updated"], third["failed"], third["skipped"], third["status"]) == (1, 1, TICKETS - 2, "partial")
    assert target.writes_since(third_at) == Counter(update=1) and third["notion_requests"] == 1
    [failure] = target.store.open_failures("Ticket").values()
    assert failure.sf_id == "T-0004" and failure.error_code == TRANSFORM_FAILED
    assert "transform tests.integration.test_upsert_external:label raised ValueError: priority 'boom'" \
        in failure.error_message
    pages = {_text(p, "Ticket Id"): p for p in target.pages()}
    assert pages["T-0003"]["properties"]["Priority"]["select"]["name"] == "P1"
    assert pages["T-0004"]["properties"]["Priority"]["select"]["name"] == "P2"  # the last good value stays

    fixed = [*changed]
    fixed[4] = ticket(4, priority="3", stamp="2026-11-03T00:00:00Z")
    fourth = target.upsert("run-4", fixed)
    assert (fourth["updated"], fourth["failed"]) == (1, 0)
    assert target.store.open_failures("Ticket") == {}


def test_lost_create_answers_make_no_second_page(target: Target) -> None:
    """Five creates are saved but their answers lost while queries lag: each is settled by a lookup old
    enough to trust and adopted, never sent again; a rerun writes nothing."""
    target.control("PATCH", "/_sandbox/config", {"query_lag_s": QUERY_LAG_S})
    target.control("POST", "/_sandbox/script", {"responses": [
        {"fault": "lost_create", "method": "POST", "path_prefix": "/v1/pages", "count": 5}]})
    tickets = [ticket(i) for i in range(TICKETS)]
    started = time.time()
    summary = target.upsert("lossy", tickets, read_timeout_s=1.0)
    assert (summary["created"], summary["adopted"], summary["unresolved"], summary["status"]) == (
        TICKETS, 5, 0, "success")
    by_id = Counter(_text(p, "Ticket Id") for p in target.pages())
    assert set(by_id) == {t["ticket_id"] for t in tickets} and max(by_id.values()) == 1
    assert target.writes_since(started)["create"] == TICKETS, "a saved create was sent again"
    assert target.upsert("lossy-2", tickets)["skipped"] == TICKETS
