"""`python -m sf_notion_sync.sandbox.salesforce_emulator`: the Salesforce emulator in the foreground."""

from __future__ import annotations

import argparse
import json
import sys

from . import DEFAULT_SESSION_ID, SalesforceEmulator


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sf_notion_sync.sandbox.salesforce_emulator",
                                description="Salesforce API emulator over generated records (HTTPS on loopback).")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8702)
    p.add_argument("--state-dir", default=".sandbox/salesforce")
    p.add_argument("--accounts", type=int, default=1000)
    p.add_argument("--contacts", type=int, default=None, help="default: 2 x accounts")
    p.add_argument("--opportunities", type=int, default=None, help="default: = accounts")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--session-id", default=DEFAULT_SESSION_ID)
    p.add_argument("--daily-limit", type=int, default=100_000)
    p.add_argument("--session-timeout", type=float, default=None, metavar="SECONDS",
                   help="sessions and access tokens expire this long after issue (default: never)")
    p.add_argument("--access-log", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    emu = SalesforceEmulator(state_dir=args.state_dir, accounts=args.accounts, contacts=args.contacts,
                             opportunities=args.opportunities, seed=args.seed, session_id=args.session_id,
                             daily_limit=args.daily_limit, session_timeout_s=args.session_timeout)

    def ready(server) -> None:
        print(json.dumps({"url": server.url, "ca_bundle": server.ca_bundle}), flush=True)

    try:
        emu.run_forever(args.host, args.port, access_log=args.access_log, on_ready=ready)
    finally:
        emu.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
