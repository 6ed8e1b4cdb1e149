"""The sandbox as a child process (the demo's and the benchmarks'): its settings come back, it stops."""

from __future__ import annotations

import json

import requests

from sf_notion_sync.local.sandbox_process import sandbox_process


def test_settings_come_back_and_the_process_stops(tmp_path):
    options = ("--accounts", "5", "--contacts", "0", "--opportunities", "0", "--notion-window-requests", "30",
               "--notion-window-s", "6")
    with sandbox_process(tmp_path / "sandbox", *options) as settings:
        notion = json.loads(settings["AIRFLOW_CONN_NOTION_DEFAULT"])
        assert notion["extra"] == {"budget_requests": 30, "budget_window_s": 6.0}
        config = requests.get(f"{notion['host']}/_sandbox/config", timeout=10).json()
        assert (config["limit_mode"], config["window_requests"], config["latency_median_ms"]) == ("window", 30, 25.0)
        assert settings["REQUESTS_CA_BUNDLE"] and (tmp_path / "sandbox" / "airflow.env").is_file()
    try:
        requests.get(f"{notion['host']}/_sandbox/config", timeout=2)
    except requests.ConnectionError:
        return
    raise AssertionError("the sandbox still serves after the block")
