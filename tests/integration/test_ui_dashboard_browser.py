"""The sync dashboard in a real browser: headless Chromium loads the page from a uvicorn server on
loopback, runs its script (inline data, then fetches through the relative API path) and renders it.

Skips when Chromium is not installed (Debian: `apt-get install chromium`). Set
SF_NOTION_SYNC_SCREENSHOTS=docs to refresh the README's screenshots (docs/dashboard.png, docs/config.png).

The running run moves on between the page's load and its first poll (the test server adds a report when
the page first polls), so the DOM after the poll shows the ETA and the chart updated without a reload.
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

from sf_notion_sync.state.rows import Counters, UsageDelta
from sf_notion_sync.state.run_metrics import MinuteDelta
from sf_notion_sync.state.store import StateStore
from sf_notion_sync.ui.app import authorize, create_app
from sf_notion_sync.ui.plugin import URL_PREFIX
from tests.unit.test_ui_dashboard import BUDGET_KEY, CONFIG, TOKEN, seed

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


def chromium(profile: Path, *args: str, virtual_ms: int = 4000) -> subprocess.CompletedProcess:
    """``virtual_ms`` of the page's time pass (timers fire, fetches complete) before the dump or shot."""
    return subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
         f"--virtual-time-budget={virtual_ms}", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )


def screenshot(url: str, tmp_path: Path, name: str, size: str) -> None:
    shot = tmp_path / name
    result = chromium(tmp_path / f"profile-{name}", f"--screenshot={shot}", f"--window-size={size}", url,
                      virtual_ms=POLLED_MS)
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 30_000
    if target := os.environ.get("SF_NOTION_SYNC_SCREENSHOTS"):
        shutil.copyfile(shot, Path(target) / name)


POLLED_MS = 7000
"""Past the page's first poll (every 5 s)."""
ADVANCED = 180
"""Records the running run reports between the page's load and its first poll."""


def long_run(store: StateStore, now: datetime) -> None:
    """A finished first sync of 20 hours, reported every few minutes: a chart and a day of budget use."""
    start = now - timedelta(hours=22)
    store.start_run("full-0", "sf_notion_full_sync__account", "Account", "full", budget_rps=3.0, now=start)
    for minute in range(0, 20 * 60, 3):
        share = 0.55 + 0.4 * ((minute * 7919) % 100) / 100  # of the budget, uneven like a real day
        requests = int(3.0 * 180 * share)
        store.add_run_minute(MinuteDelta("full-0", "Account", start + timedelta(minutes=minute), int(requests * 0.97),
                                         requests, 3 if minute % 170 == 0 else 0, 3.0, BUDGET_KEY, None))
    store.add_run_counters("full-0", Counters(processed=150_000, created=150_000, notion_requests=155_000))
    store.finish_run("full-0", "success", {"duration_s": 72_000.0}, records_per_s=2.08, achieved_rps=2.15,
                     now=start + timedelta(hours=20))


@pytest.fixture
def dashboard_url(tmp_path, monkeypatch) -> Iterator[str]:
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    store = StateStore.from_url(state_url)
    now = datetime.now(UTC)
    seed(store, now)
    long_run(store, now)
    (tmp_path / "sync.yaml").write_text(CONFIG)
    monkeypatch.setenv("SF_NOTION_SYNC_CONFIG", str(tmp_path / "sync.yaml"))  # the app's default loader
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
    advanced = threading.Event()

    @root.middleware("http")
    async def the_run_moves_on(request, call_next):
        """On the page's first poll, the running run has done ADVANCED more records (one report)."""
        if request.url.path.endswith("/api/overview") and not advanced.is_set():
            advanced.set()
            store.add_run_minute(MinuteDelta("inc-2", "Account", datetime.now(UTC), ADVANCED, ADVANCED, 0, 3.0))
        return await call_next(request)
    with serve(root) as base:
        yield f"{base}{URL_PREFIX}/"
    store.engine.dispose()


def test_page_renders_in_chromium(dashboard_url, tmp_path):
    dom = chromium(tmp_path / "profile-dom", "--dump-dom", dashboard_url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    for text in ('data-object="Account"', 'data-object="Contact"', "batches 1 / 3 done (1 running)",
                 "records 360 / 900", ">1,000<", "001A00000000001AAA", "Name is longer than 2000 characters &lt;script&gt;",
                 'data-status="Dead">1<', "PATCH /v1/pages/{id}", "2.85 / 3 (95%)",
                 'data-lossy="Description"', "text truncated", 'data-connection="notion:0123456789abcdef"'):
        assert text in html, text
    assert "key <code>notion:" in html  # the budget, fetched by the script through the relative API path
    assert TOKEN not in html


def test_running_run_has_a_live_eta_and_its_chart(dashboard_url, tmp_path):
    loaded = chromium(tmp_path / "profile-loaded", "--dump-dom", dashboard_url, virtual_ms=1000).stdout
    polled = chromium(tmp_path / "profile-polled", "--dump-dom", dashboard_url, virtual_ms=POLLED_MS)
    assert polled.returncode == 0, polled.stderr[-2000:]
    before, after = _eta(loaded), _eta(polled.stdout)
    assert "records 360 / 900" in loaded and f"records {360 + ADVANCED} / 900" in polled.stdout  # no reload
    assert 0 < after < before, (before, after)  # more done at a higher recent rate: sooner
    assert "over the last minutes" in polled.stdout  # measured, not the budget's fallback
    chart = polled.stdout.split("data-chart", 1)[1].split("</svg>", 1)[0]
    assert chart.count("<polyline") == 3  # records/s, requests/s, the budget
    assert "data-429" in chart and "2 429s" in chart
    screenshot(dashboard_url, tmp_path, "dashboard.png", "1400,1400")


def test_configuration_page_in_chromium(dashboard_url, tmp_path):
    url = f"{dashboard_url}config/Account"
    dom = chromium(tmp_path / "profile-config", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    for text in ("Account: configuration", "*/10 * * * *", "20 – 500 records",
                 "trash", "Dead after", "2 mismatch(es)", 'data-property="Industry" data-match="type"',
                 'data-property="Website" data-match="missing"', 'data-property="Rating" data-match="unmapped"',
                 "other type in Notion", "missing in Notion", "E-mail recipients"):
        assert text in html, text
    assert "ops@example.com" not in html
    back = html.split('id="back" href="', 1)[1].split('"', 1)[0]
    assert back == f"{URL_PREFIX}/"  # the way back to the dashboard, under the plugin's prefix
    screenshot(url, tmp_path, "config.png", "1400,1000")


def _eta(html: str) -> int:
    """The running run's ETA in seconds, as the page shows it (``2m 30s``, ``45s``, ``1h 2m``)."""
    text = html.split('data-eta="">', 1)[1].split("<", 1)[0]  # as the DOM serialises the bare attribute
    return sum(int(part[:-1]) * {"s": 1, "m": 60, "h": 3600}[part[-1]] for part in text.split())
