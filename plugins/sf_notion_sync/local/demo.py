"""`make demo`: the main job end to end, on the sandbox emulators and a real local Airflow.

It starts the Notion and Salesforce emulators, a local Airflow (API server, scheduler, DAG
processor, triggerer) on SQLite, triggers the full sync of Account through the scheduler, waits
for it, prints the summary and where to look, and stops everything it started.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
from pathlib import Path

from sf_notion_sync.local.runtime import REPO_ROOT, LocalAirflow, free_port
from sf_notion_sync.local.sandbox_env import read_env_file

DEMO_OBJECT = "Account"
REAL_RATE, REAL_LATENCY_MS = 3.0, 250.0
"""Notion's budget and typical latency: the demo scales time, so latency shrinks as the budget grows."""
SANDBOX_DIR = REPO_ROOT / ".sandbox"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the full sync of Account on the sandbox through a real Airflow")
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--notion-rate", type=float, default=30.0,
                        help="Notion budget in requests/s (the real API allows ~3; --real-budget sets it)")
    parser.add_argument("--real-budget", action="store_true", help="use Notion's real budget of 3 requests/s")
    parser.add_argument("--home", type=Path, default=REPO_ROOT / ".airflow")
    parser.add_argument("--port", type=int, default=8080, help="Airflow API server port")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the sync run")
    parser.set_defaults(func=run_demo)


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _start_sandbox(accounts: int, rate: float) -> tuple[subprocess.Popen, dict[str, str]]:
    env_file = SANDBOX_DIR / "airflow.env"
    env_file.unlink(missing_ok=True)
    SANDBOX_DIR.mkdir(exist_ok=True)
    log = open(SANDBOX_DIR / "sandbox.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [sys.executable, "-m", "sf_notion_sync.cli", "sandbox", "--notion-port", str(free_port()),
         "--salesforce-port", str(free_port()), "--accounts", str(accounts), "--notion-rate", str(rate),
         "--notion-latency-ms", str(REAL_LATENCY_MS * REAL_RATE / rate),
         "--state-dir", str(SANDBOX_DIR), "--reset", "--print-env-file", str(env_file)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    log.close()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the sandbox exited with {proc.returncode}; see {SANDBOX_DIR / 'sandbox.log'}")
        if env_file.exists() and env_file.stat().st_size:
            return proc, read_env_file(env_file)
        time.sleep(0.2)
    proc.terminate()
    raise TimeoutError("the sandbox did not write its settings within 180 s")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _reset_state_db(home: Path) -> None:
    """The sandbox starts empty, so the sync state (record map, watermarks) must too: a record map
    that remembers pages the fresh emulator never had would skip every record as unchanged."""
    for suffix in ("", "-wal", "-shm"):
        (home / f"sf_notion_sync_state.db{suffix}").unlink(missing_ok=True)


def run_demo(args: argparse.Namespace) -> int:
    if _port_in_use(args.port):
        print(f"Port {args.port} is taken (is `make airflow` running?). Stop it or pass DEMO_ARGS='--port N'.")
        return 2
    rate = REAL_RATE if args.real_budget else args.notion_rate
    dag_id = f"sf_notion_full_sync__{DEMO_OBJECT.lower()}"
    started = time.monotonic()
    print(f"1/5 Starting the sandbox: {args.accounts} Accounts, Notion budget {rate:g} req/s, latency"
          f" {REAL_LATENCY_MS * REAL_RATE / rate:.0f} ms ...", flush=True)
    sandbox, settings = _start_sandbox(args.accounts, rate)
    _reset_state_db(args.home)
    try:
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
    finally:
        _stop(sandbox)
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
