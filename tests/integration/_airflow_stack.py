"""One real Airflow (API server, scheduler, DAG processor, triggerer; SQLite, LocalExecutor) and one
sandbox for all the airflow_e2e modules of tests/integration: starting Airflow is most of their time.

`AirflowStack.fresh()` gives each module a clean slate instead of a new Airflow: every DAG paused and
every unfinished run failed, the emulators reset, and a state database of its own (the metastore
connection sync_state_db, so it can change while Airflow runs). The stack's copy of sync.yaml has no
schedule, so every run is one a test started, wherever the wall clock is, and names a webhook
receiver on loopback for failed-run alerts. `running(..., timetables=True)` makes a stack for backfills
instead: the shipped schedules (a backfill needs a timetable) and a scheduler that fires none of them
(`[scheduler] use_job_schedule = False`, which stops asset-triggered runs too: hence a stack of its own).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import yaml

from sf_notion_sync.config import SOURCE_SALESFORCE, config_path, load_config
from sf_notion_sync.examples import EXAMPLES_ENV
from sf_notion_sync.local.runtime import TERMINAL_RUN_STATES, LocalAirflow, running_airflow
from sf_notion_sync.sandbox.run import Sandbox, ensure_databases, start
from tests.integration._webhook import WebhookReceiver

ACCOUNTS = 1000
BULK_THRESHOLD = 500
"""Enough for the exactly-once module's 5% fault shares to bite tens of times."""
WEBHOOK_CONN_ID = "alert_webhook"
WEBHOOK_TOKEN = "airflow-e2e-webhook-token"
DAG_IDS = ("sf_notion_full_sync__account", "sf_notion_incremental__account", "sf_notion_fast_lane",
           "sf_notion_retry")
RETRY_DELAY_CAP_S = 2
"""[core] max_task_retry_delay: a run that fails for real spends all its retries in seconds, not minutes."""
SETTLE_S = 15
"""defaults.exactly_once.settle_seconds: above the defer threshold (10 s), so a batch waiting to settle an
unknown create defers to the triggerer; below the shipped 30 s, so that wait costs the e2e less."""
STOP_TIMEOUT_S = 5
"""How long a stack's processes get to exit on SIGTERM at teardown before SIGKILL: the API server's graceful
shutdown alone took 7-30 s here, and nothing of a test stack's state outlives it."""
ACTIVE_TASK_STATES = ("queued", "scheduled", "running", "deferred", "up_for_retry", "up_for_reschedule",
                      "restarting")

T = TypeVar("T")


