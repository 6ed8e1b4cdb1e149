"""Two Notion connections writing one object under the real scheduler (issue 17).

The stack's sandbox has two integrations of one workspace: connections notion_default and notion_bulk_2.
The stack's sync.yaml gets `notion.connections` for Contact while a test runs (tasks read it when they
start). Shared with both, the run's page writes go through both tokens, each record exactly one page;
shared with one, preflight names the other (a warning, in the summary too) and the run writes through
the one that can; shared with neither, the run stops in preflight listing each.
"""

from __future__ import annotations

import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml

from sf_notion_sync.sandbox.notion_emulator.app import fingerprint
from sf_notion_sync.state.store import StateStore

pytestmark = pytest.mark.airflow_e2e

FULL = "sf_notion_full_sync__contact"
CONNECTIONS = ["notion_default", "notion_bulk_2"]


@contextmanager
def contact_connections(airflow, sandbox, shared_with: list[str] | None):
    """Contact writes through CONNECTIONS, its database shared with ``shared_with`` (fingerprints; None:
    every integration); both undone after."""
    path = Path(airflow.env()["SF_NOTION_SYNC_CONFIG"])
    shipped = path.read_text()
    data = yaml.safe_load(shipped)
    data["objects"]["Contact"]["notion"] = {"connections": CONNECTIONS}
    database = sandbox.databases["Contact"]["database_id"]
    sharing = {database: shared_with} if shared_with is not None else {}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    httpx.patch(f"{sandbox.notion_url}/_sandbox/config", json={"shared_with": sharing}, timeout=30).raise_for_status()
    try:
        yield
    finally:
        path.write_text(shipped)
        httpx.patch(f"{sandbox.notion_url}/_sandbox/config", json={"shared_with": {}}, timeout=30).raise_for_status()


def pages_by_sf_id(sandbox) -> Counter:
    source = sandbox.databases["Contact"]["data_source_id"]
    response = httpx.get(f"{sandbox.notion_url}/_sandbox/data_sources/{source}/pages", timeout=30)
    response.raise_for_status()
    return Counter("".join(t["plain_text"] for t in page["properties"]["Salesforce Id"]["rich_text"])
                   for page in response.json()["pages"])


def page_creates_by_token(sandbox, since: float) -> Counter:
    log = httpx.get(f"{sandbox.notion_url}/_sandbox/requests", params={"since": since}, timeout=60).json()
    return Counter(r["token"] for r in log if r["method"] == "POST" and r["path"] == "/v1/pages" and r["status"] == 200)


def xcom(airflow, run_id: str, task_id: str):
    return airflow.api("GET", f"/dags/{FULL}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value")["value"]


def task_log(airflow, run_id: str, task_id: str) -> str:
    found = airflow.api("GET", f"/dags/{FULL}/dagRuns/{run_id}/taskInstances/{task_id}/logs/1?full_content=true")
    return str(found.get("content"))


def summary(airflow_stack, run_id: str) -> dict:
    return StateStore.from_url(airflow_stack.state_url, migrate=False).get_run(run_id).summary


def now(sandbox) -> float:
    return time.time() - 1  # the request log's stamps are the emulator's wall clock, to the ms


def test_shared_with_both_the_run_writes_through_both(airflow, airflow_sandbox, airflow_stack):
    default, bulk = (fingerprint(t) for t in (airflow_sandbox.notion_token, *airflow_sandbox.extra_notion_tokens))
    with contact_connections(airflow, airflow_sandbox, None):
        since = now(airflow_sandbox)
        run_id = airflow.trigger(FULL)
        assert airflow.wait_for_run(FULL, run_id, timeout=400) == "success"
    got = summary(airflow_stack, run_id)
    pages = pages_by_sf_id(airflow_sandbox)
    assert set(pages.values()) == {1} and len(pages) == got["created"] > 0
    assert got["created"] + got["failed"] == got["total"]  # the sandbox's Contacts include bad data, refused
    creates = page_creates_by_token(airflow_sandbox, since)
    assert set(creates) == {default, bulk} and sum(creates.values()) == got["created"], creates
    assert xcom(airflow, run_id, "preflight")["notion_connections"] == CONNECTIONS
    assert got["notion_connections"] == CONNECTIONS and got["budget"]["connections"] == 2
    assert "notion_connection_problems" not in got


def test_a_connection_the_database_is_not_shared_with_is_named_and_left_out(airflow, airflow_sandbox, airflow_stack,
                                                                             tmp_path):
    airflow_stack.fresh(tmp_path)  # no page of the test before
    default = fingerprint(airflow_sandbox.notion_token)
    with contact_connections(airflow, airflow_sandbox, [default]):
        since = now(airflow_sandbox)
        run_id = airflow.trigger(FULL)
        assert airflow.wait_for_run(FULL, run_id, timeout=400) == "success"
    got = summary(airflow_stack, run_id)
    assert page_creates_by_token(airflow_sandbox, since) == Counter({default: got["created"]})
    pages = pages_by_sf_id(airflow_sandbox)
    assert set(pages.values()) == {1} and len(pages) == got["created"] > 0
    checked = xcom(airflow, run_id, "preflight")
    assert checked["notion_connections"] == ["notion_default"]
    (problem,) = checked["connection_problems"]
    assert "'notion_bulk_2'" in problem and "cannot see database" in problem
    assert got["notion_connection_problems"] == [problem]
    assert "notion_bulk_2" in task_log(airflow, run_id, "preflight")
    assert airflow_sandbox.notion_token not in task_log(airflow, run_id, "preflight")


def test_no_connection_can_see_the_database_the_run_stops_in_preflight_naming_each(airflow, airflow_sandbox):
    with contact_connections(airflow, airflow_sandbox, ["000000000000"]):
        run_id = airflow.trigger(FULL)
        assert airflow.wait_for_run(FULL, run_id, timeout=400) == "failed"
    states = {ti["task_id"]: ti["state"] for ti in airflow.task_instances(FULL, run_id)}
    assert states["preflight"] == "failed" and states.get("extract") in ("upstream_failed", None)
    text = task_log(airflow, run_id, "preflight")
    assert "'notion_default'" in text and "'notion_bulk_2'" in text and "cannot see database" in text
