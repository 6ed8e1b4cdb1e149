"""The DAGs under a real Airflow: API server, scheduler, DAG processor and triggerer on SQLite,
LocalExecutor, against the sandbox emulators.

The Airflow is the session's shared one (conftest), fresh for this module and without schedules. The
full sync of Account runs through the scheduler; the Notion emulator answers the first page create with
429 Retry-After: 30, so the batch must show up as `deferred` (held by the triggerer, not a worker) and
then complete.
"""

from __future__ import annotations

import time

import httpx
import pytest

from tests.integration._airflow_stack import ACCOUNTS, AirflowStack, wait_for_deferred_batch

pytestmark = pytest.mark.airflow_e2e

DAG_ID = "sf_notion_full_sync__account"


def _notion(sandbox, method: str, path: str, **kwargs):
    response = httpx.request(method, f"{sandbox.notion_url}{path}", timeout=30, **kwargs)
    response.raise_for_status()
    return response.json()


def _page_ids_by_sf_id(sandbox) -> dict[str, list[str]]:
    data_source = sandbox.databases["Account"]["data_source_id"]
    pages = _notion(sandbox, "GET", f"/_sandbox/data_sources/{data_source}/pages")["pages"]
    by_id: dict[str, list[str]] = {}
    for page in pages:
        texts = page["properties"]["Salesforce Id"]["rich_text"]
        by_id.setdefault("".join(t["plain_text"] for t in texts), []).append(page["id"])
    return by_id


def test_dags_parse_without_import_errors(airflow):
    assert airflow.import_errors() == []
    dags = {d["dag_id"]: d for d in airflow.api("GET", "/dags?limit=100")["dags"]}
    assert {DAG_ID, "sf_notion_incremental__account", "sf_notion_retry"} <= set(dags)
    scheduled = {i: d["next_dagrun_run_after"] for i, d in dags.items() if d["next_dagrun_run_after"]}
    assert not scheduled, "the stack's sync.yaml must leave every run to the tests"


def test_full_sync_defers_on_retry_after_then_completes(airflow, airflow_sandbox, airflow_stack: AirflowStack,
                                                       tmp_path):
    airflow_stack.fresh(tmp_path)  # the first full sync: no page yet, whatever ran before
    _notion(airflow_sandbox, "POST", "/_sandbox/script", json={"responses": [
        {"status": 429, "retry_after": 15, "method": "POST", "path_prefix": "/v1/pages", "count": 1}]})
    run_id = airflow.trigger(DAG_ID)  # 15 s: above the defer threshold (10 s), the batch waits in the triggerer

    wait_for_deferred_batch(airflow, DAG_ID, run_id)
    assert airflow.wait_for_run(DAG_ID, run_id, timeout=400) == "success"
    batches = [ti for ti in airflow.task_instances(DAG_ID, run_id) if ti["task_id"] == "sync_batch"]
    assert batches and all(ti["state"] == "success" for ti in batches)
    assert all("#" in (ti.get("rendered_map_index") or "") for ti in batches), "batches are not named"

    summary = airflow.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/finish/xcomEntries/return_value")["value"]
    assert summary["total"] == ACCOUNTS
    assert summary["created"] + summary["failed"] == ACCOUNTS
    pages = _page_ids_by_sf_id(airflow_sandbox)
    assert all(len(ids) == 1 for ids in pages.values()), "a Salesforce record has more than one page"
    assert len(pages) == summary["created"]


def test_bulk_extraction_across_a_session_expiry(airflow, airflow_sandbox, airflow_stack: AirflowStack, tmp_path):
    """The org's sessions time out (2 s) sooner than its Bulk job runs (3 s): the extract task logs in
    again (the sandbox connection holds OAuth client credentials besides its session id) and goes on
    polling the same job, so the sync ends with every record once."""
    airflow_stack.fresh(tmp_path)
    before = airflow_stack.salesforce_config({})
    airflow_stack.salesforce_config({"session_timeout_s": 2, "min_job_seconds": 3})
    try:
        run_id = airflow.trigger(DAG_ID)
        assert airflow.wait_for_run(DAG_ID, run_id, timeout=400) == "success"
    finally:
        airflow_stack.salesforce_config({k: before[k] for k in ("session_timeout_s", "min_job_seconds")})
    extracted = airflow.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/extract/xcomEntries/return_value")
    assert [e["mode"] for e in extracted["value"]["extract"]] == ["bulk"], extracted["value"]
    summary = airflow.api("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/finish/xcomEntries/return_value")["value"]
    assert (summary["total"], summary["created"], summary["failed"]) == (ACCOUNTS, ACCOUNTS, 0)
    pages = _page_ids_by_sf_id(airflow_sandbox)
    assert len(pages) == ACCOUNTS and all(len(ids) == 1 for ids in pages.values())


def test_second_full_sync_sends_no_notion_write(airflow, airflow_sandbox):
    assert airflow.wait_for_run(DAG_ID, airflow.trigger(DAG_ID), timeout=400) == "success"  # whatever ran before
    since = time.time()
    run_id = airflow.trigger(DAG_ID)
    assert airflow.wait_for_run(DAG_ID, run_id, timeout=400) == "success"
    log = _notion(airflow_sandbox, "GET", f"/_sandbox/requests?since={since}")
    writes = [r for r in log if r["method"] in ("POST", "PATCH") and r["path"].startswith("/v1/pages")]
    assert writes == []
