"""The sandbox as a child process: `sf-notion-sync sandbox`, its settings read back from the file it writes.

In a process of its own, as the real APIs are: the emulators' work shares neither the caller's GIL nor
its event loop, so what the caller measures of itself (the demo's Airflow, a benchmark's workers) is
its own, and the Notion emulator's clock sees requests when they arrive.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sf_notion_sync.local.runtime import free_port
from sf_notion_sync.local.sandbox_env import read_env_file

STARTUP_S = 180.0


@contextmanager
def sandbox_process(state_dir: Path, *options: str, startup_s: float = STARTUP_S) -> Iterator[dict[str, str]]:
    """Start the sandbox on free ports with `options` (e.g. "--accounts", "2000"), its state and log
    (`sandbox.log`) in `state_dir`; yield its settings (AIRFLOW_CONN_*, REQUESTS_CA_BUNDLE, NOTION_DB_*,
    also left in `state_dir`/airflow.env); stop it on exit."""
    state_dir.mkdir(parents=True, exist_ok=True)
    env_file = state_dir / "airflow.env"
    env_file.unlink(missing_ok=True)
    with open(state_dir / "sandbox.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sf_notion_sync.cli", "sandbox", "--notion-port", str(free_port()),
             "--salesforce-port", str(free_port()), "--pubsub-port", str(free_port()), "--state-dir", str(state_dir), "--print-env-file", str(env_file),
             *options],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        yield _settings(proc, env_file, startup_s)
    finally:
        _stop(proc)


def _settings(proc: subprocess.Popen, env_file: Path, startup_s: float) -> dict[str, str]:
    deadline = time.monotonic() + startup_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the sandbox exited with {proc.returncode}; see {env_file.parent / 'sandbox.log'}")
        if env_file.exists() and env_file.stat().st_size:
            return read_env_file(env_file)
        time.sleep(0.2)
    raise TimeoutError(f"the sandbox did not write its settings within {startup_s:g} s")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
