"""The sync dashboard in a real browser: headless Chromium loads the page from a uvicorn server on
loopback, runs its script (inline data, then fetches through the relative API path) and renders it.

Skips when Chromium is not installed (Debian: `apt-get install chromium`). Set
SF_NOTION_SYNC_DASHBOARD_PNG=docs/dashboard.png to refresh the README's screenshot.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from sf_notion_sync.state.rows import UsageDelta
from sf_notion_sync.state.store import StateStore
from sf_notion_sync.ui.app import authorize, create_app
from sf_notion_sync.ui.plugin import URL_PREFIX
from tests.unit.test_ui_dashboard import TOKEN, seed

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="headless Chromium is not installed (/usr/bin/chromium; Debian package `chromium`)"
)


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """uvicorn in a thread on an ephemeral loopback port; stopped on exit."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.started, "uvicorn did not start within 15 s"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
         "--virtual-time-budget=4000", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )


@pytest.fixture
def dashboard_url(tmp_path, monkeypatch) -> Iterator[str]:
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    store = StateStore.from_url(state_url)
    now = datetime.now(UTC)
    seed(store, now)
    store.add_api_usage(  # a day of traffic, so the chart has a shape
        UsageDelta(at=now - timedelta(hours=h), api="notion", endpoint="POST /v1/data_sources/{id}/query",
                   status=200, requests=40 + (h * 37) % 160, latency_ms_sum=(40 + (h * 37) % 160) * 180.0,
                   latency_ms_max=610.0)
        for h in range(2, 23)
    )
    monkeypatch.setenv("AIRFLOW_CONN_SYNC_STATE_DB", state_url)
    monkeypatch.setenv("AIRFLOW_CONN_NOTION_DEFAULT", json.dumps(
        {"conn_type": "notion", "password": TOKEN, "extra": {"budget_rate": 3, "limiter_backend": "sql"}}))
    dashboard = create_app(lambda: store)
    dashboard.dependency_overrides[authorize] = lambda: None
    root = FastAPI()  # mounted under the plugin's prefix, as Airflow's API server does
    root.mount(URL_PREFIX, dashboard)
    with serve(root) as base:
        yield f"{base}{URL_PREFIX}/"
    store.engine.dispose()


def test_page_renders_in_chromium(dashboard_url, tmp_path):
    dom = chromium(tmp_path / "profile-dom", "--dump-dom", dashboard_url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    for text in ('data-object="Account"', 'data-object="Contact"', "batches 1 / 3 done (1 running)",
                 "records 300 / 900", ">1,000<", "001A00000000001AAA", "Name is longer than 2000 characters &lt;script&gt;",
                 'data-status="Dead">1<', "PATCH /v1/pages/{id}", "2.85 / 3 (95%)"):
        assert text in html, text
    assert "key <code>notion:" in html  # the budget, fetched by the script through the relative API path
    assert TOKEN not in html

    shot = tmp_path / "dashboard.png"
    result = chromium(tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1400,1000", dashboard_url)
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 30_000
    if target := os.environ.get("SF_NOTION_SYNC_DASHBOARD_PNG"):
        shutil.copyfile(shot, target)
