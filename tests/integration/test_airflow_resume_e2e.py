"""A full sync killed mid-run (SIGKILL to every Airflow process: the machine went down) and resumed by
clearing its tasks, under the real scheduler.

The shared Airflow (fresh for this module) runs the full sync of its 1,000 Accounts (Bulk 2.0) in
batches of 100 while the Notion emulator answers slowly, so the kill lands mid-batch. Once a few
batches are done, the API server, scheduler (with its LocalExecutor workers and their task
processes), DAG processor and triggerer are SIGKILLed. Airflow comes back the way an operator brings it
back: the API server first; the run's unfinished tasks are marked failed (their processes are gone);
`extract` is cleared with everything downstream (the UI's "Clear" on it), then the rest starts. The
run must end with every record exactly one page, one Bulk job in all (the complete staging is reused),
and a summary that counts both parts.
"""

from __future__ import annotations

import os
import signal
import ssl
from collections import Counter
from pathlib import Path

import httpx
import pytest

from sf_notion_sync.state.store import StateStore
from tests.integration._airflow_stack import ACCOUNTS, AirflowStack, poll
from tests.integration.test_airflow_e2e import _page_ids_by_sf_id

pytestmark = pytest.mark.airflow_e2e

FULL = "sf_notion_full_sync__account"
BATCH_SIZE = 100
LATENCY_MS = 200
"""Notion's median answer time here: the run's batches take long enough to be killed mid-way."""
DONE_BEFORE_KILL = 2
UNFINISHED = ("running", "queued", "up_for_retry", "restarting", "deferred", "up_for_reschedule")
WORKERS = ("scheduler", "dag-processor", "triggerer")


def _notion_config(sandbox, settings: dict) -> None:
    httpx.patch(f"{sandbox.notion_url}/_sandbox/config", json=settings, timeout=30).raise_for_status()


def _salesforce_stats(sandbox) -> dict:
    response = httpx.get(f"{sandbox.salesforce_url}/_sandbox/stats", timeout=30,
                         verify=ssl.create_default_context(cafile=sandbox.ca_bundle))
    response.raise_for_status()
    return response.json()


def _left_behind(home: Path) -> list[int]:
    """Processes of this Airflow home still alive after their process groups were killed (a child
    that started a session of its own): found by the AIRFLOW_HOME in their environment."""
    marker = f"AIRFLOW_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _kill_everything(airflow) -> None:
    for component in list(airflow.processes):
        airflow.kill(component)
    for pid in _left_behind(airflow.home):
        os.kill(pid, signal.SIGKILL)
    poll(lambda: not _left_behind(airflow.home), "every process of the killed Airflow gone", 30)


def _state(airflow, run_id: str, task_id: str) -> str | None:
    found = [ti["state"] for ti in airflow.task_instances(FULL, run_id) if ti["task_id"] == task_id]
    return found[0] if found else None


def _xcom(airflow, run_id: str, task_id: str) -> dict:
    return airflow.api("GET", f"/dags/{FULL}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value")["value"]


def test_full_sync_killed_mid_run_resumes_without_extracting_or_writing_twice(airflow, airflow_sandbox,
                                                                              airflow_stack: AirflowStack):
    _notion_config(airflow_sandbox, {"latency_median_ms": LATENCY_MS, "latency_p95_ms": LATENCY_MS})
    try:
        run_id = airflow.trigger(FULL, {"batch_size": BATCH_SIZE})
        poll(lambda: _state(airflow, run_id, "plan") == "success", "the run's plan", 300)
        store = StateStore.from_url(airflow_stack.state_url, migrate=False)  # preflight migrated it

        def some_done_some_not() -> bool:
            batches = store.list_batches(run_id)
            done = sum(b.status == "done" for b in batches)
            assert not batches or done < len(batches), "the run ended before it could be killed: slow Notion down"
            return done >= DONE_BEFORE_KILL and any(b.status == "running" and b.processed for b in batches)

        poll(some_done_some_not, f"{DONE_BEFORE_KILL} batches done and one under way", 300, interval=0.2)
        _kill_everything(airflow)
        before = store.get_run(run_id)
        assert 0 < before.processed < ACCOUNTS, before
        assert _salesforce_stats(airflow_sandbox)["bulk_jobs"] == 1

        airflow.start(["api-server"])
        airflow.wait_healthy()
        for ti in airflow.task_instances(FULL, run_id):
            if ti["state"] in UNFINISHED:  # their processes died with the machine
                airflow.api("PATCH", f"/dags/{FULL}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/{ti['map_index']}",
                            json={"new_state": "failed"})
        airflow.api("POST", f"/dags/{FULL}/clearTaskInstances", json={
            "dry_run": False, "dag_run_id": run_id, "task_ids": ["extract"], "include_downstream": True,
            "only_failed": False, "reset_dag_runs": True})
        airflow.start(WORKERS)
        assert airflow.wait_for_run(FULL, run_id, timeout=600) == "success"
    finally:
        _notion_config(airflow_sandbox, {"latency_median_ms": 0, "latency_p95_ms": 0})

    pages = _page_ids_by_sf_id(airflow_sandbox)
    assert len(pages) == ACCOUNTS and all(len(ids) == 1 for ids in pages.values()), \
        f"duplicates: {[i for i, ids in pages.items() if len(ids) > 1][:10]}"
    assert _salesforce_stats(airflow_sandbox)["bulk_jobs"] == 1, "the resumed run extracted again"
    extracted = _xcom(airflow, run_id, "extract")
    assert extracted["resumes"] == 1 and extracted["staged"] == ACCOUNTS, extracted

    summary = _xcom(airflow, run_id, "finish")
    print("killed at", {k: getattr(before, k) for k in ("processed", "created", "notion_requests")},
          "resumed summary", {k: summary[k] for k in ("processed", "created", "adopted", "skipped",
                                                      "notion_requests", "resumes")})
    assert summary["resumes"] == 1 and summary["total"] == summary["processed"] == ACCOUNTS
    assert summary["failed"] == summary["unresolved"] == 0
    # both parts: what the killed attempt saved stays counted; what it committed after its last
    # checkpoint is read again and found unchanged (skipped, no request); an unanswered create is adopted
    assert summary["created"] >= before.created and summary["notion_requests"] >= before.notion_requests
    assert summary["created"] + summary["adopted"] + summary["skipped"] == ACCOUNTS
    creates = [r for r in _notion_requests(airflow_sandbox) if (r["method"], r["path"]) == ("POST", "/v1/pages")]
    assert len(creates) == ACCOUNTS, "a create was sent twice"
    assert Counter(b.status for b in store.list_batches(run_id)) == {"done": ACCOUNTS // BATCH_SIZE}


def _notion_requests(sandbox) -> list[dict]:
    response = httpx.get(f"{sandbox.notion_url}/_sandbox/requests?since=0", timeout=60)
    response.raise_for_status()
    return response.json()
