"""Exactly once under a real Airflow while Notion loses answers and its queries lag behind writes.

The shared Airflow (fresh for this module) runs the full sync of every Account while the Notion
emulator drops the answer of 5% of page creates after saving them, answers another 5% with a 503
that says the write was committed, and keeps every new page out of data-source queries for 3 s. The
unknown outcomes are settled by lookups trusted only after the stack's `settle_seconds` (longer than
the lag and than the defer threshold, so the batches defer to the triggerer while they wait). Then
20 duplicates are made by hand through the emulator's control API and a sweep (the full sync's
`sweep_duplicates`, on by default) must trash exactly those.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest
from simple_salesforce import Salesforce

from tests.integration._airflow_stack import ACCOUNTS, SETTLE_S

pytestmark = pytest.mark.airflow_e2e

FULL = "sf_notion_full_sync__account"
QUERY_LAG_S = 3.0
LOST, COMMITTED = 0.05, 0.05
DUPLICATES = 20


def _notion(sandbox, method: str, path: str, body: dict | None = None) -> Any:
    response = httpx.request(method, f"{sandbox.notion_url}{path}", json=body, timeout=60)
    response.raise_for_status()
    return response.json()


def _live_pages(sandbox) -> list[dict[str, Any]]:
    data_source = sandbox.databases["Account"]["data_source_id"]
    return _notion(sandbox, "GET", f"/_sandbox/data_sources/{data_source}/pages")["pages"]


def _sf_id(page: dict[str, Any]) -> str:
    return "".join(t["plain_text"] for t in page["properties"]["Salesforce Id"]["rich_text"])


def _salesforce_ids(sandbox, monkeypatch) -> set[str]:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sandbox.ca_bundle)  # how clients trust the sandbox CA
    sf = Salesforce(instance_url=sandbox.salesforce_url, session_id=sandbox.session_id, version="59.0")
    return {r["Id"] for r in sf.query_all_iter("SELECT Id FROM Account")}


def _summary(airflow, run_id: str) -> dict[str, Any]:
    path = f"/dags/{FULL}/dagRuns/{run_id}/taskInstances/finish/xcomEntries/return_value"
    return airflow.api("GET", path)["value"]


@pytest.fixture(scope="module")
def lossy_run(airflow, airflow_sandbox) -> tuple[str, dict[str, Any]]:
    """The full sync under lost creates, committed 503s and lagging queries."""
    assert SETTLE_S > QUERY_LAG_S
    _notion(airflow_sandbox, "PATCH", "/_sandbox/config", {
        "query_lag_s": QUERY_LAG_S, "faults": {"lost_create": LOST, "committed_503": COMMITTED}})
    try:
        run_id = airflow.trigger(FULL)
        state = airflow.wait_for_run(FULL, run_id, timeout=900)
    finally:
        _notion(airflow_sandbox, "PATCH", "/_sandbox/config",
                {"query_lag_s": 0, "faults": {"lost_create": 0, "committed_503": 0}})
    assert state == "success"
    return run_id, _summary(airflow, run_id)


def test_lost_and_committed_creates_under_query_lag_give_one_page_per_record(airflow_sandbox, lossy_run,
                                                                            monkeypatch):
    _, summary = lossy_run
    print("lossy full sync:", {k: summary[k] for k in ("created", "adopted", "unresolved", "failed",
                                                       "notion_requests", "sync_seconds")})
    pages = Counter(_sf_id(p) for p in _live_pages(airflow_sandbox))
    assert set(pages) == _salesforce_ids(airflow_sandbox, monkeypatch), "a record is missing or a page has no record"
    assert max(pages.values()) == 1, f"duplicates: {[i for i, n in pages.items() if n > 1][:10]}"
    assert summary["total"] == ACCOUNTS and summary["created"] == sum(pages.values()) == ACCOUNTS
    assert summary["failed"] == 0 and summary["unresolved"] == 0
    assert summary["adopted"] > 0, "the faults should have lost some answers"
    assert summary["duplicates_trashed"] == 0


def test_sweep_trashes_injected_duplicates_and_keeps_the_mapped_pages(airflow, airflow_sandbox, lossy_run):
    originals = _live_pages(airflow_sandbox)[:DUPLICATES]
    data_source = airflow_sandbox.databases["Account"]["data_source_id"]
    copies = [{"Name": {"title": [{"text": {"content": f"copy of {_sf_id(p)}"}}]},
               "Salesforce Id": {"rich_text": [{"text": {"content": _sf_id(p)}}]}} for p in originals]
    assert _notion(airflow_sandbox, "POST", f"/_sandbox/data_sources/{data_source}/pages",
                   {"properties": copies}) == {"created": DUPLICATES}

    run_id = airflow.trigger(FULL)
    assert airflow.wait_for_run(FULL, run_id, timeout=600) == "success"
    summary = _summary(airflow, run_id)
    assert summary["duplicates_trashed"] == DUPLICATES
    live = _live_pages(airflow_sandbox)
    assert max(Counter(_sf_id(p) for p in live).values()) == 1 and len(live) == ACCOUNTS
    assert {p["id"] for p in originals} <= {p["id"] for p in live}, "the mapped page must be the one kept"
    assert summary["skipped"] == ACCOUNTS, "the sweep must not make the sync rewrite pages"
