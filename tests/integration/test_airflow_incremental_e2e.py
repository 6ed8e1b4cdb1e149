"""Incremental sync, chaining, deletes/undeletes, the fast lane and deferral under a real Airflow.

The Airflow is the session's shared one (conftest), fresh for this module and without schedules, so
every run is one a test started. Each test starts from synced Accounts (`synced`); the sandbox mutates,
deletes and undeletes Accounts between incremental runs; a run whose share (`max_records`) is smaller
than the backlog must chain the next run at once; the fast lane is driven through the `sync-records`
CLI; a scripted 429 with Retry-After 20 (a window reset) must put the run's sync_batch in `deferred`,
then let it end.
"""

from __future__ import annotations

import ssl
import time
from typing import Any

import httpx
import pytest
from simple_salesforce import Salesforce

from sf_notion_sync.cli import main as cli_main
from sf_notion_sync.config import load_config
from sf_notion_sync.notion.errors import PropertyValueError
from sf_notion_sync.notion.properties import build_property
from sf_notion_sync.state.db import make_engine
from sf_notion_sync.state.store import StateStore
from tests.integration._airflow_stack import AirflowStack, wait_for_deferred_batch

pytestmark = pytest.mark.airflow_e2e

FULL, INCREMENTAL, FAST = "sf_notion_full_sync__account", "sf_notion_incremental__account", "sf_notion_fast_lane"


def _control(base: str, method: str, path: str, body: dict | None = None,
             verify: ssl.SSLContext | bool = True) -> Any:
    response = httpx.request(method, f"{base}{path}", json=body, timeout=30, verify=verify)
    response.raise_for_status()
    return response.json()


def _mutate(sandbox, **counts: int) -> dict[str, list[str]]:
    return _control(sandbox.salesforce_url, "POST", "/_sandbox/mutate", {"object": "Account", **counts},
                    verify=ssl.create_default_context(cafile=sandbox.ca_bundle))


def _run(airflow, dag_id: str, conf: dict | None = None, timeout: float = 300) -> str:
    run_id = airflow.trigger(dag_id, conf)
    assert airflow.wait_for_run(dag_id, run_id, timeout=timeout) == "success"
    return run_id


def _run_ids(airflow, dag_id: str) -> set[str]:
    return {r["dag_run_id"] for r in airflow.api("GET", f"/dags/{dag_id}/dagRuns?limit=100")["dag_runs"]}


@pytest.fixture(scope="module")
def synced(airflow) -> None:
    """Every Account has its page and the watermarks are set: a full sync, then the first incremental
    run (a full read + reconcile). Once per module: each test ends with every record synced again."""
    _run(airflow, FULL)
    _run(airflow, INCREMENTAL)


def _next_minute() -> None:
    """getDeleted covers whole minutes only (Salesforce ignores the seconds of start and end), and the
    Airflow workers read the real clock: let the minute of the last delete be over (bounded, < 61 s)."""
    minute = int(time.time()) // 60
    for _ in range(1300):
        if int(time.time()) // 60 > minute:
            return
        time.sleep(0.05)
    raise AssertionError("the clock did not move to the next minute")


def _comparable(prop_type: str, prop: dict[str, Any]) -> Any:
    value = prop.get(prop_type)
    if prop_type in ("title", "rich_text"):
        return "".join(i.get("plain_text") or i["text"]["content"] for i in value)
    if prop_type == "select":
        return (value or {}).get("name")
    if prop_type == "multi_select":
        return sorted(o["name"] for o in value)
    return value


def _pages(sandbox) -> dict[str, dict[str, Any]]:
    data_source = sandbox.databases["Account"]["data_source_id"]
    pages = _control(sandbox.notion_url, "GET", f"/_sandbox/data_sources/{data_source}/pages?include_trashed=1")
    by_id: dict[str, dict[str, Any]] = {}
    for page in pages["pages"]:
        sf_id = _comparable("rich_text", page["properties"]["Salesforce Id"])
        assert sf_id not in by_id, f"two pages for {sf_id}"
        by_id[sf_id] = page
    return by_id


