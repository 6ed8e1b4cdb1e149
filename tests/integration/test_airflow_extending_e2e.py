"""The extension points under a real Airflow: the example DAG (dags/examples/, on in the stack) is
scheduled on the Account database's asset, so a sync of Accounts makes the scheduler run it; it reads a
helpdesk CSV in a Python task and NotionUpsertOperator writes the tickets (a transform computes their
Priority, a relation points at the synced Account pages) and emits the tickets database's own event.

The Airflow is the session's shared one, fresh for this module: the fast lane syncs the four Accounts
the tickets refer to, which is the quickest sync DAG run that emits the Account database's event.
"""

from __future__ import annotations

import csv
from typing import Any

import httpx
import pytest

from sf_notion_sync.airflow.assets import object_asset
from sf_notion_sync.config import REPO_ROOT, load_config
from sf_notion_sync.examples.transforms import PRIORITY_LABELS
from sf_notion_sync.local.runtime import LocalAirflow
from sf_notion_sync.state.store import StateStore
from tests.integration._airflow_stack import poll

pytestmark = pytest.mark.airflow_e2e

EXAMPLE = "sf_notion_example__helpdesk_tickets"
FAST = "sf_notion_fast_lane"
TICKETS_CSV = REPO_ROOT / "include" / "examples" / "helpdesk_tickets.csv"


def _tickets() -> list[dict[str, str]]:
    with TICKETS_CSV.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _pages(sandbox, object_name: str) -> list[dict[str, Any]]:
    data_source = sandbox.databases[object_name]["data_source_id"]
    response = httpx.get(f"{sandbox.notion_url}/_sandbox/data_sources/{data_source}/pages", timeout=30)
    response.raise_for_status()
    return response.json()["pages"]


def _text(page: dict[str, Any], name: str) -> str:
    prop = page["properties"][name]
    return "".join(i["plain_text"] for i in prop[prop["type"]])


def _asset_triggered(airflow: LocalAirflow) -> list[dict[str, Any]]:
    runs = airflow.api("GET", f"/dags/{EXAMPLE}/dagRuns?limit=100")["dag_runs"]
    return [r for r in runs if r["run_type"] == "asset_triggered"]


def test_the_example_runs_green_after_an_account_sync_and_writes_the_tickets(airflow, airflow_sandbox,
                                                                            airflow_stack) -> None:
    StateStore.from_url(airflow_stack.state_url).engine.dispose()  # the module's state database, migrated
    tickets = _tickets()
    accounts = sorted({t["account_id"] for t in tickets if t["account_id"]})
    airflow.wait_for_dag(EXAMPLE)
    # earlier modules' syncs queued Account events for the paused example: unpaused, it would run on them
    if airflow.api("GET", f"/dags/{EXAMPLE}/assets/queuedEvents")["total_entries"]:
        airflow.api("DELETE", f"/dags/{EXAMPLE}/assets/queuedEvents")
    airflow.api("PATCH", f"/dags/{EXAMPLE}", json={"is_paused": False})
    assert _asset_triggered(airflow) == []

    fast = airflow.trigger(FAST, {"object": "Account", "record_ids": accounts})
    assert airflow.wait_for_run(FAST, fast, timeout=120) == "success"
    [run] = poll(lambda: _asset_triggered(airflow), "the example's run on the Account database's event", 60)
    assert airflow.wait_for_run(EXAMPLE, run["dag_run_id"], timeout=120) == "success"

    # the run carries every Account event since the example last ran (earlier modules' syncs too)
    events = airflow.api("GET", f"/dags/{EXAMPLE}/dagRuns/{run['dag_run_id']}/upstreamAssetEvents")["asset_events"]
    [event] = [e for e in events if e["source_dag_id"] == FAST and e["source_run_id"] == fast]
    config = load_config()
    assert event["uri"] == object_asset(config.objects["Account"]).uri
    assert {k: event["extra"][k] for k in ("object", "run_id", "status", "created", "failed")} == {
        "object": "Account", "run_id": fast, "status": "success", "created": len(accounts), "failed": 0}

    account_pages = {_text(p, "Salesforce Id"): p["id"] for p in _pages(airflow_sandbox, "Account")}
    pages = {_text(p, "Ticket Id"): p for p in _pages(airflow_sandbox, "SupportTicket")}
    assert sorted(pages) == sorted(t["ticket_id"] for t in tickets), "one page per ticket"
    for t in tickets:
        props = pages[t["ticket_id"]]["properties"]
        assert _text(pages[t["ticket_id"]], "Subject") == t["subject"]
        assert props["Priority"]["select"]["name"] == PRIORITY_LABELS[t["priority"]]  # the transform's
        assert props["Opened"]["date"]["start"] == t["opened_at"]
        related = [r["id"] for r in props["Account"]["relation"]]
        assert related == ([account_pages[t["account_id"]]] if t["account_id"] else [])

    upsert = airflow.api("GET", "/assets/events", params={"source_dag_id": EXAMPLE, "source_run_id": run["dag_run_id"]})
    [own] = upsert["asset_events"]
    assert own["uri"] == object_asset(config.objects["SupportTicket"]).uri
    assert (own["extra"]["created"], own["extra"]["failed"], own["extra"]["status"]) == (len(tickets), 0, "success")
