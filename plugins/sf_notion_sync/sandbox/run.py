"""`sf-notion-sync sandbox`: start the Notion and Salesforce emulators together and print the settings.

Creates the Notion databases that include/config/sync.yaml maps to (its ids and property types, so
the sandbox always fits the mapping), then prints AIRFLOW_CONN_NOTION_DEFAULT,
AIRFLOW_CONN_SALESFORCE_DEFAULT, REQUESTS_CA_BUNDLE and NOTION_DB_*, and serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import shutil
import signal
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from sf_notion_sync.config import SyncConfig, load_config

NOTION_TOKEN = "secret_sandbox_notion_token"
NOTION_VERSION = "2025-09-03"
SANDBOX_ID_NAMESPACE = uuid.UUID("6f1c2b8e-3d4a-5b6c-8d9e-0a1b2c3d4e5f")


def sandbox_data_source_id(database_id: str) -> str:
    """The emulator's data source of a configured database: derived, so reruns find the same one."""
    return str(uuid.uuid5(SANDBOX_ID_NAMESPACE, database_id.replace("-", "").lower()))


def database_schemas(config: SyncConfig) -> dict[str, dict[str, Any]]:
    """The Notion databases that sync.yaml maps to, as the emulator's control API takes them."""
    schemas: dict[str, dict[str, Any]] = {}
    for obj in config.objects.values():
        if not obj.enabled:
            continue
        properties: dict[str, Any] = {obj.salesforce_id_property: {"type": "rich_text"}}
        for prop in obj.properties:
            definition: dict[str, Any] = {"type": prop.type}
            if prop.type == "relation":
                target = config.objects[prop.related_object].database_id
                definition["relation"] = {"data_source_id": sandbox_data_source_id(target), "database_id": target}
            properties[prop.name] = definition
        schemas[obj.name] = {
            "title": f"Salesforce {obj.name}", "properties": properties, "database_id": obj.database_id,
            "data_source_id": sandbox_data_source_id(obj.database_id),
        }
    return schemas


