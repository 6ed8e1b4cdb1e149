"""The duplicate sweep against the Notion emulator: duplicates made through the real API, the sweep's
own request count from the emulator's log, and `sf-notion-sync notion dedupe` end to end."""

from __future__ import annotations

import json
import math
import time
from collections import Counter, defaultdict
from typing import Any

import pytest
import sqlalchemy as sa

from sf_notion_sync.cli import main
from sf_notion_sync.notion.client import ThrottledNotionClient
from sf_notion_sync.sandbox.run import start
from sf_notion_sync.state.db import upgrade
from sf_notion_sync.state.rows import RecordMapEntry
from sf_notion_sync.state.store import StateStore, utcnow
from sf_notion_sync.sync.dedupe import UNKNOWN_CONTENT, sweep_duplicates
from tests.integration import test_sync_engine_e2e as engine_e2e
from tests.integration.test_sync_engine_e2e import ACCOUNTS, TOKEN, Sandbox, make_store, run_sync

sandbox = engine_e2e.sandbox  # the engine e2e's fixture: both emulators, its sync.yaml, a fresh state database

ID_PROPERTY = "Salesforce Id"
NEWEST_VERSION = "2026-12-01"  # results carry only the title unless filter_properties names more


def _props(sf_id: str, name: str) -> dict[str, Any]:
    return {"Name": {"title": [{"type": "text", "text": {"content": name}}]},
            ID_PROPERTY: {"rich_text": [{"type": "text", "text": {"content": sf_id}}]}}


def _create(base_url: str, token: str, data_source_id: str, pages: list[tuple[str, str]]) -> list[str]:
    """Pages made through the API with the real client, as a repeated create makes them."""
    with ThrottledNotionClient(token, base_url=base_url) as client:
        return [client.create_page(data_source_id, _props(sf_id, name), sf_id=sf_id).data["id"]
                for sf_id, name in pages]


def _text(page: dict[str, Any], name: str = ID_PROPERTY) -> str:
    prop = page["properties"][name]
    return "".join(i["plain_text"] for i in prop[prop["type"]])


def _live(box: Sandbox) -> dict[str, list[str]]:
    by_id: dict[str, list[str]] = defaultdict(list)
    for page in box.pages():
        by_id[_text(page)].append(page["id"])
    return by_id


def _requests(box: Sandbox, since: float) -> Counter[str]:
    kinds: Counter[str] = Counter()
    for r in box.control(box.notion_url, "GET", f"/_sandbox/requests?since={since}"):
        kinds["query" if r["path"].endswith("/query") else f"{r['method']} {r['path'].split('/')[2]}"] += 1
    return kinds


def _dedupe_rows(store: StateStore) -> list[Any]:
    with store.engine.connect() as conn:
        return conn.execute(sa.text("SELECT * FROM sync_log WHERE operation = 'dedupe'")).all()


def test_sweep_trashes_20_duplicates_keeps_the_mapped_pages_within_its_request_bound(sandbox: Sandbox) -> None:
    store = make_store(sandbox.state_url)
    run_sync(sandbox, store, "full-1")
    victims = sorted(store.iter_record_ids("Account"))[::12][:20]
    mapped = {e.sf_id: e.notion_page_id for e in store.get_record_map("Account", victims).values()}
    extra = _create(sandbox.notion_url, TOKEN, sandbox.data_source_id, [(i, "duplicate") for i in victims])
    assert len(sandbox.pages()) == ACCOUNTS + 20

    started = time.time()
    result = sweep_duplicates(sandbox.context("full-1", store, client={"notion_version": NEWEST_VERSION}))

    assert {k: result[k] for k in ("pages", "ids_with_duplicates", "duplicate_pages", "duplicates_trashed",
                                   "failed", "map_fixed", "dry_run")} == {
        "pages": ACCOUNTS + 20, "ids_with_duplicates": 20, "duplicate_pages": 20, "duplicates_trashed": 20,
        "failed": 0, "map_fixed": 0, "dry_run": False}
    assert sorted(e["trashed"][0] for e in result["duplicates"]) == sorted(extra)
    live = _live(sandbox)
    assert len(live) == ACCOUNTS and max(map(len, live.values())) == 1
    assert {i: live[i] for i in victims} == {i: [mapped[i]] for i in victims}

    requests = _requests(sandbox, started)
    bound = math.ceil((ACCOUNTS + 20) / 100)
    assert requests["query"] <= bound and requests["PATCH pages"] == 20
    # + 2, once per sweep: the database (its data source id) and the data source (the property ids)
    assert sum(requests.values()) <= bound + 20 + 2, requests
    assert result["notion_requests"] == sum(requests.values())
    assert store.get_run("full-1").duplicates_trashed == 20
    rows = _dedupe_rows(store)
    assert len(rows) == 20 and {r.status for r in rows} == {"Success"} and {r.sf_id for r in rows} == set(victims)

    again = sweep_duplicates(sandbox.context("sweep-2", store))
    assert (again["ids_with_duplicates"], again["duplicates_trashed"]) == (0, 0)
    assert run_sync(sandbox, store, "full-2")["skipped"] == ACCOUNTS  # the map is as it was: nothing to rewrite


