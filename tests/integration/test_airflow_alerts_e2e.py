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