def poll(check: Callable[[], T], what: str, timeout: float, interval: float = 0.5) -> T:
    """`check()` until it is truthy, at most timeout/interval times and `timeout` seconds."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / interval) + 1):
        if result := check():
            return result
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise TimeoutError(f"{what}: not within {timeout:.0f}s")


def wait_for_deferred_batch(airflow: LocalAirflow, dag_id: str, run_id: str, timeout: float = 240) -> None:
    """Until a sync_batch of the run is `deferred` (held by the triggerer, not a worker); a run that
    ends first never deferred, which fails at once rather than at the timeout."""

    def deferred() -> bool:
        tis = airflow.task_instances(dag_id, run_id)
        if any(ti["task_id"] == "sync_batch" and ti["state"] == "deferred" for ti in tis):
            return True
        state = airflow.run_state(dag_id, run_id)
        assert state not in TERMINAL_RUN_STATES, f"{run_id} ended {state} and no sync_batch was ever deferred"
        return False

    poll(deferred, f"a deferred sync_batch in {dag_id} {run_id}", timeout)


def _stack_config(path: Path, timetables: bool = False) -> Path:
    """sync.yaml as shipped, but with the alert webhook, SETTLE_S and every schedule null (the DAG processor
    reads it at parse time): a `*/15` run firing mid-test would take the changes the test's run expects.
    With `timetables`, the schedules stay (that stack's scheduler fires none)."""
    data = yaml.safe_load(config_path().read_text())
    data["defaults"]["alerts"]["webhook_conn_id"] = WEBHOOK_CONN_ID
    data["defaults"].setdefault("exactly_once", {})["settle_seconds"] = SETTLE_S
    # a full sync of the stack's Accounts reads them by Bulk 2.0 (as a large object is), smaller runs by REST
    data["objects"]["Account"].setdefault("extraction", {})["bulk_threshold"] = BULK_THRESHOLD
    if not timetables:
        for obj in data["objects"].values():
            if obj.get("source", SOURCE_SALESFORCE) == SOURCE_SALESFORCE:  # an external object has no DAG
                obj["schedules"] = {"full": None, "incremental": None}
        data.setdefault("retry", {})["schedule"] = None
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@dataclass
class AirflowStack:
    airflow: LocalAirflow
    sandbox: Sandbox
    webhook: WebhookReceiver
    state_url: str = ""

    @classmethod
    @contextmanager
    def running(cls, root: Path, timetables: bool = False) -> Iterator[AirflowStack]:
        """Sandbox, webhook receiver and Airflow: their addresses are fixed in Airflow's env at start."""
        with start(root / "sandbox", accounts=ACCOUNTS, contacts=10, opportunities=10,
                   notion_window_requests=1200, notion_window_s=6, notion_latency_ms=0,
                   notion_connections=2) as box, \
                WebhookReceiver() as webhook:
            env = {**box.env(), f"AIRFLOW_CONN_{WEBHOOK_CONN_ID.upper()}": webhook.connection(WEBHOOK_TOKEN),
                   "SF_NOTION_SYNC_CONFIG": str(_stack_config(root / "sync.yaml", timetables)),
                   "AIRFLOW__CORE__MAX_TASK_RETRY_DELAY": str(RETRY_DELAY_CAP_S),
                   EXAMPLES_ENV: "1",  # dags/examples/ as well: the extending e2e runs them
                   "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": str(not timetables)}
            with running_airflow(root / "airflow", env, DAG_IDS) as local:
                yield cls(local, box, webhook)
                local.stop(timeout=STOP_TIMEOUT_S)

    def fresh(self, state_dir: Path) -> None:
        """Nothing left of the previous module: no active run, fresh emulators, a new state database."""
        self._stop_runs()
        self._reset_sandbox()
        self.webhook.received.clear()
        self.state_url = f"sqlite:///{state_dir / 'state.db'}"
        self.airflow.api("PATCH", "/connections", json={"actions": [{
            "action": "create", "action_on_existence": "overwrite",
            "entities": [{"connection_id": "sync_state_db", "conn_type": "generic", "host": self.state_url}]}]})

    def _stop_runs(self, timeout: float = 120) -> None:
        """Pause every DAG (no scheduled run starts) and fail every unfinished run, e.g. one deferred on
        a Retry-After; then wait (bounded) until the scheduler holds no active task of them."""
        api = self.airflow.api
        api("PATCH", "/dags?dag_id_pattern=~", json={"is_paused": True})
        for run in api("GET", "/dags/~/dagRuns?state=queued&state=running&limit=100")["dag_runs"]:
            api("PATCH", f"/dags/{run['dag_id']}/dagRuns/{run['dag_run_id']}", json={"state": "failed"})
        states = "&".join(f"state={s}" for s in ACTIVE_TASK_STATES)
        poll(lambda: not api("GET", f"/dags/~/dagRuns/~/taskInstances?{states}&limit=1")["total_entries"],
             "no active task after failing the runs", timeout)

    def salesforce_config(self, settings: dict) -> dict:
        """PATCH the Salesforce emulator's behaviour knobs (a reset keeps them); returns them all."""
        box = self.sandbox
        response = httpx.patch(f"{box.salesforce_url}/_sandbox/config", json=settings, timeout=30,
                               verify=ssl.create_default_context(cafile=box.ca_bundle))
        response.raise_for_status()
        return response.json()

    def _reset_sandbox(self) -> None:
        box = self.sandbox
        httpx.post(f"{box.notion_url}/_sandbox/script", json={"clear": True}, timeout=30).raise_for_status()
        httpx.post(f"{box.notion_url}/_sandbox/reset", timeout=30).raise_for_status()
        ensure_databases(box.notion_url, box.notion_token, load_config())
        httpx.post(f"{box.salesforce_url}/_sandbox/reset", timeout=30,
                   verify=ssl.create_default_context(cafile=box.ca_bundle)).raise_for_status()
