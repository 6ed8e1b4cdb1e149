"""`make demo`: the main job end to end, on the sandbox emulators and a real local Airflow.

It starts the Notion and Salesforce emulators, a local Airflow (API server, scheduler, DAG
processor, triggerer) on SQLite, triggers the full sync of Account through the scheduler, shows a
live progress line while it runs, prints the summary, then keeps Airflow and the sandbox up with the
links to the run and the dashboard until Ctrl-C (or SIGTERM); ``--exit`` stops at once instead.
Either way everything it started is stopped.
"""

from __future__ import annotations

import argparse
import signal
import socket
import time
from pathlib import Path
from urllib.parse import quote

from sf_notion_sync.local.live_progress import follow
from sf_notion_sync.local.runtime import REPO_ROOT, TERMINAL_RUN_STATES, LocalAirflow
from sf_notion_sync.local.sandbox_process import sandbox_process
from sf_notion_sync.notion.constants import DEFAULT_REQUESTS, DEFAULT_WINDOW_S
from sf_notion_sync.sandbox.run import scaled_latency_ms
from sf_notion_sync.sync.progress import INTERVAL_ENV

DEMO_OBJECT = "Account"
DEMO_WINDOW_S = 6.0
"""Notion's budget per 60 s window, ten times faster: the demo scales time, latency with it."""
SANDBOX_DIR = REPO_ROOT / ".sandbox"
PROGRESS_INTERVAL_S = 3.0
"""A batch's progress report every 3 s: Notion's 30 s default, scaled like the demo's window."""
HOLD_S = 24 * 3600.0
STATE_DB = "sf_notion_sync_state.db"
"""The sync state database's file under AIRFLOW_HOME (connection sync_state_db's default)."""


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
    parser.add_argument("--exit", action="store_true",
                        help="stop Airflow and the sandbox after the summary instead of keeping them up")
    parser.add_argument("--hold", type=float, default=HOLD_S,
                        help="seconds to keep them up after the summary, at most (default a day; Ctrl-C ends it)")
    parser.add_argument("--sandbox-dir", type=Path, default=SANDBOX_DIR, help=argparse.SUPPRESS)  # tests: their own
    parser.set_defaults(func=run_demo)


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _reset_state_db(home: Path) -> None:
    """The sandbox starts empty, so the sync state (record map, watermarks) must too: a record map
    that remembers pages the fresh emulator never had would skip every record as unchanged."""
    for suffix in ("", "-wal", "-shm"):
        (home / f"{STATE_DB}{suffix}").unlink(missing_ok=True)


class Stop(Exception):
    """SIGINT or SIGTERM: leave the ``with`` blocks, so everything started is stopped."""


def _raise_stop(signum: int, _frame: object) -> None:
    """Once: a second Ctrl-C must not cut the stopping short."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    print(f"\n{signal.Signals(signum).name}: stopping Airflow and the sandbox ...", flush=True)
    raise Stop(signal.Signals(signum).name)


def run_demo(args: argparse.Namespace) -> int:
    previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _demo(args)
    except Stop:
        print("Stopped.", flush=True)
        return getattr(args, "outcome", 130)  # while held: the run's outcome; before: interrupted
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _demo(args: argparse.Namespace) -> int:
    if _port_in_use(args.port):
        print(f"Port {args.port} is taken (is `make airflow` running?). Stop it or pass DEMO_ARGS='--port N'.")
        return 2
    window_s = DEFAULT_WINDOW_S if args.real_budget else args.notion_window_s
    requests = args.notion_window_requests
    dag_id = f"sf_notion_full_sync__{DEMO_OBJECT.lower()}"
    started = time.monotonic()
    print(f"1/5 Starting the sandbox: {args.accounts} Accounts, Notion budget {requests} requests per"
          f" {window_s:g} s window, latency {scaled_latency_ms(window_s):.0f} ms ...", flush=True)
    interval = PROGRESS_INTERVAL_S * window_s / DEMO_WINDOW_S
    with sandbox_process(args.sandbox_dir, "--accounts", str(args.accounts), "--notion-window-requests", str(requests),
                         "--notion-window-s", str(window_s), "--reset") as settings:  # latency scaled alike
        _reset_state_db(args.home)
        env = {**settings, INTERVAL_ENV: f"{interval:g}"}
        with LocalAirflow(home=args.home, api_port=args.port, extra_env=env) as airflow:
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
            states: list[str] = []

            def finished() -> bool:
                states.append(airflow.run_state(dag_id, run_id))
                return states[-1] in TERMINAL_RUN_STATES

            follow(args.home / STATE_DB, run_id, finished, args.timeout)
            state = states[-1]
            _print_summary(airflow, dag_id, run_id, state)
            if not args.exit:
                args.outcome = 0 if state == "success" else 1  # a signal from here on is the way out
                _hold(airflow, args, dag_id, run_id, time.monotonic() - started)
            print("5/5 Stopping Airflow and the sandbox ...", flush=True)
    print(f"Done in {time.monotonic() - started:.0f}s.")
    return 0 if state == "success" else 1


def _hold(airflow: LocalAirflow, args: argparse.Namespace, dag_id: str, run_id: str, took: float) -> None:
    """Keep everything up with the links until a signal (Stop) or ``--hold`` seconds; a component that
    dies ends the wait with its log."""
    links = {"the DAG run": f"{airflow.api_url}/dags/{dag_id}/runs/{quote(run_id, safe='')}",
             "the dashboard": f"{airflow.api_url}/plugin/sf-notion-sync",
             "the dashboard alone": f"{airflow.api_url}/sf-notion-sync/"}  # ui/plugin.py (importing it costs 3 s)
    print(f"    synced in {took:.0f}s. Airflow and the sandbox stay up; open", flush=True)
    for name, url in links.items():
        print(f"      {name + ':':<22}{url}", flush=True)
    print("    Press Ctrl-C to stop them.", flush=True)
    deadline = time.monotonic() + args.hold
    while time.monotonic() < deadline:
        dead = [name for name, proc in airflow.processes.items() if proc.poll() is not None]
        if dead:
            raise RuntimeError(f"airflow {', '.join(dead)} exited; see {airflow.home / 'logs' / 'components'}")
        time.sleep(1.0)


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
