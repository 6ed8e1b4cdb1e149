"""`sf-notion-sync state upgrade`: migrate the sync state database named by connection `sync_state_db`.

Deployments run it once per release (docker-compose's airflow-init does); the DAGs' preflight also
migrates, so a forgotten upgrade costs a slower first task, not a failure.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    state = subparsers.add_parser("state", help="the sync state database")
    actions = state.add_subparsers(dest="state_command", required=True)
    upgrade = actions.add_parser("upgrade", help="apply the migrations (idempotent)")
    upgrade.add_argument("--sync-state-conn-id", default="sync_state_db")
    upgrade.set_defaults(func=_upgrade)


def _upgrade(args: argparse.Namespace) -> int:
    from sqlalchemy.engine import make_url

    from sf_notion_sync.airflow.hooks import SyncStateHook
    from sf_notion_sync.state.db import upgrade

    url = SyncStateHook(args.sync_state_conn_id).get_url()
    upgrade(url)
    print(f"sync state database at {make_url(url).render_as_string(hide_password=True)} is up to date")
    return 0
