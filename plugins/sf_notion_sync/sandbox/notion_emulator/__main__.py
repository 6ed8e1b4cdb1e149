"""`python -m sf_notion_sync.sandbox.notion_emulator --port P --state-dir D --token T ...`"""

from __future__ import annotations

import argparse
import os
import sys

from .config import DEFAULT_BURST, DEFAULT_HANG_SECONDS, DEFAULT_LATENCY_MEDIAN_MS, DEFAULT_RATE, FAULT_KINDS
from .emulator import NotionEmulator


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="notion_emulator", description="Local Notion API emulator (2025-09-03, 2026-03-11, 2026-12-01)."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8790)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument(
        "--token",
        action="append",
        default=None,
        help="accepted bearer token (repeatable); also NOTION_EMULATOR_TOKENS (comma-separated); none = any",
    )
    parser.add_argument(
        "--rate", type=float, default=DEFAULT_RATE, help="requests/s per token; 0 = unlimited"
    )
    parser.add_argument("--burst", type=int, default=DEFAULT_BURST)
    parser.add_argument(
        "--workspace-rate", type=float, default=0.0, help="requests/s for all tokens; 0 = off"
    )
    parser.add_argument("--workspace-burst", type=int, default=0)
    parser.add_argument("--latency-median-ms", type=float, default=DEFAULT_LATENCY_MEDIAN_MS, help="0 = none")
    parser.add_argument("--latency-p95-ms", type=float, default=None)
    parser.add_argument("--hang-seconds", type=float, default=DEFAULT_HANG_SECONDS)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--query-lag-s", type=float, default=0.0, help="seconds a new page stays out of data-source queries"
    )
    for kind in FAULT_KINDS:
        parser.add_argument(
            f"--fault-{kind.replace('_', '-')}", type=float, default=0.0, dest=f"fault_{kind}"
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    tokens = args.token
    if tokens is None and os.environ.get("NOTION_EMULATOR_TOKENS"):
        tokens = [t for t in os.environ["NOTION_EMULATOR_TOKENS"].split(",") if t]
    try:
        emulator = NotionEmulator(
            state_dir=args.state_dir,
            tokens=tokens,
            rate=args.rate,
            burst=args.burst,
            workspace_rate=args.workspace_rate,
            workspace_burst=args.workspace_burst,
            latency_median_ms=args.latency_median_ms,
            latency_p95_ms=args.latency_p95_ms,
            faults={kind: getattr(args, f"fault_{kind}") for kind in FAULT_KINDS},
            hang_seconds=args.hang_seconds,
            seed=args.seed,
            query_lag_s=args.query_lag_s,
        )
    except ValueError as exc:
        print(f"notion_emulator: {exc}", file=sys.stderr)
        return 2
    try:
        emulator.serve_forever(args.host, args.port)
    except KeyboardInterrupt:
        pass
    finally:
        emulator.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
