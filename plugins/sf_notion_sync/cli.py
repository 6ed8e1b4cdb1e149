"""The `sf-notion-sync` command: one entry point whose subcommands live next to what they drive.

Each command module exposes `register(subparsers)`, adding a parser whose `func(args) -> int` runs it.
Modules are imported lazily by name so that `--help` stays fast and a broken optional piece does not
take the whole CLI down.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = (
    "sf_notion_sync.sandbox.run",
    "sf_notion_sync.local.commands",
    "sf_notion_sync.local.demo",
    "sf_notion_sync.airflow.budget",
    "sf_notion_sync.airflow.fast_lane",
    "sf_notion_sync.airflow.usage_report",
    "sf_notion_sync.airflow.state_commands",
    "sf_notion_sync.airflow.notion_commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sf-notion-sync", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
