"""`make demo` as a user runs it (the CLI's `demo` in a child process, on its own home, sandbox and port):
a live progress line while the sync runs, the summary, then Airflow and the sandbox left up with links
that answer, until SIGINT (Ctrl-C), after which everything it started is gone.

Lean: 120 Accounts on the demo's scaled budget; its one full sync takes a few seconds, Airflow's start
most of the rest.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from sf_notion_sync.local.runtime import REPO_ROOT, free_port, reachable

pytestmark = pytest.mark.airflow_e2e

STARTUP_S = 420.0
"""Bound on the demo's start and sync together (Airflow's start is ~1 min on a loaded 2-core host)."""
STOP_S = 90.0


def _lines_until(proc: subprocess.Popen, marker: str, timeout: float) -> list[str]:
    """The demo's output lines up to the one containing ``marker``; fails on a timeout or an early exit."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    buffer = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if not ready:
            assert proc.poll() is None, f"the demo exited with {proc.returncode}:\n" + "\n".join(lines[-40:])
            continue
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            pytest.fail(f"the demo closed its output (rc {proc.wait(timeout=10)}):\n" + "\n".join(lines[-40:]))
        buffer += chunk
        *done, buffer = re.split(rb"[\r\n]", buffer)
        lines += [line.decode(errors="replace") for line in done if line.strip()]
        if any(marker in line for line in lines):
            return lines
    pytest.fail(f"no {marker!r} within {timeout:.0f}s:\n" + "\n".join(lines[-40:]))


def test_demo_shows_progress_keeps_the_ui_up_and_stops_on_sigint(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sf_notion_sync.cli", "demo", "--accounts", "120", "--port", str(port),
         "--home", str(tmp_path / "airflow"), "--sandbox-dir", str(tmp_path / "sandbox"), "--timeout", "300"],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        lines = _lines_until(proc, "Press Ctrl-C", STARTUP_S)
        progress = [line for line in lines if re.search(r"records [\d,]+ / 120 .* records/s · Notion .* req/s of "
                                                        r"[\d.]+ budget .* · 429s \d+ · ETA", line)]
        assert progress, "\n".join(lines)
        assert any(re.fullmatch(r"\s+created\s+120", line) for line in lines), "\n".join(lines)  # the summary
        assert any(re.search(r"run \S+: success", line) for line in lines), "\n".join(lines)
        links = dict(re.findall(r"^\s+(the [a-zA-Z ]+):\s+(http://\S+)$", "\n".join(lines), re.MULTILINE))
        assert set(links) == {"the DAG run", "the dashboard", "the dashboard alone"}, lines[-8:]
        for name, url in links.items():
            response = httpx.get(url, timeout=30, follow_redirects=True)
            assert response.status_code == 200, (name, url, response.status_code)
        overview = httpx.get(links["the dashboard alone"] + "api/overview", timeout=30).json()
        (account,) = [o for o in overview["objects"] if o["object"] == "Account"]
        assert account["runs"][0]["created"] == 120 and account["runs"][0]["chart"]  # per-minute reports drawn
        assert {c["kind"] for c in account["lossy"]["changes"]} <= {"options_capped", "text_truncated"}
        config = httpx.get(links["the dashboard alone"] + "api/config/Account", timeout=30).json()
        assert config["preflight"]["problems"] == [] and config["mismatches"] == 0  # what the demo's preflight saw
        assert {m["match"] for m in config["mapping"]} == {"ok"}
        assert httpx.get(links["the dashboard alone"] + "config/Account", timeout=30).status_code == 200

        os.kill(proc.pid, signal.SIGINT)  # Ctrl-C
        rest = proc.communicate(timeout=STOP_S)[0].decode(errors="replace")
        assert proc.returncode == 0, rest
        assert "SIGINT: stopping Airflow and the sandbox" in rest and "Stopped." in rest
        assert not reachable("127.0.0.1", port), "the API server is still listening"
        sandbox_env = (tmp_path / "sandbox" / "airflow.env").read_text()
        for sandbox_port in re.findall(r"127\.0\.0\.1:(\d+)", sandbox_env):
            assert not reachable("127.0.0.1", int(sandbox_port)), f"an emulator still listens on {sandbox_port}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
