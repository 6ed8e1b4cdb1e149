"""What the dashboard shows of a run over time: its chart, the lossy changes it wrote, and the budget use
per connection over the last hours -- from the per-minute run metrics (the ETA: sync/progress.run_pace).

The chart of a run that lasted days would be thousands of minutes, so its series is folded into at
most ``CHART_POINTS`` equal steps (each the average over its minutes, its 429s summed), and only the
newest ``CHART_MINUTES`` minutes of a run are read. Budget keys are token fingerprints, never tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sf_notion_sync.state.rows import RunInfo
from sf_notion_sync.state.store import StateStore

CHART_POINTS = 120
CHART_MINUTES = 14 * 24 * 60
BUDGET_HOURS = 24
MAX_BUDGET_HOURS = 24 * 14


def charts(store: StateStore, runs: Sequence[RunInfo], now: datetime) -> dict[str, list[dict[str, Any]]]:
    """Per run: points of ``{t, records_per_s, requests_per_s, budget_rps, rate_limited_429s}``, ``t``
    the step's start (ISO), oldest first."""
    minutes = store.run_minutes([r.run_id for r in runs])
    out = {}
    for run in runs:
        rows = [m for m in minutes[run.run_id] if m["minute"] >= (run.finished_at or now) - timedelta(minutes=CHART_MINUTES)]
        out[run.run_id] = _fold(rows, run.budget_rps)
    return out


def _fold(rows: list[dict[str, Any]], budget_rps: float | None) -> list[dict[str, Any]]:
    if not rows:
        return []
    first, last = rows[0]["minute"], rows[-1]["minute"]
    span = int((last - first).total_seconds() // 60) + 1
    step = max(1, -(-span // CHART_POINTS))  # minutes per point
    points: dict[int, list[float]] = {}
    for row in rows:
        at = points.setdefault(int((row["minute"] - first).total_seconds() // 60) // step, [0, 0, 0, 0])
        at[0] += row["records"]
        at[1] += row["notion_requests"]
        at[2] += row["rate_limited_429s"]
        at[3] = max(at[3], row["budget_rps"] or budget_rps or 0.0)
    seconds = 60.0 * step
    return [
        {"t": (first + timedelta(minutes=i * step)).isoformat(), "records_per_s": round(p[0] / seconds, 3),
         "requests_per_s": round(p[1] / seconds, 3), "rate_limited_429s": int(p[2]), "budget_rps": p[3] or None}
        for i, p in ((i, points.get(i, [0, 0, 0, budget_rps or 0.0])) for i in range(-(-span // step)))
    ]


def budget_use(store: StateStore, now: datetime, hours: int = BUDGET_HOURS) -> dict[str, Any]:
    """Notion requests per hour and connection (budget key) as a share of its budget, and per workspace
    once several connections share one; an hour's budget is its highest budget_rps x 3600 (for a
    workspace, the highest of a connection: Notion publishes no workspace figure)."""
    hours = max(1, min(hours, MAX_BUDGET_HOURS))
    first = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours - 1)
    per_key: dict[str, dict[datetime, list[float]]] = {}
    workspaces: dict[str, set[str]] = {}
    for row in store.minutes_by_budget(first):
        key = row["budget_key"] or "unknown"
        hour = row["minute"].replace(minute=0)
        for name in [key] + ([f"workspace {row['workspace_key']}"] if row["workspace_key"] else []):
            cell = per_key.setdefault(name, {}).setdefault(hour, [0, 0, 0.0])
            cell[0] += row["notion_requests"]
            cell[1] += row["rate_limited_429s"]
            cell[2] = max(cell[2], row["budget_rps"] or 0.0)
        if row["workspace_key"]:
            workspaces.setdefault(f"workspace {row['workspace_key']}", set()).add(key)
    hours_list = [first + timedelta(hours=i) for i in range(hours)]
    shared = {w for w, keys in workspaces.items() if len(keys) > 1}
    return {
        "since": first.isoformat(),
        "hours": hours,
        "connections": [
            {"key": name, "workspace": name in shared,
             "per_hour": [_hour(hour, cells.get(hour), max(c[2] for c in cells.values()), now) for hour in hours_list]}
            for name, cells in sorted(per_key.items()) if not name.startswith("workspace ") or name in shared
        ],
    }


def _hour(hour: datetime, cell: list[float] | None, known_rps: float, now: datetime) -> dict[str, Any]:
    """The current hour's share is of the part of it that has passed; an idle hour is 0 of the budget
    the connection had in the period (idle budget is worth seeing)."""
    requests, limited, rps = cell or (0, 0, 0.0)
    rps = rps or known_rps
    seconds = min(3600.0, max((now - hour).total_seconds(), 60.0))
    return {"hour": hour.isoformat(), "requests": int(requests), "rate_limited": int(limited),
            "use": round(requests / (rps * seconds), 4) if rps else None}


def lossy(store: StateStore, run: RunInfo | None) -> dict[str, Any] | None:
    """The lossy changes of ``run`` (an object's latest) per property and kind, with counts."""
    if run is None:
        return None
    return {"run_id": run.run_id, "changes": store.lossy_summary(run.run_id)}