def test_dry_run_lists_and_reports_without_trashing(sandbox: Sandbox) -> None:
    store = make_store(sandbox.state_url)
    run_sync(sandbox, store, "full-1")
    victims = sorted(store.iter_record_ids("Account"))[:5]
    extra = _create(sandbox.notion_url, TOKEN, sandbox.data_source_id, [(i, "duplicate") for i in victims])

    started = time.time()
    result = sweep_duplicates(sandbox.context("full-1", store), dry_run=True)

    assert (result["ids_with_duplicates"], result["duplicate_pages"], result["duplicates_trashed"]) == (5, 5, 0)
    assert result["dry_run"] and sorted(e["trashed"][0] for e in result["duplicates"]) == sorted(extra)
    assert "PATCH pages" not in _requests(sandbox, started)
    assert len(sandbox.pages()) == ACCOUNTS + 5 and _dedupe_rows(store) == []
    assert store.get_run("full-1").duplicates_trashed == 0


def test_unmapped_ids_keep_their_oldest_page_and_the_map_follows(sandbox: Sandbox) -> None:
    store = make_store(sandbox.state_url)
    now = time.time()
    seed = sandbox.notion.seed_pages
    unmapped, stale, pending = "001000000000001AAA", "001000000000002AAA", "001000000000003AAA"
    seed(sandbox.data_source_id, [_props(unmapped, "newer")], created_at=now - 3600)
    seed(sandbox.data_source_id, [_props(unmapped, "oldest")], created_at=now - 7200)
    seed(sandbox.data_source_id, [_props(unmapped, "newest"), _props(pending, "a"), _props(pending, "b"),
                                  _props("not an id", "x"), _props("not an id", "y")])
    gone, *stale_pages = _create(sandbox.notion_url, TOKEN, sandbox.data_source_id,
                                 [(stale, "trashed"), (stale, "first"), (stale, "second")])
    with ThrottledNotionClient(TOKEN, base_url=sandbox.notion_url) as client:
        client.trash_page(gone)
    store.upsert_record_map([RecordMapEntry("Account", stale, gone, "h", None, utcnow(), "v0")])
    store.write_intents("Account", [pending], "in-flight")  # a create still being resolved: not the sweep's
    by_name = {_text(p, "Name"): p["id"] for p in sandbox.pages()}

    result = sweep_duplicates(sandbox.context("sweep", store))

    assert (result["ids_with_duplicates"], result["pending_creates"], result["without_sf_id"]) == (3, 1, 2)
    assert (result["duplicates_trashed"], result["map_fixed"]) == (3, 2)
    live = _live(sandbox)
    assert live[unmapped] == [by_name["oldest"]] and len(live[stale]) == 1 and len(live[pending]) == 2
    assert len(live["not an id"]) == 2
    entries = store.get_record_map("Account", [unmapped, stale])
    assert entries[unmapped].notion_page_id == by_name["oldest"] and entries[stale].notion_page_id in stale_pages
    assert {e.content_hash for e in entries.values()} == {UNKNOWN_CONTENT}  # the next sync rewrites them once


def test_a_mapped_page_the_query_index_does_not_show_yet_is_kept(sandbox: Sandbox) -> None:
    store = make_store(sandbox.state_url)
    sf_id = "001000000000004AAA"
    sandbox.notion.seed_pages(sandbox.data_source_id, [_props(sf_id, "a"), _props(sf_id, "b")])
    listed = [p["id"] for p in sandbox.pages()]
    sandbox.notion_config({"query_lag_s": 60})  # API creates from now on stay out of queries for 60 s
    (fresh,) = _create(sandbox.notion_url, TOKEN, sandbox.data_source_id, [(sf_id, "mapped")])
    store.upsert_record_map([RecordMapEntry("Account", sf_id, fresh, "h", None, utcnow(), "v0")])

    result = sweep_duplicates(sandbox.context("sweep", store))

    assert (result["duplicates_trashed"], result["map_fixed"]) == (2, 0)
    assert sorted(result["duplicates"][0]["trashed"]) == sorted(listed)
    assert _live(sandbox)[sf_id] == [fresh]


@pytest.fixture
def sandbox_env(tmp_path, monkeypatch):
    with start(tmp_path / "sandbox", accounts=5, contacts=0, opportunities=0, notion_rate=0,
               notion_latency_ms=0) as box:
        for key, value in box.env().items():
            monkeypatch.setenv(key, value)
        url = f"sqlite:///{tmp_path / 'state.db'}"
        monkeypatch.setenv("AIRFLOW_CONN_SYNC_STATE_DB", url)
        upgrade(url)
        yield box, url


def test_cli_dedupe_prints_the_result_and_dry_run_keeps_everything(sandbox_env, capsys) -> None:
    box, url = sandbox_env
    data_source = box.databases["Account"]["data_source_id"]
    sf_id = "001000000000005AAA"
    first, second = _create(box.notion_url, box.notion_token, data_source, [(sf_id, "a"), (sf_id, "b")])

    assert main(["notion", "dedupe", "--object", "Account", "--dry-run"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["dry_run"] and dry["duplicate_pages"] == 1 and dry["duplicates_trashed"] == 0

    assert main(["notion", "dedupe", "--object", "Account"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["duplicates_trashed"] == 1 and done["duplicates"] == [dry["duplicates"][0]]
    assert done["duplicates"][0]["kept"] in (first, second) and box.notion_token not in json.dumps(done)
    store = StateStore.from_url(url, migrate=False)
    assert [r.run_id.startswith("cli-dedupe-") for r in _dedupe_rows(store)] == [True]
    store.engine.dispose()

    with pytest.raises(SystemExit, match="Nope"):
        main(["notion", "dedupe", "--object", "Nope"])
