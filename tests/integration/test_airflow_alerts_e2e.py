"""The DAG-run failure alert from inside a running Airflow, not by calling the notifier.

The Notion emulator answers every request 401 unauthorized, as Notion answers a wrong or revoked
token, so the full sync's preflight fails on each of its tries (retry delays capped by the shared
stack). The DAG run fails for real; Airflow runs the DAG's on_failure_callback, SyncAlertNotifier,
which posts the alert to the webhook receiver the shared Airflow's alert_webhook connection names.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from sf_notion_sync.state.db import make_engine
from sf_notion_sync.state.store import StateStore
from tests.integration._airflow_stack import WEBHOOK_TOKEN, AirflowStack, poll

pytestmark = pytest.mark.airflow_e2e

DAG_ID = "sf_notion_full_sync__account"


def _script(notion_url: str, body: dict[str, Any]) -> None:
    httpx.post(f"{notion_url}/_sandbox/script", json=body, timeout=30).raise_for_status()


def test_failed_run_alerts_the_webhook_without_secrets(airflow, airflow_sandbox, airflow_stack: AirflowStack):
    _script(airflow_sandbox.notion_url, {"clear": True, "responses": [
        {"status": 401, "path_prefix": "/v1/", "count": 1000}]})
    try:
        run_id = airflow.trigger(DAG_ID)
        assert airflow.wait_for_run(DAG_ID, run_id, timeout=240) == "failed"
    finally:
        _script(airflow_sandbox.notion_url, {"clear": True})
    tis = {ti["task_id"]: ti for ti in airflow.task_instances(DAG_ID, run_id)}
    assert tis["preflight"]["state"] == "failed", tis["preflight"]
    assert tis["preflight"]["try_number"] == tis["preflight"]["max_tries"] + 1, "not every retry was spent"

    def alert() -> dict[str, Any] | None:
        return next((w for w in airflow_stack.webhook.received if w["body"]["kind"] == "dag_failed"
                     and w["body"]["facts"].get("run_id") == run_id), None)

    delivered = poll(alert, f"the dag_failed alert of {run_id}", timeout=120)
    body = delivered["body"]
    assert body["facts"]["dag_id"] == DAG_ID
    assert body["subject"] == f"[sf-notion-sync] DAG {DAG_ID} failed (run {run_id})"
    assert "reason: task_failure" in body["lines"], body  # Airflow's reason for a run failed by its tasks
    failed = {task_id for task_id, ti in tis.items() if ti["state"] == "failed"}
    assert body["facts"]["tasks"] and set(body["facts"]["tasks"]) <= failed, (body, failed)
    assert delivered["path"] == "/hooks/sync" and delivered["auth"] == f"Bearer {WEBHOOK_TOKEN}"
    text = json.dumps(body)
    for secret in (airflow_sandbox.notion_token, airflow_sandbox.session_id, WEBHOOK_TOKEN):
        assert secret not in text, "a token is in the alert"


def test_failed_batches_fail_the_run_after_its_summary(airflow, airflow_sandbox, airflow_stack: AirflowStack):
    """`finish` runs whatever happened upstream (all_done) and is the DAG's leaf: when batches failed it
    still stores the summary, then fails at once, so the DAG run is failed (not green) and alerts."""
    _script(airflow_sandbox.notion_url, {"clear": True, "responses": [
        {"status": 401, "method": "POST", "path_prefix": "/v1/pages", "count": 1000}]})  # token revoked mid-run
    try:
        run_id = airflow.trigger(DAG_ID)
        assert airflow.wait_for_run(DAG_ID, run_id, timeout=240) == "failed"
    finally:
        _script(airflow_sandbox.notion_url, {"clear": True})
    tis = airflow.task_instances(DAG_ID, run_id)
    states = {(ti["task_id"], ti["map_index"]): ti for ti in tis}
    assert states[("preflight", -1)]["state"] == states[("extract", -1)]["state"] == "success"
    batches = [ti for ti in tis if ti["task_id"] == "sync_batch"]
    assert batches and all(ti["state"] == "failed" and ti["try_number"] == 1 for ti in batches), batches  # no retry
    finish = states[("finish", -1)]
    assert finish["state"] == "failed" and finish["try_number"] == 1, "finish must fail once, not retry"

    store = StateStore(make_engine(airflow_stack.state_url))
    run = store.get_run(run_id)
    store.engine.dispose()
    assert run is not None and run.status == "incomplete" and run.failed == 0, run  # no record blamed
    assert poll(lambda: any(w["body"]["kind"] == "dag_failed" and w["body"]["facts"].get("run_id") == run_id
                            for w in airflow_stack.webhook.received) or None,
                f"the dag_failed alert of {run_id}", timeout=120)
