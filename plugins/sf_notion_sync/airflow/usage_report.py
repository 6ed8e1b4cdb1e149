"""`sf-notion-sync usage`: API usage rollups (requests, 429s, errors, latency) per endpoint or DAG.

The plan's Notion_API_Usage__c rollups, read from the `api_usage` table that every client call
feeds in hourly buckets.
"""

from __future__ import annotations

import argparse
import json
import re
from datetime import UTC, datetime, timedelta

_SPAN = re.compile(r"^(\d+)([hdw])$")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """'24h', '7d', '2w' back from now, or an ISO timestamp (UTC when no zone is given)."""
    now = now or datetime.now(UTC)
    match = _SPAN.match(text.strip())
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--since takes 24h, 7d, 2w or an ISO time, not {text!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def usage_rows(store, since: datetime, granularity: str, by: tuple[str, ...], api: str | None) -> list[dict]:
    rows = []
    for r in store.usage_rollup(since, granularity=granularity, by=by, api=api):
        row = {"bucket_start": r.bucket_start.isoformat(), **dict(zip(by, r.key, strict=True)),
               "requests": r.requests, "rate_limited": r.rate_limited, "errors": r.errors,
               "share_429": round(r.rate_limited / r.requests, 4) if r.requests else 0.0,
               "latency_ms_avg": round(r.latency_ms_avg, 1), "latency_ms_max": round(r.latency_ms_max, 1)}
        rows.append(row)
    return rows


def format_rows(rows: list[dict], by: tuple[str, ...]) -> str:
    if not rows:
        return "no API usage recorded in that window"
    header = ["bucket_start", *by, "requests", "rate_limited", "share_429", "errors", "latency_ms_avg", "latency_ms_max"]
    widths = [max(len(h), *(len(str(row[h])) for row in rows)) for h in header]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(str(row[h]).ljust(w) for h, w in zip(header, widths, strict=True)) for row in rows]
    total = sum(row["requests"] for row in rows)
    limited = sum(row["rate_limited"] for row in rows)
    lines.append(f"total: {total} requests, {limited} rate limited ({limited / total:.2%}), "
                 f"{sum(row['errors'] for row in rows)} errors")
    return "\n".join(lines)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("usage", help="API usage rollups from the sync state database")
    parser.add_argument("--since", type=parse_since, default="24h", help="24h, 7d, 2w or an ISO time (default 24h)")
    parser.add_argument("--granularity", choices=("hour", "day"), default="hour")
    parser.add_argument("--by", choices=("endpoint", "dag_id", "status"), action="append",
                        help="group by (repeatable; default endpoint)")
    parser.add_argument("--api", choices=("notion", "salesforce"), default=None)
    parser.add_argument("--sync-state-conn-id", default="sync_state_db")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from sf_notion_sync.airflow.hooks import SyncStateHook

    by = ("api", *(args.by or ["endpoint"]))
    store = SyncStateHook(args.sync_state_conn_id).get_store()
    rows = usage_rows(store, args.since, args.granularity, by, args.api)
    print(json.dumps(rows, indent=2) if args.json else format_rows(rows, by))
    return 0