def assert_notion_mirrors_salesforce(sandbox, state_url: str, trashed: set[str], monkeypatch) -> None:
    """Every mapped field of every live record equals Salesforce (as the property builders render it);
    records that cannot be written are in sync_log instead; `trashed` pages are in the trash."""
    obj = load_config().objects["Account"]
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sandbox.ca_bundle)
    sf = Salesforce(instance_url=sandbox.salesforce_url, session_id=sandbox.session_id, version="59.0")
    fields = ", ".join(["Id", *(p.field for p in obj.properties)])
    records = {r["Id"]: r for r in sf.query_all_iter(f"SELECT {fields} FROM Account")}
    pages = _pages(sandbox)
    failed = set(StateStore(make_engine(state_url)).open_failures("Account"))
    assert set(records) - failed <= {i for i, p in pages.items() if not p["in_trash"]}
    assert trashed and all(pages[i]["in_trash"] for i in trashed)
    assert not set(records) & trashed
    compared = 0
    for sf_id, record in records.items():
        if sf_id in failed:
            continue
        for prop in obj.properties:
            try:
                expected = build_property(prop.type, record[prop.field], property_name=prop.name)
            except PropertyValueError:
                continue  # such a record is in sync_log (checked above)
            got = pages[sf_id]["properties"][prop.name]
            assert _comparable(prop.type, got) == _comparable(prop.type, expected), (sf_id, prop.name)
            compared += 1
    assert compared >= (len(records) - len(failed)) * len(obj.properties) * 0.9


def test_incremental_chains_and_keeps_notion_equal_to_salesforce(airflow, airflow_sandbox, synced,
                                                                 airflow_stack: AirflowStack, monkeypatch):
    before = _run_ids(airflow, INCREMENTAL)
    changed = _mutate(airflow_sandbox, update=12, delete=4)
    _next_minute()
    first = _run(airflow, INCREMENTAL, {"max_records": 5})
    tis = {ti["task_id"]: ti["state"] for ti in airflow.task_instances(INCREMENTAL, first)}
    assert tis["trigger_next"] == "success", tis  # 12 changes > a share of 5: the next run starts at once
    runs = airflow.api("GET", f"/dags/{INCREMENTAL}/dagRuns?limit=50")["dag_runs"]
    chained = [r["dag_run_id"] for r in runs if (r.get("conf") or {}).get("chained_from") == first]
    assert len(chained) == 1
    assert airflow.wait_for_run(INCREMENTAL, chained[0], timeout=300) == "success"

    back = _mutate(airflow_sandbox, undelete=2)
    assert set(back["undeleted"]) <= set(changed["deleted"])
    last = _run(airflow, INCREMENTAL)
    assert _run_ids(airflow, INCREMENTAL) - before == {first, chained[0], last}, "a run nobody started"
    trashed = set(changed["deleted"]) - set(back["undeleted"])
    assert_notion_mirrors_salesforce(airflow_sandbox, airflow_stack.state_url, trashed, monkeypatch)
    pages = _pages(airflow_sandbox)
    assert all(not pages[i]["in_trash"] for i in back["undeleted"]), "undeleted records come back"


def test_fast_lane_from_the_cli(airflow, airflow_sandbox, synced, capsys):
    sf_id = _mutate(airflow_sandbox, update=1)["updated"][0]
    airflow.api("PATCH", f"/dags/{FAST}", json={"is_paused": False})
    before = {r["dag_run_id"] for r in airflow.api("GET", f"/dags/{FAST}/dagRuns")["dag_runs"]}  # other modules'
    code = cli_main(["sync-records", "--object", "Account", "--ids", sf_id, "--base-url", airflow.api_url,
                     "--wait", "--timeout", "300"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert '"updated": 1' in out
    runs = [r for r in airflow.api("GET", f"/dags/{FAST}/dagRuns")["dag_runs"] if r["dag_run_id"] not in before]
    assert [r["state"] for r in runs] == ["success"]
    batch = [ti for ti in airflow.task_instances(FAST, runs[0]["dag_run_id"]) if ti["task_id"] == "sync_batch"]
    assert batch and all(ti["priority_weight"] >= 100 for ti in batch)


def test_a_window_reset_retry_after_defers_the_batch(airflow, airflow_sandbox, synced):
    """A connection-limit 429 says to wait until the window resets (up to 60 s at the real budget; 20 s
    here, above the defer threshold of 10 s, so the batch waits in the triggerer) ...and then completes: no run and no budget pause are left to hold the next test's runs (a plain
    task such as preflight fails on a paused budget, and the stack spends its retries in seconds)."""
    _mutate(airflow_sandbox, update=3)  # synced: the run sends these as PATCHes
    _control(airflow_sandbox.notion_url, "POST", "/_sandbox/script", {"responses": [
        {"status": 429, "retry_after": 20, "method": "PATCH", "path_prefix": "/v1/pages", "count": 1}]})
    run_id = airflow.trigger(INCREMENTAL)
    wait_for_deferred_batch(airflow, INCREMENTAL, run_id)
    assert airflow.wait_for_run(INCREMENTAL, run_id, timeout=300) == "success"
