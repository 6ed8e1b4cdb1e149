"""A local Airflow for the demo, the end-to-end tests and the benchmarks.

It runs the real components (API server, scheduler, DAG processor, triggerer) as child processes
with an Airflow home inside the repository, a SQLite metadata database and the LocalExecutor, so
that what the demo shows is what production runs, minus Celery. Every process is started in its
own session and stopped as a group, so nothing is left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[3]
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
TERMINAL_RUN_STATES = {"success", "failed"}
POOLS_FILE = REPO_ROOT / "include" / "pools.json"


def local_airflow_env(home: Path, api_port: int = 8080, repo_root: Path = REPO_ROOT) -> dict[str, str]:
    """The settings that make a plain `airflow` command use this repository's DAGs and home."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(repo_root / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(repo_root / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "8",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__SCHEDULER__DAG_STALE_NOT_SEEN_DURATION": "600",
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "PYTHONUNBUFFERED": "1",
    }


@dataclass
class LocalAirflow:
    """Owns one Airflow home and the processes started on it."""

    home: Path
    api_port: int = 8080
    extra_env: Mapping[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def base_env(self) -> dict[str, str]:
        """The settings of this kind of local Airflow, under `extra_env`."""
        return local_airflow_env(self.home, self.api_port)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.base_env())
        env.update(self.extra_env)
        return env

    def airflow(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        """Run one `airflow` CLI command against this home; raise with its output if it fails."""
        result = subprocess.run(
            [str(Path(sys.executable).with_name("airflow")), *args],
            env=self.env(), capture_output=True, text=True, timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
        return result

    def prepare(self, pools_file: Path = POOLS_FILE) -> None:
        """Migrate the metadata database and import the pools: idempotent, safe to repeat."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.airflow("db", "migrate")
        self.airflow("pools", "import", str(pools_file))

    def components(self) -> tuple[str, ...]:
        """What `start()` runs by default; an executor with workers of its own adds them."""
        return COMPONENTS

    def command(self, component: str) -> list[str]:
        """The command line of one component."""
        args = [str(Path(sys.executable).with_name("airflow")), component]
        if component == "api-server":
            args += ["--port", str(self.api_port), "--host", "127.0.0.1", "--workers", "1"]
        return args

    def component_env(self, component: str) -> dict[str, str]:
        """The environment of one component: the same for all of them here."""
        return self.env()

    def start(self, components: Iterable[str] | None = None) -> None:
        log_dir = self.home / "logs" / "components"
        log_dir.mkdir(parents=True, exist_ok=True)
        for component in self.components() if components is None else components:
            log = open(log_dir / f"{component}.log", "ab")  # noqa: SIM115 - owned by the child process
            self.processes[component] = subprocess.Popen(
                self.command(component), env=self.component_env(component), stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
            log.close()

    def kill(self, component: str, sig: int = signal.SIGKILL, timeout: float = 30) -> None:
        """Signal one component's whole process group (its task processes too) and wait until it is gone."""
        proc = self.processes.pop(component)
        _signal_group(proc, sig)
        proc.wait(timeout=timeout)
        _signal_group(proc, signal.SIGKILL)  # what it forked and left behind

    def restart(self, component: str) -> None:
        """Stop one component as `stop()` would, then start it again on the same home."""
        proc = self.processes[component]
        _signal_group(proc, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
        self.kill(component)
        self.start([component])

    def wait_healthy(self, timeout: float = 120) -> None:
        """Poll the API server's health endpoint until it answers, failing fast if a component died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._raise_if_died()
            try:
                if httpx.get(f"{self.api_url}/api/v2/monitor/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"Airflow API server on {self.api_url} not healthy after {timeout:.0f}s")

    def _raise_if_died(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                log = self.home / "logs" / "components" / f"{name}.log"
                tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
                raise RuntimeError(f"airflow {name} exited with {proc.returncode}:\n{tail}")

    def api(self, method: str, path: str, **kwargs) -> dict:
        response = httpx.request(method, f"{self.api_url}/api/v2{path}", timeout=30, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path} -> {response.status_code}: {response.text[:500]}")
        return response.json() if response.content else {}

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> None:
        """Wait until the DAG processor has parsed and stored the DAG."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._raise_if_died()
            try:
                self.api("GET", f"/dags/{dag_id}")
                return
            except (RuntimeError, httpx.HTTPError):
                time.sleep(1)
        raise TimeoutError(f"DAG {dag_id} not parsed after {timeout:.0f}s")

    def import_errors(self) -> list[dict]:
        return self.api("GET", "/importErrors").get("import_errors", [])

    def trigger(self, dag_id: str, conf: Mapping | None = None) -> str:
        """Unpause the DAG and start a run now; returns the run id."""
        self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
        run = self.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": dict(conf or {})})
        return run["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=1000")["task_instances"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 600, poll: float = 1.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._raise_if_died()
            state = self.run_state(dag_id, run_id)
            if state in TERMINAL_RUN_STATES:
                return state
            time.sleep(poll)
        raise TimeoutError(f"{dag_id} run {run_id} not finished after {timeout:.0f}s")

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM every process group, then SIGKILL what is still alive after the timeout."""
        for proc in self.processes.values():
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in self.processes.values():
            _signal_group(proc, signal.SIGKILL)
            proc.wait(timeout=10)
        self.processes.clear()

    def __enter__(self) -> LocalAirflow:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections on host:port (a database or Redis, say) within `timeout` s."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@contextmanager
def running_airflow(home: Path, extra_env: Mapping[str, str], dag_ids: Iterable[str], timeout: float = 240,
                    kind: type[LocalAirflow] = LocalAirflow, **options) -> Iterator[LocalAirflow]:
    """A prepared, started, healthy local Airflow (a `kind` built with `options`) with these DAGs
    parsed; stopped on exit."""
    with kind(home=home, api_port=free_port(), extra_env=extra_env, **options) as local:
        local.prepare()
        local.start()
        local.wait_healthy(timeout=timeout)
        for dag_id in dag_ids:
            local.wait_for_dag(dag_id, timeout=timeout)
        yield local


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def print_env(home: Path, api_port: int) -> None:
    """Shell `export` lines, for `eval "$(sf-notion-sync airflow-env)"` in a user's shell."""
    for key, value in local_airflow_env(home, api_port).items():
        print(f"export {key}={json.dumps(value)}")