@dataclass(frozen=True)
class Sandbox:
    notion_url: str
    salesforce_url: str
    ca_bundle: str
    session_id: str
    notion_token: str
    databases: dict[str, dict[str, str]]
    notion_rate: float = 0.0
    notion_burst: int = 0
    notion_window_requests: int = 0
    """The emulator's budget per token: notion_window_requests per notion_window_s (window mode, 0 =
    unlimited), or notion_rate with notion_burst when started in the older GCRA mode."""
    notion_window_s: float = 0.0
    salesforce_login: dict[str, str] = field(default_factory=dict)
    """OAuth client-credentials extras with which a worker logs in again once the session expires."""
    pubsub_endpoint: str = ""
    """host:port of the emulated Pub/Sub API (change events), the connection's extra `pubsub_endpoint`."""

    extra_notion_tokens: tuple[str, ...] = ()
    """Tokens of the workspace's other integrations: connections notion_bulk_2, notion_bulk_3, ..."""

    def env(self) -> dict[str, str]:
        notion: dict[str, Any] = {"conn_type": "notion", "host": self.notion_url, "password": self.notion_token}
        if self.notion_window_requests > 0:  # our budget = the emulator's: a window never holds more
            notion["extra"] = {"budget_requests": self.notion_window_requests, "budget_window_s": self.notion_window_s}
        elif self.notion_rate > 0:  # our budget = the emulator's rate, with a smaller burst than it allows
            notion["extra"] = {"budget_rate": self.notion_rate, "budget_burst": max(1, self.notion_burst // 2)}
        salesforce = {"conn_type": "salesforce",
                      "extra": {"instance_url": self.salesforce_url, "session_id": self.session_id,
                                **self.salesforce_login,
                                **({"pubsub_endpoint": self.pubsub_endpoint} if self.pubsub_endpoint else {})}}
        others = {f"AIRFLOW_CONN_NOTION_BULK_{i}": json.dumps({**notion, "password": token})
                  for i, token in enumerate(self.extra_notion_tokens, start=2)}
        return {
            "AIRFLOW_CONN_NOTION_DEFAULT": json.dumps(notion),
            **others,
            "AIRFLOW_CONN_SALESFORCE_DEFAULT": json.dumps(salesforce),
            "REQUESTS_CA_BUNDLE": self.ca_bundle,
            **{f"NOTION_DB_{obj.upper()}": ids["database_id"] for obj, ids in self.databases.items()},
        }

    def env_lines(self) -> str:
        return "".join(f"{k}={shlex.quote(v)}\n" for k, v in self.env().items())


def ensure_databases(notion_url: str, token: str, config: SyncConfig) -> dict[str, dict[str, str]]:
    """Create the databases sync.yaml names, with its ids, unless the emulator already has them."""
    headers = {"Authorization": f"Bearer {token}", "Notion-Version": NOTION_VERSION}
    result: dict[str, dict[str, str]] = {}
    for obj, schema in database_schemas(config).items():
        found = requests.get(f"{notion_url}/v1/databases/{schema['database_id']}", headers=headers, timeout=10)
        if found.status_code != 200:
            requests.post(f"{notion_url}/_sandbox/databases", json=schema, timeout=10).raise_for_status()
        result[obj] = {"database_id": schema["database_id"], "data_source_id": schema["data_source_id"]}
    return result


@contextlib.contextmanager
def start(state_dir: str | Path, notion_port: int = 0, salesforce_port: int = 0, accounts: int = 1000,
          contacts: int | None = None, opportunities: int | None = None, seed: int = 42,
          notion_rate: float | None = None, notion_burst: int | None = None, notion_latency_ms: float | None = None,
          daily_limit: int = 100_000, host: str = "127.0.0.1", config: SyncConfig | None = None,
          reset: bool = False, notion_query_lag_s: float = 0.0, notion_window_requests: int | None = None,
          notion_window_s: float | None = None, pubsub_port: int = 0,
          notion_connections: int = 1) -> Iterator[Sandbox]:
    """Both emulators in background threads, with the Notion databases created.

    ``notion_connections``: integrations of the emulated workspace, each with a token of its own; the
    second and later are the Airflow connections notion_bulk_2, notion_bulk_3, ... (Sandbox.env).

    The Notion budget is notion_window_requests per notion_window_s per token (defaults: Notion's 180
    per 60 s; 0 requests = unlimited); a shorter window scales time, and so does the latency unless
    notion_latency_ms is given. notion_rate/notion_burst (deprecated) start the older GCRA model instead.
    """
    from .notion_emulator import NotionEmulator
    from .notion_emulator.config import DEFAULT_WINDOW_S
    from .salesforce_emulator import SalesforceEmulator
    from .salesforce_emulator.pubsub import serve_emulator_pubsub

    root = Path(state_dir).resolve()  # the CA bundle path is read by processes in other directories
    if reset:
        for sub in ("notion", "salesforce"):
            shutil.rmtree(root / sub, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    limits = _notion_limits(notion_window_requests, notion_window_s, notion_rate, notion_burst)
    window = not limits.keys() & {"rate", "burst"}
    if notion_latency_ms is None and window:
        notion_latency_ms = scaled_latency_ms(limits.get("window_s", DEFAULT_WINDOW_S))
    notion_kwargs = {} if notion_latency_ms is None else {"latency_median_ms": notion_latency_ms}
    tokens = (NOTION_TOKEN, *(f"{NOTION_TOKEN}_bulk_{i}" for i in range(2, notion_connections + 1)))
    notion = NotionEmulator(state_dir=root / "notion", tokens=list(tokens), query_lag_s=notion_query_lag_s,
                            **notion_kwargs, **limits)
    sf = SalesforceEmulator(state_dir=root / "salesforce", accounts=accounts, contacts=contacts,
                            opportunities=opportunities, seed=seed, daily_limit=daily_limit)
    try:
        with notion.serve(host, notion_port) as n_server, sf.serve(host, salesforce_port) as s_server, \
                serve_emulator_pubsub(sf, host, pubsub_port) as p_server:
            databases = ensure_databases(n_server.url, NOTION_TOKEN, config or load_config())
            login = {k: v for k, v in s_server.relogin_connection["extra"].items()
                     if k not in ("instance_url", "session_id", "version")}
            yield Sandbox(n_server.url, s_server.url, s_server.ca_bundle, s_server.session_id, NOTION_TOKEN, databases,
                          **_budget_fields(notion.config), salesforce_login=login, pubsub_endpoint=p_server.endpoint,
                          extra_notion_tokens=tokens[1:])
    finally:
        sf.close()
        notion.close()


def scaled_latency_ms(window_s: float) -> float:
    """Notion's typical latency scaled like the window, so that a shorter window scales all of time:
    250 ms at Notion's 60 s, 25 ms at 6 s."""
    from .notion_emulator.config import DEFAULT_LATENCY_MEDIAN_MS, DEFAULT_WINDOW_S

    return DEFAULT_LATENCY_MEDIAN_MS * window_s / DEFAULT_WINDOW_S


def _notion_limits(window_requests: int | None, window_s: float | None, rate: float | None,
                   burst: int | None) -> dict[str, Any]:
    """The emulator's rate-limit keys for the budget given; the config's defaults fill the rest."""
    window = {k: v for k, v in (("window_requests", window_requests), ("window_s", window_s)) if v is not None}
    legacy = {k: v for k, v in (("rate", rate), ("burst", burst)) if v is not None}
    if window and legacy:
        raise ValueError("give the Notion budget as requests per window or as the deprecated rate and burst, not both")
    return legacy or window


def _budget_fields(config: Any) -> dict[str, Any]:
    """The Sandbox fields of the emulator's per-token budget (those of the mode not in use stay 0)."""
    if config.limit_mode == "window":
        return {"notion_window_requests": config.window_requests, "notion_window_s": config.window_s}
    return {"notion_rate": config.rate, "notion_burst": config.burst}


def run(args: argparse.Namespace) -> int:
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with start(args.state_dir, args.notion_port, args.salesforce_port, args.accounts, args.contacts,
                   args.opportunities, args.seed, args.notion_rate, args.notion_burst, args.notion_latency_ms,
                   args.daily_limit, reset=args.reset, notion_window_requests=args.notion_window_requests,
                   notion_window_s=args.notion_window_s, pubsub_port=args.pubsub_port) as sandbox:
            lines = sandbox.env_lines()
            if args.print_env_file:
                Path(args.print_env_file).write_text(lines)
            print(f"Notion emulator:     {sandbox.notion_url}", flush=True)
            print(f"Salesforce emulator: {sandbox.salesforce_url}", flush=True)
            print(f"Pub/Sub API (gRPC):  {sandbox.pubsub_endpoint}", flush=True)
            for obj, ids in sandbox.databases.items():
                print(f"Notion database {obj + ':':<13} {ids['database_id']}", flush=True)
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
    p.add_argument("--pubsub-port", type=int, default=8703, help="the Salesforce emulator's Pub/Sub API (gRPC)")
    p.add_argument("--accounts", type=int, default=1000)
    p.add_argument("--contacts", type=int, default=None, help="default: 2 x accounts")
    p.add_argument("--opportunities", type=int, default=None, help="default: = accounts")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--state-dir", default=".sandbox")
    p.add_argument("--notion-window-requests", type=int, default=None,
                   help="Notion requests per window per token (default 180, the Free and Plus plans; 0 = unlimited)")
    p.add_argument("--notion-window-s", type=float, default=None,
                   help="seconds per Notion window (default 60; shorter scales time, e.g. 6 = 10x faster)")
    p.add_argument("--notion-rate", type=float, default=None,
                   help="deprecated: the older GCRA budget in requests/s (0 = unlimited) instead of a window")
    p.add_argument("--notion-burst", type=int, default=None, help="deprecated: the GCRA burst (default 10)")
    p.add_argument("--notion-latency-ms", type=float, default=None,
                   help="median latency (default: 250 ms, scaled like the window)")
    p.add_argument("--daily-limit", type=int, default=100_000, help="Salesforce daily API request limit")
    p.add_argument("--reset", action="store_true", help="start from empty emulators (drop the state dir's data)")
    p.add_argument("--print-env-file", default=None, metavar="PATH", help="also write the settings to PATH")
    p.set_defaults(func=run)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="sandbox")
    register(parser.add_subparsers(dest="command", required=True))
    sys.exit(run(parser.parse_args(["sandbox", *sys.argv[1:]])))
