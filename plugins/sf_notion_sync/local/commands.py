"""`sf-notion-sync airflow` and `airflow-env`: a local Airflow on this repository, for people."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from sf_notion_sync.local.celery_runtime import (
    CeleryAirflow,
    CeleryDatabases,
    ServicesMissing,
    require_services,
)
from sf_notion_sync.local.runtime import REPO_ROOT, LocalAirflow, print_env
from sf_notion_sync.local.sandbox_env import read_env_file

DEFAULT_HOME = REPO_ROOT / ".airflow"
CELERY_HOME = DEFAULT_HOME / "celery"
CELERY_DB_PREFIX = "sf_notion_sync_local"
"""`make airflow EXECUTOR=celery` keeps its databases (sf_notion_sync_local_airflow, _sync_state) between runs."""
SANDBOX_ENV_FILE = REPO_ROOT / ".sandbox" / "airflow.env"


def register(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser("airflow", help="start a local Airflow on this repository's DAGs")
    run.add_argument("--home", type=Path, default=DEFAULT_HOME)
    run.add_argument("--port", type=int, default=8080)
    run.add_argument("--sandbox-env", type=Path, default=SANDBOX_ENV_FILE,
                     help="connection settings written by `sf-notion-sync sandbox` (used when the file exists)")
    run.add_argument("--executor", choices=("local", "celery"), default="local",
                     help="local: LocalExecutor on SQLite; celery: CeleryExecutor on this machine's PostgreSQL "
                          "and Redis, as docker-compose.yaml (home .airflow/celery unless --home is given)")
    run.add_argument("--workers", type=int, default=2, help="Celery workers (with --executor celery)")
    run.set_defaults(func=_run_airflow)

    env = subparsers.add_parser("airflow-env", help="print the shell exports that point `airflow` at this repository")
    env.add_argument("--home", type=Path, default=DEFAULT_HOME)
    env.add_argument("--port", type=int, default=8080)
    env.set_defaults(func=lambda args: print_env(args.home, args.port) or 0)


def _run_airflow(args: argparse.Namespace) -> int:
    extra = read_env_file(args.sandbox_env) if args.sandbox_env.exists() else {}
    try:
        airflow = _make_airflow(args, extra)
    except ServicesMissing as missing:
        print(missing, file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with airflow:
        airflow.prepare()
        airflow.start()
        airflow.wait_healthy()
        source = f"sandbox connections from {args.sandbox_env}" if extra else "no sandbox connections"
        print(f"Airflow is up on {airflow.api_url} ({type(airflow).__name__}, {source}); Ctrl-C stops it.", flush=True)
        while not stop.wait(1.0):
            airflow._raise_if_died()
    return 0


def _make_airflow(args: argparse.Namespace, extra: dict[str, str]) -> LocalAirflow:
    if args.executor == "local":
        return LocalAirflow(home=args.home, api_port=args.port, extra_env=extra)
    require_services()
    home = CELERY_HOME if args.home == DEFAULT_HOME else args.home
    return CeleryAirflow(home=home, api_port=args.port, extra_env=extra, workers=args.workers,
                         databases=CeleryDatabases.create(CELERY_DB_PREFIX))
