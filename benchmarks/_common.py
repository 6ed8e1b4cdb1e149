"""What the engine benchmarks share: the sandbox they run on (a child process), the SyncContext a DAG
task would build, a full-sync DAG run through a local Airflow, and the figures read back from the
Notion emulator's own request log.

Not a benchmark itself (run_all.py runs bench_*.py only). The package is imported inside the functions,
so that a benchmark's `--help` stays quick.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sf_notion_sync.config import SyncConfig
    from sf_notion_sync.state.store import StateStore
    from sf_notion_sync.sync import SyncContext
    from sf_notion_sync.sync.budget import NotionBudget

REAL_WINDOW_S = 60.0
"""Notion counts each connection's requests per 60-second window; a shorter one scales time."""


@dataclass(frozen=True)
class Sandbox:
    """Where the benchmark's clients reach the sandbox, read from the settings it prints."""

    notion_url: str
    notion_token: str
    salesforce_url: str
    session_id: str
    ca_bundle: str

    @classmethod
    def from_settings(cls, settings: dict[str, str]) -> Sandbox:
        notion = json.loads(settings["AIRFLOW_CONN_NOTION_DEFAULT"])
        salesforce = json.loads(settings["AIRFLOW_CONN_SALESFORCE_DEFAULT"])["extra"]
        return cls(notion["host"], notion["password"], salesforce["instance_url"], salesforce["session_id"],
                   settings["REQUESTS_CA_BUNDLE"])


@contextmanager
def engine_sandbox(prefix: str, accounts: int, budget: NotionBudget) -> Iterator[tuple[Sandbox, Path]]:
    """Both emulators in a child process (as remote APIs are: their work shares not the engine's GIL),
    in a fresh temporary directory, yielded with it for a state DB beside them: `accounts` Accounts
    with 10 Contacts and Opportunities; the Notion emulator in window mode at `budget` per token, its
    latency scaled like the window. REQUESTS_CA_BUNDLE trusts the Salesforce emulator's certificate."""
    from sf_notion_sync.local.sandbox_process import sandbox_process

    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        with sandbox_process(tmp / "sandbox", "--accounts", str(accounts), "--contacts", "10", "--opportunities", "10",
                             "--notion-window-requests", str(budget.requests),
                             "--notion-window-s", str(budget.window_s)) as settings:
            box = Sandbox.from_settings(settings)
            os.environ["REQUESTS_CA_BUNDLE"] = box.ca_bundle
            yield box, tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def account_contexts(box: Sandbox, config: SyncConfig, store: StateStore,
                     budget: NotionBudget) -> Callable[..., SyncContext]:
    """`context(run_id, lane=bulk)`: an Account SyncContext on the sandbox with `budget` in it, as the
    Airflow glue builds one, whose Notion client shares one SQL limiter in `store` at that budget.
    `context.clients` lists the Notion clients made so far (their totals say how long they waited)."""
    from simple_salesforce import Salesforce

    from sf_notion_sync.notion.client import ThrottledNotionClient
    from sf_notion_sync.notion.limiter import LANE_BULK, build_limiter
    from sf_notion_sync.sync import SyncContext

    clients: list[ThrottledNotionClient] = []

    def context(run_id: str, lane: str = LANE_BULK) -> SyncContext:
        def notion() -> ThrottledNotionClient:
            limiter = build_limiter(box.notion_token, requests=budget.requests, window_s=budget.window_s,
                                    engine=store.engine, fast_lane_cap=budget.fast_lane_cap)
            client = ThrottledNotionClient(box.notion_token, base_url=box.notion_url, limiter=limiter, lane=lane)
            clients.append(client)
            return client

        def salesforce() -> Salesforce:
            return Salesforce(instance_url=box.salesforce_url, session_id=box.session_id)

        return SyncContext(config, "Account", store, notion, salesforce, run_id, dag_id="bench", budget=budget)

    context.clients = clients  # type: ignore[attr-defined]
    return context


def notion_log(box: Sandbox, since: float, until: float | None = None) -> list[dict[str, Any]]:
    """The emulator's log of API requests (not its control calls) from `since` to `until` (epoch s)."""
    import httpx

    log = httpx.get(f"{box.notion_url}/_sandbox/requests", params={"since": since}, timeout=60).json()
    return [r for r in log if r["path"].startswith("/v1/") and (until is None or r["ts"] <= until)]


def is_limited(request: dict[str, Any]) -> bool:
    """A 429, or a 529 (handled like one)."""
    return request["status"] in (429, 529)


def limited_by_reason(log: list[dict[str, Any]]) -> dict[str, int]:
    """The log's 429s (and 529s) by what they pause: the connection, the workspace or an endpoint."""
    from sf_notion_sync.notion.limiter import REASONS, pause_reason

    counts = Counter(pause_reason(r.get("reason"), r["status"]) for r in log if is_limited(r))
    return {reason: counts[reason] for reason in REASONS}


FULL_DAG = "sf_notion_full_sync__account"
NO_SWEEP = {"sweep_duplicates": False}
"""The sweep (one query per 100 pages) is a separate, optional cost: the figures are the sync's own."""


def busiest_span(times: Iterable[float], seconds: float) -> int:
    """Most of ``times`` in any span of ``seconds`` (sliding over every one): a window budget's check,
    whatever the server's window alignment."""
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= seconds:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def unscheduled_config(path: Path, account_notion: dict[str, Any] | None = None) -> Path:
    """sync.yaml as shipped but with no schedule, so that every run is one the benchmark triggered;
    `account_notion` (e.g. {"connections": [...]}) becomes objects.Account.notion."""
    import yaml

    from sf_notion_sync.config import SOURCE_SALESFORCE, config_path

    data = yaml.safe_load(config_path().read_text())
    for obj in data["objects"].values():
        if obj.get("source", SOURCE_SALESFORCE) == SOURCE_SALESFORCE:
            obj["schedules"] = {"full": None, "incremental": None}
    if account_notion:
        data["objects"]["Account"]["notion"] = account_notion
    data.setdefault("retry", {})["schedule"] = None
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def airflow_run(airflow: Any, dag_id: str, conf: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Trigger `dag_id` on a running local Airflow and wait for it: its state, the epoch times it was
    triggered and ended (to cut the emulator's log), its wall time and its finish task's summary."""
    since = time.time()
    run_id = airflow.trigger(dag_id, conf)
    state = airflow.wait_for_run(dag_id, run_id, timeout=timeout, poll=2.0)
    until = time.time()
    path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/finish/xcomEntries/return_value"
    summary = airflow.api("GET", path)["value"] if state == "success" else {}
    return {"state": state, "since": since, "until": until, "wall_s": round(until - since, 1), "summary": summary}
