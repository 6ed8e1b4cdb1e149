"""`budget status`: the Notion budget of a token and the Salesforce org's API usage, side by side.

The plan's getGovernorLimitStatus: one look tells whether a sync can start now. It reads the shared
limiter (no Notion request is spent) and Salesforce's /limits (one API call).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any


def budget_status(notion_conn_id: str = "notion_default", salesforce_conn_id: str | None = "salesforce_default",
                  sync_state_conn_id: str = "sync_state_db", object_name: str | None = None) -> dict[str, Any]:
    """``notion``: the (first) connection's budget; with ``object_name``, ``notion_connections`` lists every
    connection sync.yaml names for it and ``workspace`` their workspace's level (known or learned limit,
    the bucket's use, the last workspace 429)."""
    from sf_notion_sync.airflow.context import object_connections
    from sf_notion_sync.airflow.notion_connections import NotionConnections

    settings = None
    if object_name:
        from sf_notion_sync.config import load_config

        config = load_config()
        if object_name not in config.objects:
            raise SystemExit(f"object {object_name!r} is not in {config.path}")
        settings = config.objects[object_name].notion
    connections = NotionConnections(object_connections(settings, notion_conn_id), sync_state_conn_id=sync_state_conn_id,
                                    workspace_budget=settings.workspace_budget if settings else None)
    routes = connections.routes()
    try:
        rows = routes.status()
    finally:
        routes.close()
    listed = [{**status.as_dict(), "api": "notion", "connection": name,
               "base_url": connections.hooks[name].settings.base_url} for name, status in rows if name != "workspace"]
    report: dict[str, Any] = {"notion": listed[0]}
    if len(listed) > 1 or connections.workspace:
        report["notion_connections"] = listed
        report["workspace"] = _workspace_status(connections, dict(rows).get("workspace"), listed)
    if salesforce_conn_id:
        report["salesforce"] = _salesforce_status(salesforce_conn_id)
    return report


def _workspace_status(connections: Any, bucket: Any, listed: list[dict[str, Any]]) -> dict[str, Any]:
    """The workspace's level, its use (the connections' together) and its last 429 (the bucket's, which
    reads the workspace's state; without one, the connections')."""
    limit = connections.limit()
    learned = connections.store.learned_limit(connections.workspace)
    hit = [c for c in listed if c["last_429_reason"] == "workspace"]
    return {
        "workspace": connections.workspace,
        "limit": limit.requests if limit else None,
        "window_s": connections.bucket_window_s,
        "source": "configured" if limit and not limit.learned else "learned" if learned else "not yet known",
        "learned": {"requests": learned.requests, "window_s": learned.window_s, "limited": learned.limited,
                    "learned_at": learned.learned_at.isoformat()} if learned else None,
        "bucket": bucket.as_dict() if bucket else None,
        "used": sum(c["used"] for c in listed),  # each request takes its connection's slot, bucket or not
        "last_429_at": bucket.last_429_at if bucket else max((c["last_429_at"] for c in hit), default=None),
    }


def _salesforce_status(conn_id: str) -> dict[str, Any]:
    from sf_notion_sync.airflow.hooks import salesforce_client
    from sf_notion_sync.salesforce.limits import salesforce_usage

    try:
        return {"connection": conn_id, **salesforce_usage(salesforce_client(conn_id))}
    except Exception as exc:  # reported, not raised: the Notion half is still worth showing
        return {"connection": conn_id, "error": f"{type(exc).__name__}: {exc}"}


def _when(epoch: float | None) -> str:
    if not epoch:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_status(report: dict[str, Any]) -> str:
    n = report["notion"]
    paused = f"yes, until {_when(n['paused_until'])}" if n["paused"] else "no"
    share = "" if n["processes"] == 1 else f" (of this process's share, {n['requests'] // n['processes']})"
    cut = "" if n["budget_factor"] >= 1 else ", recovering step by step"
    lines = [
        f"Notion ({n['connection']}, {n['base_url']}, limiter {n['backend']}, key {n['key']})",
        f"  budget          {n['requests']} requests per {n['window_s']:g} s ({n['rate']:.2f} req/s),"
        f" fast lane at most {n['fast_lane_cap']:.0%}",
        f"  this window     {n['used']} used, {n['available_tokens']} available now{share}",
        f"  effective       {n['effective_requests']} per window (workspace cut x{n['budget_factor']:.2f}{cut})",
        f"  paused          {paused}",
        f"  last 429        {_when(n['last_429_at'])} ({n['last_429_reason'] or '-'})",
    ]
    for other in report.get("notion_connections", [])[1:]:
        lines.append(f"Notion ({other['connection']}, key {other['key']})")
        lines.append(f"  budget          {other['requests']} per {other['window_s']:g} s, {other['used']} used this "
                     f"window, paused {'yes' if other['paused'] else 'no'}, last 429 {_when(other['last_429_at'])} "
                     f"({other['last_429_reason'] or '-'})")
    ws = report.get("workspace")
    if ws:
        lines.append(f"Notion workspace {ws['workspace']} (all {len(report['notion_connections'])} connections)")
        lines.append(f"  limit           {ws['limit']} per {ws['window_s']:g} s ({ws['source']}), "
                     f"{ws['used']} used this window")
        lines.append(f"  last 429        {_when(ws['last_429_at'])}")
    sf = report.get("salesforce")
    if sf:
        lines.append(f"Salesforce ({sf['connection']})")
        if "error" in sf:
            lines.append(f"  unavailable     {sf['error']}")
        else:
            flag = "  OVER THRESHOLD" if sf["over_threshold"] else ""
            lines.append(f"  daily API       {sf['used']} of {sf['limit']} used ({sf['percent']}%,"
                         f" threshold {sf['threshold_percent']}%){flag}")
            if "bulk_v2_query_jobs" in sf:
                jobs = sf["bulk_v2_query_jobs"]
                lines.append(f"  Bulk 2.0 jobs   {jobs['used']} of {jobs['limit']} used")
    return "\n".join(lines)


def register(subparsers: argparse._SubParsersAction) -> None:
    budget = subparsers.add_parser("budget", help="the Notion budget and the Salesforce API usage")
    actions = budget.add_subparsers(dest="budget_command", required=True)
    status = actions.add_parser("status", help="print both budgets now")
    status.add_argument("--notion-conn-id", default="notion_default")
    status.add_argument("--object", default=None,
                        help="every Notion connection sync.yaml names for this object, and their workspace")
    status.add_argument("--salesforce-conn-id", default="salesforce_default",
                        help="'' to skip Salesforce")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=_run_status)


def _run_status(args: argparse.Namespace) -> int:
    report = budget_status(args.notion_conn_id, args.salesforce_conn_id or None, object_name=args.object)
    print(json.dumps(report, indent=2, default=str) if args.json else format_status(report))
    return 0
