"""`python -m sf_notion_sync.sandbox.notion_emulator --port P --state-dir D --token T ...`"""

from __future__ import annotations

import argparse
import json
import os
import sys

from .config import (
    DEFAULT_BURST,
    DEFAULT_HANG_SECONDS,
    DEFAULT_LATENCY_MEDIAN_MS,
    DEFAULT_RATE,
    DEFAULT_WINDOW_REQUESTS,
    DEFAULT_WINDOW_S,
    FAULT_KINDS,
    LIMIT_MODES,
    WINDOW_ALIGNMENTS,
)
from .emulator import NotionEmulator

_LIMIT_FLAGS = (  # (config key, type, help); a flag left out keeps the config's default
    ("limit_mode", str, f"{' or '.join(LIMIT_MODES)} (default window; --rate/--burst alone imply gcra)"),
    ("window_requests", int, f"requests per window per token (default {DEFAULT_WINDOW_REQUESTS}: Free and Plus; "
                             "Business and Enterprise: 600); 0 = unlimited"),
    ("window_s", float, f"seconds per window (default {DEFAULT_WINDOW_S:g})"),
    ("window_alignment", str, f"{' or '.join(WINDOW_ALIGNMENTS)} (default epoch)"),
    ("rate", float, f"gcra mode: requests/s per token (default {DEFAULT_RATE:g}); 0 = unlimited"),
    ("burst", int, f"gcra mode: burst per token (default {DEFAULT_BURST})"),
    ("workspace_window_requests", int, "requests per workspace window for all tokens; 0 = off (default)"),
    ("workspace_window_s", float, f"seconds per workspace window (default {DEFAULT_WINDOW_S:g})"),
    ("workspace_retry_after_s", int, "seconds a full workspace stays closed (default 0: until its reset)"),
    ("workspace_rate", float, "gcra requests/s for all tokens; 0 = off (default)"),
    ("workspace_burst", int, "gcra burst for all tokens"),
    ("endpoint_limits", json.loads, 'JSON: {"POST /v1/data_sources/{id}/query": {"requests": N, "window_s": W}}'),
)


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
    for key, kind, text in _LIMIT_FLAGS:
        parser.add_argument(f"--{key.replace('_', '-')}", type=kind, default=None, help=text)
    parser.add_argument(
        "--blocked-token", action="append", default=None, dest="blocked_tokens", metavar="FINGERPRINT",
        help="answer this token fingerprint (as the request log shows it) public_api_request_blocked; repeatable",
    )
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


def limits(args: argparse.Namespace) -> dict:
    """The rate-limit flags given, as config keys."""
    keys = [key for key, _, _ in _LIMIT_FLAGS] + ["blocked_tokens"]
    return {key: getattr(args, key) for key in keys if getattr(args, key) is not None}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    tokens = args.token
    if tokens is None and os.environ.get("NOTION_EMULATOR_TOKENS"):
        tokens = [t for t in os.environ["NOTION_EMULATOR_TOKENS"].split(",") if t]
    try:
        emulator = NotionEmulator(
            state_dir=args.state_dir,
            tokens=tokens,
            latency_median_ms=args.latency_median_ms,
            latency_p95_ms=args.latency_p95_ms,
            faults={kind: getattr(args, f"fault_{kind}") for kind in FAULT_KINDS},
            hang_seconds=args.hang_seconds,
            seed=args.seed,
            query_lag_s=args.query_lag_s,
            **limits(args),
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
