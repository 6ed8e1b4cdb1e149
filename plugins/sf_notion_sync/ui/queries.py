"""What the dashboard shows, read from the sync state database as JSON-ready dicts.

Every read is bounded (runs per object, failures, hours of usage), so the page costs the same on a
state database holding millions of records. Nothing here writes, and nothing returns a secret: the
Notion budget is identified by the limiter's key, a fingerprint of the token.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import case, func, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from sf_notion_sync.state.dedupe_log import OP_DEDUPE
from sf_notion_sync.state.models import (
    OPEN_LOG_WHERE,
    Base,
    SyncLog,
    SyncRun,
)
from sf_notion_sync.state.rows import RunInfo, UsageRollup
from sf_notion_sync.state.store import StateStore, utcnow
from sf_notion_sync.sync.batch import STATUS_DONE
from sf_notion_sync.sync.progress import run_pace
from sf_notion_sync.ui import run_view

RUNS_PER_OBJECT = 5
LATEST_FAILURES = 25
MAX_FAILURES = 200
USAGE_HOURS = 24
MAX_USAGE_HOURS = 24 * 14
MESSAGE_CHARS = 500
RUN_RUNNING = "running"  # what StateStore.start_run sets

_log = SyncLog.__table__
_run = SyncRun.__table__


class StateUnavailable(Exception):
    """The state database is missing, unmigrated or unreachable: the page says so instead of failing."""


def unreadable(exc: SQLAlchemyError) -> StateUnavailable:
    """A driver's message may name hosts and users, so only the error's type is shown."""
    return StateUnavailable(f"The sync state database cannot be read ({type(exc).__name__}).")


def check_ready(store: StateStore) -> None:
    """Raise StateUnavailable with a message for people; never creates a missing SQLite file."""
    url = store.engine.url
    on_file = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
    if on_file and not Path(url.database).exists():
        raise StateUnavailable(
            f"No sync has run yet: the state database {url.database} does not exist. "
            "It is created by the first sync task, or by `sf-notion-sync state upgrade`."
        )
    try:
        tables = set(inspect(store.engine).get_table_names())
    except SQLAlchemyError as exc:
        raise unreadable(exc) from exc
    missing = sorted(set(Base.metadata.tables) - tables)
    if missing:
        raise StateUnavailable(
            "The sync state database is not migrated yet (missing: "
            f"{', '.join(missing)}). Run `sf-notion-sync state upgrade`, or any sync DAG."
        )


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _ratio(part: float | None, whole: float | None) -> float | None:
    return None if part is None or not whole else part / whole


def runs(store: StateStore, now: datetime | None = None, per_object: int = RUNS_PER_OBJECT) -> dict[str, Any]:
    """Per object: sync_log counts by status, duplicate pages trashed (by any sweep, the CLI's too),
    the newest runs with their charts and, while running, live progress and ETA, and the lossy changes
    of the latest run."""
    now = now or utcnow()
    counts: dict[str, dict[str, int]] = {}
    duplicates: dict[str, int] = {}
    # one pass over the covering index (object_name, status, operation), not a scan of sync_log per figure
    dedupes = func.sum(case((_log.c.operation == OP_DEDUPE, 1), else_=0))
    with store.engine.connect() as conn:
        grouped = conn.execute(
            select(_log.c.object_name, _log.c.status, func.count(), dedupes).group_by(_log.c.object_name, _log.c.status)
        )
        for object_name, status, n, trashed in grouped:
            counts.setdefault(object_name, {})[status] = n
            duplicates[object_name] = duplicates.get(object_name, 0) + int(trashed)
        names = set(conn.execute(select(_run.c.object_name).distinct()).scalars()) | set(counts)
    recent = {name: store.recent_runs(name, limit=per_object) for name in sorted(names)}
    series = run_view.charts(store, [r for rs in recent.values() for r in rs], now)
    objects = [
        {
            "object": name,
            "log_counts": counts.get(name, {}),
            "duplicates_trashed": duplicates.get(name, 0),
            "runs": [{**_run_dict(store, r, now), "chart": series[r.run_id]} for r in runs_],
            "lossy": run_view.lossy(store, runs_[0] if runs_ else None),
        }
        for name, runs_ in recent.items()
    ]
    totals: dict[str, int] = {}
    for per_status in counts.values():
        for status, n in per_status.items():
            totals[status] = totals.get(status, 0) + n
    return {"objects": objects, "log_counts": totals}


def _run_dict(store: StateStore, run: RunInfo, now: datetime) -> dict[str, Any]:
    summary = run.summary or {}
    duration = summary.get("duration_s")
    if duration is None:
        duration = max(((run.finished_at or now) - run.started_at).total_seconds(), 0.0)
    records_per_s = run.records_per_s
    if records_per_s is None and duration:
        records_per_s = run.processed / duration
    achieved = run.achieved_rps
    progress = None
    if run.status == RUN_RUNNING:
        batches = store.list_batches(run.run_id)
        starts = [b.started_at for b in batches if b.started_at]
        if achieved is None and starts:  # live estimate, as finish_run computes it at the end
            achieved = run.notion_requests / max((now - min(starts)).total_seconds(), 1e-6)
        live = run_pace(store, run, now, min(starts, default=None))
        progress = {
            "batches_done": sum(b.status == STATUS_DONE for b in batches),
            "batches_running": sum(b.status == RUN_RUNNING for b in batches),
            "batches_planned": len(batches),
            "processed": live.done,
            "total": run.total,
            "records_per_s": live.records_per_s,
            "eta_s": live.eta_s,
            "eta_from": live.eta_from,
        }
    return {
        "run_id": run.run_id,
        "dag_id": run.dag_id,
        "kind": run.kind,
        "status": run.status,
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "duration_s": round(duration, 3),
        **{
            k: getattr(run, k)
            for k in ("total", "processed", "created", "updated", "skipped", "trashed", "failed",
                      "rate_limited_429s", "notion_requests", "duplicates_trashed")
        },
        "rate_limited_by_reason": run.rate_limited_by_reason,
        "records_per_s": records_per_s,
        "achieved_rps": achieved,
        "budget_rps": run.budget_rps,
        # finish_run's figure counts the windows the run spanned; while it runs, the rate's share
        "budget_use": summary.get("budget_use", _ratio(achieved, run.budget_rps)),
        "progress": progress,
    }


def failures(store: StateStore, limit: int = LATEST_FAILURES) -> dict[str, Any]:
    """The most recently touched open sync_log rows (Pending: a create's outcome is unknown until a
    settled lookup; Failed, Rate Limited, Dead). Open is written as the partial index ix_sync_log_open_updated
    says it (every status but Success), so the newest come from it without sorting every open row."""
    query = (
        select(_log)
        .where(OPEN_LOG_WHERE)
        .order_by(_log.c.updated_at.desc(), _log.c.id.desc())
        .limit(max(1, min(limit, MAX_FAILURES)))
    )
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    return {
        "latest_failures": [
            {
                "object": r.object_name,
                "sf_id": r.sf_id,
                "operation": r.operation,
                "status": r.status,
                "error_code": r.error_code,
                "error_message": (r.error_message or "")[:MESSAGE_CHARS],
                "attempts": r.attempts,
                "fatal": r.fatal,
                "next_retry_at": _iso(r.next_retry_at),
                "updated_at": _iso(r.updated_at),
                "run_id": r.run_id,
            }
            for r in rows
        ]
    }


def usage(store: StateStore, now: datetime | None = None, hours: int = USAGE_HOURS) -> dict[str, Any]:
    """API usage per hour and endpoint, totals per endpoint, and per-hour totals with empty hours filled."""
    now = now or utcnow()
    hours = max(1, min(hours, MAX_USAGE_HOURS))
    first = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
    rollup = store.usage_rollup(first, by=("api", "endpoint"))
    per_endpoint: dict[tuple[str, str], list[UsageRollup]] = {}
    per_hour = {first + timedelta(hours=i): [0, 0, 0] for i in range(hours)}
    for row in rollup:
        per_endpoint.setdefault((str(row.key[0]), str(row.key[1])), []).append(row)
        totals = per_hour.setdefault(row.bucket_start, [0, 0, 0])
        totals[0] += row.requests
        totals[1] += row.rate_limited
        totals[2] += row.errors
    return {
        "since": _iso(first),
        "hours": hours,
        "per_hour": [
            {"hour": _iso(h), "requests": t[0], "rate_limited": t[1], "errors": t[2]}
            for h, t in sorted(per_hour.items())
        ],
        "endpoints": [
            _usage_dict(api, endpoint, rows) for (api, endpoint), rows in sorted(per_endpoint.items())
        ],
        "rows": [
            {"hour": _iso(r.bucket_start), **_usage_dict(str(r.key[0]), str(r.key[1]), [r])}
            for r in reversed(rollup)
        ],
    }


def _usage_dict(api: str, endpoint: str, rows: list[UsageRollup]) -> dict[str, Any]:
    requests = sum(r.requests for r in rows)
    return {
        "api": api,
        "endpoint": endpoint,
        "requests": requests,
        "rate_limited": sum(r.rate_limited for r in rows),
        "errors": sum(r.errors for r in rows),
        "latency_ms_avg": round(sum(r.latency_ms_sum for r in rows) / requests, 1) if requests else None,
        "latency_ms_max": round(max(r.latency_ms_max for r in rows), 1),
    }


def overview(store: StateStore, now: datetime | None = None) -> dict[str, Any]:
    """Everything the page shows but the budget, in one read: what the page polls."""
    now = now or utcnow()
    return {"generated_at": _iso(now), **runs(store, now), **failures(store), "usage": usage(store, now),
            "budget_use": run_view.budget_use(store, now)}


def budget(salesforce: bool = False) -> dict[str, Any]:
    """The shared Notion budget (a state database read, no Notion request; with several connections, each
    and their workspace's level), and optionally Salesforce's daily API usage (one /limits call, hence on
    demand). Errors are reported, never raised."""
    from sf_notion_sync.airflow.budget import budget_status
    from sf_notion_sync.config import NotionConnections, load_config

    try:  # the first object that writes through several connections (or under a workspace limit) shows them
        spread = next((o.name for o in load_config().enabled_objects() if o.notion != NotionConnections()), None)
        return budget_status(salesforce_conn_id="salesforce_default" if salesforce else None, object_name=spread)
    except Exception as exc:  # e.g. no notion_default connection on the API server: show why
        return {"error": f"{type(exc).__name__}: {exc}"}
