"""`make demo`: the main job end to end, on the sandbox emulators and a real local Airflow.

It starts the Notion and Salesforce emulators, a local Airflow (API server, scheduler, DAG
processor, triggerer) on SQLite, triggers the full sync of Account through the scheduler, waits
for it, prints the summary and where to look, and stops everything it started.
"""

from __future__ import annotations

import argparse
import socket
import time
from pathlib import Path

from sf_notion_sync.local.runtime import REPO_ROOT, LocalAirflow
from sf_notion_sync.local.sandbox_process import sandbox_process
from sf_notion_sync.notion.constants import DEFAULT_REQUESTS, DEFAULT_WINDOW_S
from sf_notion_sync.sandbox.run import scaled_latency_ms

DEMO_OBJECT = "Account"
DEMO_WINDOW_S = 6.0
"""Notion's budget per 60 s window, ten times faster: the demo scales time, latency with it."""
SANDBOX_DIR = REPO_ROOT / ".sandbox"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the full sync of Account on the sandbox through a real Airflow")
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--notion-window-requests", type=int, default=DEFAULT_REQUESTS,
                        help="Notion requests per window (default 180: the Free and Plus plans)")
    parser.add_argument("--notion-window-s", type=float, default=DEMO_WINDOW_S,
                        help="seconds per Notion window (default 6: Notion's 60 s, ten times faster)")
    parser.add_argument("--real-budget", action="store_true",
                        help="Notion's real window of 60 s (and latency of 250 ms) instead of the faster one")
    parser.add_argument("--home", type=Path, default=REPO_ROOT / ".airflow")
    parser.add_argument("--port", type=int, default=8080, help="Airflow API server port")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the sync run")
    parser.set_defaults(func=run_demo)


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _reset_state_db(home: Path) -> None:
    """The sandbox starts empty, so the sync state (record map, watermarks) must too: a record map
    that remembers pages the fresh emulator never had would skip every record as unchanged."""
    for suffix in ("", "-wal", "-shm"):
        (home / f"sf_notion_sync_state.db{suffix}").unlink(missing_ok=True)


def run_demo(args: argparse.Namespace) -> int:
    if _port_in_use(args.port):
        print(f"Port {args.port} is taken (is `make airflow` running?). Stop it or pass DEMO_ARGS='--port N'.")
        return 2
    window_s = DEFAULT_WINDOW_S if args.real_budget else args.notion_window_s
    requests = args.notion_window_requests
    dag_id = f"sf_notion_full_sync__{DEMO_OBJECT.lower()}"
    started = time.monotonic()
    print(f"1/5 Starting the sandbox: {args.accounts} Accounts, Notion budget {requests} requests per"
          f" {window_s:g} s window, latency {scaled_latency_ms(window_s):.0f} ms ...", flush=True)
    with sandbox_process(SANDBOX_DIR, "--accounts", str(args.accounts), "--notion-window-requests", str(requests),
                         "--notion-window-s", str(window_s), "--reset") as settings:  # latency scaled alike
        _reset_state_db(args.home)
        with LocalAirflow(home=args.home, api_port=args.port, extra_env=settings) as airflow:
            print(f"2/5 Preparing Airflow in {args.home} (db migrate, pool notion_api) ...", flush=True)
            airflow.prepare()
            print("3/5 Starting the API server, scheduler, DAG processor and triggerer ...", flush=True)
            airflow.start()
            airflow.wait_healthy()
            airflow.wait_for_dag(dag_id)
            errors = airflow.import_errors()
            if errors:
                for error in errors:
                    print(f"    import error in {error['filename']}: {error['stack_trace'][-400:]}")
                return 1
            dags = airflow.api("GET", "/dags?limit=100")["dags"]
            print(f"    {len(dags)} DAGs parsed, no import errors: {', '.join(sorted(d['dag_id'] for d in dags))}")
            print(f"4/5 Triggering {dag_id} through the scheduler ...", flush=True)
            run_id = airflow.trigger(dag_id)
            state = airflow.wait_for_run(dag_id, run_id, timeout=args.timeout)
            _print_summary(airflow, dag_id, run_id, state)
            print("5/5 Stopping Airflow and the sandbox ...", flush=True)
    print(f"Done in {time.monotonic() - started:.0f}s. To browse this run: `make sandbox` in one terminal,"
          f" `make airflow` in another, then open http://127.0.0.1:{args.port}/dags/{dag_id}"
          f" and the dashboard (SF Sync in the UI's menu, /plugin/sf-notion-sync).")
    return 0 if state == "success" else 1


def _print_summary(airflow: LocalAirflow, dag_id: str, run_id: str, state: str) -> None:
    print(f"    run {run_id}: {state}")
    for ti in sorted(airflow.task_instances(dag_id, run_id), key=lambda t: (t["task_id"], t["map_index"])):
        label = ti.get("rendered_map_index") or (ti["map_index"] if ti["map_index"] >= 0 else "")
        print(f"      {ti['task_id']:<14} {str(label):<28} {ti['state']}")
    summary = airflow.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/finish/xcomEntries/return_value")
    value = summary.get("value") or {}
    if value:
        print("    summary:")
        for key, item in value.items():
            print(f"      {key:<22} {item}")
