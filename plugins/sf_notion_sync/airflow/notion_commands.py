"""`sf-notion-sync notion dedupe`: the duplicate sweep (sync/dedupe.py) from a shell, outside any DAG run.

It opens the engine's context from the Airflow connections (`notion_default`, `sync_state_db`) as a
task does, and prints the sweep's result as JSON. Its sync_log rows carry the run id
`cli-dedupe-<UTC time>`; no sync run exists for it, so no run's counters change.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from contextlib import ExitStack
from datetime import UTC, datetime

CLI_DAG_ID = "cli:notion-dedupe"
"""What API usage is recorded under (the `dag_id` column), so the sweep's requests are told apart."""


def register(subparsers: argparse._SubParsersAction) -> None:
    notion = subparsers.add_parser("notion", help="upkeep of the Notion data sources")
    actions = notion.add_subparsers(dest="notion_command", required=True)
    dedupe = actions.add_parser(
        "dedupe", help="trash the extra pages of records that have more than one (keeps the mapped, else the oldest)"
    )
    dedupe.add_argument("--object", required=True, help="the Salesforce object, as named in sync.yaml")
    dedupe.add_argument("--dry-run", action="store_true", help="list and report, trash nothing")
    dedupe.add_argument("--notion-conn-id", default="notion_default")
    dedupe.add_argument("--sync-state-conn-id", default="sync_state_db")
    dedupe.set_defaults(func=_dedupe)


def _dedupe(args: argparse.Namespace) -> int:
    import airflow  # noqa: F401 -- configures logging, which _logs_to_stderr then moves

    from sf_notion_sync.airflow.context import open_sync_context
    from sf_notion_sync.sync import sweep_duplicates

    _logs_to_stderr()
    run_id = f"cli-dedupe-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    with ExitStack() as stack:
        try:
            ctx = stack.enter_context(open_sync_context(
                args.object, run_id=run_id, dag_id=CLI_DAG_ID, notion_conn_id=args.notion_conn_id,
                sync_state_conn_id=args.sync_state_conn_id, migrate=True))  # fmt: skip
        except KeyError as exc:  # the object is not in sync.yaml: the message lists those that are
            raise SystemExit(f"notion dedupe: {exc.args[0]}") from None
        result = sweep_duplicates(ctx, dry_run=args.dry_run)
    print(json.dumps(result, indent=2))
    return 0


def _logs_to_stderr() -> None:
    """Stdout carries the JSON result alone; Airflow's logging writes there too, so it moves to stderr."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
            handler.setStream(sys.stderr)
