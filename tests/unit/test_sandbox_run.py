"""The one command that starts both emulators: settings printed, databases created once, clean stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import requests

from sf_notion_sync.config import load_config
from sf_notion_sync.sandbox.run import NOTION_VERSION, database_schemas, start


def test_start_serves_both_and_prints_usable_connections(tmp_path):
    with start(tmp_path, accounts=50, notion_rate=0, notion_latency_ms=0) as sandbox:
        env = sandbox.env()
        notion = json.loads(env["AIRFLOW_CONN_NOTION_DEFAULT"])
        salesforce = json.loads(env["AIRFLOW_CONN_SALESFORCE_DEFAULT"])
        assert notion["conn_type"] == "notion" and salesforce["conn_type"] == "salesforce"
        headers = {"Authorization": f"Bearer {notion['password']}", "Notion-Version": NOTION_VERSION}
        for obj, ids in sandbox.databases.items():
            db = requests.get(f"{notion['host']}/v1/databases/{ids['database_id']}", headers=headers, timeout=10)
            assert db.status_code == 200, obj
        sf = requests.get(f"{salesforce['extra']['instance_url']}/services/data/v59.0/query",
                          params={"q": "SELECT COUNT() FROM Account"}, verify=env["REQUESTS_CA_BUNDLE"], timeout=10,
                          headers={"Authorization": f"Bearer {salesforce['extra']['session_id']}"})
        assert sf.json()["totalSize"] == 50
        first = dict(sandbox.databases)
    config = load_config()
    assert first == {name: {"database_id": s["database_id"], "data_source_id": s["data_source_id"]}
                     for name, s in database_schemas(config).items()}
    assert {ids["database_id"] for ids in first.values()} == {o.database_id for o in config.objects.values() if o.enabled}
    with start(tmp_path, accounts=50, notion_rate=0, notion_latency_ms=0) as again:  # same state dir: same databases
        assert again.databases == first
        assert env["NOTION_DB_ACCOUNT"] == first["Account"]["database_id"]


def test_cli_runs_in_foreground_and_stops_on_sigterm(tmp_path):
    env_file = tmp_path / "sandbox.env"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sf_notion_sync.cli", "sandbox", "--notion-port", "0", "--salesforce-port", "0",
         "--accounts", "20", "--state-dir", str(tmp_path / "state"), "--print-env-file", str(env_file)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 30
        while not env_file.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert env_file.exists(), "the sandbox did not write its settings"
        settings = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
        assert set(settings) >= {"AIRFLOW_CONN_NOTION_DEFAULT", "AIRFLOW_CONN_SALESFORCE_DEFAULT", "REQUESTS_CA_BUNDLE"}
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert "export AIRFLOW_CONN_SALESFORCE_DEFAULT=" in out and "Stopped." in out
