"""`sf-notion-sync sandbox`: start the Notion and Salesforce emulators together and print the settings.

Creates one Notion database per synced object (ids kept in <state-dir>/notion_databases.json and
reused while the Notion emulator still knows them), then prints AIRFLOW_CONN_NOTION_DEFAULT,
AIRFLOW_CONN_SALESFORCE_DEFAULT and REQUESTS_CA_BUNDLE, and serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

NOTION_TOKEN = "secret_sandbox_notion_token"
NOTION_VERSION = "2025-09-03"
DATABASES_FILE = "notion_databases.json"

DATABASE_SCHEMAS: dict[str, dict[str, str]] = {
    "Account": {
        "Name": "title", "Salesforce Id": "rich_text", "Industry": "select", "Type": "select", "Rating": "select",
        "Annual Revenue": "number", "Employees": "number", "Phone": "phone_number", "Website": "url",
        "Billing City": "rich_text", "Billing Country": "rich_text", "Description": "rich_text",
        "Regions": "multi_select", "Strategic": "checkbox", "Created": "date", "Last Modified": "date",
    },
    "Contact": {
        "Name": "title", "Salesforce Id": "rich_text", "Account Id": "rich_text", "Email": "email",
        "Phone": "phone_number", "Title": "rich_text", "Lead Source": "select", "Birthdate": "date",
        "Email Opt Out": "checkbox", "Mailing Country": "rich_text", "Description": "rich_text",
        "Last Modified": "date",
    },
    "Opportunity": {
        "Name": "title", "Salesforce Id": "rich_text", "Account Id": "rich_text", "Stage": "select",
        "Amount": "number", "Probability": "number", "Close Date": "date", "Type": "select",
        "Lead Source": "select", "Closed": "checkbox", "Won": "checkbox", "Next Step": "rich_text",
        "Description": "rich_text", "Last Modified": "date",
    },
}


@dataclass(frozen=True)
class Sandbox:
    notion_url: str
    salesforce_url: str
    ca_bundle: str
    session_id: str
    notion_token: str
    databases: dict[str, dict[str, str]]
    databases_file: str

    def env(self) -> dict[str, str]:
        notion = {"conn_type": "notion", "host": self.notion_url, "password": self.notion_token}
        salesforce = {"conn_type": "salesforce",
                      "extra": {"instance_url": self.salesforce_url, "session_id": self.session_id}}
        return {
            "AIRFLOW_CONN_NOTION_DEFAULT": json.dumps(notion),
            "AIRFLOW_CONN_SALESFORCE_DEFAULT": json.dumps(salesforce),
            "REQUESTS_CA_BUNDLE": self.ca_bundle,
            "SF_NOTION_SYNC_SANDBOX_DATABASES": self.databases_file,
        }

    def env_lines(self) -> str:
        return "".join(f"{k}={shlex.quote(v)}\n" for k, v in self.env().items())


def ensure_databases(notion_url: str, token: str, state_dir: Path) -> dict[str, dict[str, str]]:
    """Notion databases per object: those recorded in the state dir if the emulator still has them."""
    path = state_dir / DATABASES_FILE
    headers = {"Authorization": f"Bearer {token}", "Notion-Version": NOTION_VERSION}
    known: dict[str, dict[str, str]] = {}
    if path.exists():
        with contextlib.suppress(ValueError):
            known = json.loads(path.read_text())
    result: dict[str, dict[str, str]] = {}
    for obj, props in DATABASE_SCHEMAS.items():
        entry = known.get(obj)
        if entry:
            r = requests.get(f"{notion_url}/v1/databases/{entry['database_id']}", headers=headers, timeout=10)
            if r.status_code == 200:
                result[obj] = entry
                continue
        r = requests.post(f"{notion_url}/_sandbox/databases", timeout=10, json={
            "title": f"Salesforce {obj}", "properties": {name: {"type": kind} for name, kind in props.items()}})
        r.raise_for_status()
        body = r.json()
        result[obj] = {"database_id": body["database_id"], "data_source_id": body["data_source_id"]}
    path.write_text(json.dumps(result, indent=2) + "\n")
    return result


@contextlib.contextmanager
def start(state_dir: str | Path, notion_port: int = 0, salesforce_port: int = 0, accounts: int = 1000,
          contacts: int | None = None, opportunities: int | None = None, seed: int = 42,
          notion_rate: float = 3.0, notion_burst: int = 10, notion_latency_ms: float | None = None,
          daily_limit: int = 100_000, host: str = "127.0.0.1") -> Iterator[Sandbox]:
    """Both emulators in background threads, with the Notion databases created."""
    from .notion_emulator import NotionEmulator
    from .salesforce_emulator import SalesforceEmulator

    root = Path(state_dir)
    root.mkdir(parents=True, exist_ok=True)
    notion_kwargs = {} if notion_latency_ms is None else {"latency_median_ms": notion_latency_ms}
    notion = NotionEmulator(state_dir=root / "notion", tokens=[NOTION_TOKEN], rate=notion_rate, burst=notion_burst,
                            **notion_kwargs)
    sf = SalesforceEmulator(state_dir=root / "salesforce", accounts=accounts, contacts=contacts,
                            opportunities=opportunities, seed=seed, daily_limit=daily_limit)
    try:
        with notion.serve(host, notion_port) as n_server, sf.serve(host, salesforce_port) as s_server:
            databases = ensure_databases(n_server.url, NOTION_TOKEN, root)
            yield Sandbox(n_server.url, s_server.url, s_server.ca_bundle, s_server.session_id, NOTION_TOKEN,
                          databases, str((root / DATABASES_FILE).resolve()))
    finally:
        sf.close()
        notion.close()


def run(args: argparse.Namespace) -> int:
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with start(args.state_dir, args.notion_port, args.salesforce_port, args.accounts, args.contacts,
                   args.opportunities, args.seed, args.notion_rate, args.notion_burst, args.notion_latency_ms,
                   args.daily_limit) as sandbox:
            lines = sandbox.env_lines()
            if args.print_env_file:
                Path(args.print_env_file).write_text(lines)
            print(f"Notion emulator:     {sandbox.notion_url}", flush=True)
            print(f"Salesforce emulator: {sandbox.salesforce_url}", flush=True)
            print(f"Notion databases:    {sandbox.databases_file}", flush=True)
            print("# settings to use (export these):", flush=True)
            print("".join(f"export {line}" for line in lines.splitlines(keepends=True)), end="", flush=True)
            print("Serving; Ctrl-C to stop.", flush=True)
            stop.wait()
        print("Stopped.", flush=True)
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def register(subparsers) -> None:
    p = subparsers.add_parser("sandbox", help="start the Notion and Salesforce emulators and print the settings",
                              description=__doc__.splitlines()[0])
    p.add_argument("--notion-port", type=int, default=8701)
    p.add_argument("--salesforce-port", type=int, default=8702)
    p.add_argument("--accounts", type=int, default=1000)
    p.add_argument("--contacts", type=int, default=None, help="default: 2 x accounts")
    p.add_argument("--opportunities", type=int, default=None, help="default: = accounts")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--state-dir", default=".sandbox")
    p.add_argument("--notion-rate", type=float, default=3.0, help="Notion requests/s per token (0 = unlimited)")
    p.add_argument("--notion-burst", type=int, default=10)
    p.add_argument("--notion-latency-ms", type=float, default=None, help="median latency (default: emulator's)")
    p.add_argument("--daily-limit", type=int, default=100_000, help="Salesforce daily API request limit")
    p.add_argument("--print-env-file", default=None, metavar="PATH", help="also write the settings to PATH")
    p.set_defaults(func=run)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="sandbox")
    register(parser.add_subparsers(dest="command", required=True))
    sys.exit(run(parser.parse_args(["sandbox", *sys.argv[1:]])))
