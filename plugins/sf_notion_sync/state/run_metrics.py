"""Run metrics for the operator's view: per-minute throughput of each run, the lossy changes each run
wrote, and the Notion schema each object's last preflight saw.

Why per minute: a first sync runs for hours to days, and the dashboard draws records/s and Notion
requests/s against the budget over that time; batch rows alone say nothing until a batch ends. Each
batch adds what it did since its last report (sync/progress.py), so rows are additive and a re-run
batch adds only what it redid. Lossy changes (a text truncated, options capped, a value cleared) are
kept per record, so the dashboard can count them per property and name the records. The preflight
row lets the configuration page put the mapping beside what Notion really has.

``RunMetricsStore`` is one of StateStore's parts (state/base.py). The tables' models are in models.py
with the others (sync_run_minute, sync_lossy_change, preflight_schema).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, func, insert, select

from sf_notion_sync.state.base import StoreBase
from sf_notion_sync.state.db import write_connection
from sf_notion_sync.state.models import PreflightSchema, SyncLossyChange, SyncRun, SyncRunMinute

EXAMPLE_IDS = 3
"""Record Ids shown per lossy property on the dashboard."""


_minute = SyncRunMinute.__table__
_lossy = SyncLossyChange.__table__
_preflight = PreflightSchema.__table__
_run = SyncRun.__table__


@dataclass(frozen=True, slots=True)
class MinuteDelta:
    """What a batch did since its last report; added to the minute ``at`` falls in."""

    run_id: str
    object_name: str
    at: datetime
    records: int
    notion_requests: int
    rate_limited_429s: int
    budget_rps: float | None = None
    budget_key: str | None = None
    workspace_key: str | None = None


@dataclass(frozen=True, slots=True)
class LossyChange:
    run_id: str
    object_name: str
    sf_id: str
    property_name: str
    kind: str
    message: str


@dataclass(frozen=True, slots=True)
class PreflightSeen:
    object_name: str
    data_source_id: str | None
    properties: dict[str, str]
    problems: list[str]
    checked_at: datetime


def minute_of(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(second=0, microsecond=0)


class RunMetricsStore(StoreBase):
    """Per-minute run metrics, lossy changes per record, the last preflight's view of the data source."""

    def add_run_minute(self, delta: MinuteDelta) -> None:
        """Add a batch's report to its run's minute (one upsert; concurrent batches add atomically)."""
        if not (delta.records or delta.notion_requests or delta.rate_limited_429s):
            return
        values = {
            "run_id": delta.run_id, "minute": minute_of(delta.at), "object_name": delta.object_name,
            "records": delta.records, "notion_requests": delta.notion_requests,
            "rate_limited_429s": delta.rate_limited_429s, "budget_rps": delta.budget_rps,
            "budget_key": delta.budget_key, "workspace_key": delta.workspace_key,
        }  # fmt: skip
        stmt = self._insert(_minute).values(values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["run_id", "minute"],
            set_={
                **{k: _minute.c[k] + stmt.excluded[k] for k in ("records", "notion_requests", "rate_limited_429s")},
                **{k: func.coalesce(stmt.excluded[k], _minute.c[k]) for k in ("budget_rps", "budget_key", "workspace_key")},
            },
        )
        with write_connection(self.engine) as conn:
            conn.execute(stmt)

    def run_minutes(self, run_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Per run, its minutes in time order: ``minute, records, notion_requests, rate_limited_429s, budget_rps``."""
        found: dict[str, list[dict[str, Any]]] = {r: [] for r in run_ids}
        if not run_ids:
            return found
        query = select(_minute).where(_minute.c.run_id.in_(list(run_ids))).order_by(_minute.c.run_id, _minute.c.minute)
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                found[row.run_id].append({k: getattr(row, k) for k in
                                          ("minute", "records", "notion_requests", "rate_limited_429s", "budget_rps")})
        return found

    def run_done(self, run_id: str, now: datetime, recent: timedelta) -> tuple[int, int, int, int]:
        """Records and 429s the run's batches reported so far, and the records and Notion requests of the
        ``recent`` minutes before ``now``: what its rate and ETA are measured from."""
        since = minute_of(now - recent)

        def total(column: Any, where: Any = None) -> Any:
            return func.coalesce(func.sum(column if where is None else case((where, column), else_=0)), 0)

        query = select(total(_minute.c.records), total(_minute.c.rate_limited_429s),
                       total(_minute.c.records, _minute.c.minute >= since),
                       total(_minute.c.notion_requests, _minute.c.minute >= since))
        with self.engine.connect() as conn:
            row = conn.execute(query.where(_minute.c.run_id == run_id)).one()
        return int(row[0]), int(row[1]), int(row[2]), int(row[3])

    def minutes_by_budget(self, since: datetime) -> list[dict[str, Any]]:
        """Every run's minutes since ``since`` with their budget keys: what budget use per connection is
        drawn from (a bounded range of the minute index)."""
        query = select(_minute.c.minute, _minute.c.notion_requests, _minute.c.rate_limited_429s,
                       _minute.c.budget_rps, _minute.c.budget_key, _minute.c.workspace_key)
        with self.engine.connect() as conn:
            rows = conn.execute(query.where(_minute.c.minute >= minute_of(since)).order_by(_minute.c.minute))
            return [dict(r._mapping) for r in rows]

    def record_lossy_changes(self, changes: Iterable[LossyChange], now: datetime) -> None:
        rows = [{**_fields(c), "created_at": now} for c in changes]
        if rows:
            with write_connection(self.engine) as conn:
                conn.execute(insert(_lossy), rows)

    def lossy_summary(self, run_id: str) -> list[dict[str, Any]]:
        """The run's lossy changes per property and kind, most frequent first, with a few example Ids."""
        counts = (
            select(_lossy.c.property_name, _lossy.c.kind, func.count().label("records"))
            .where(_lossy.c.run_id == run_id)
            .group_by(_lossy.c.property_name, _lossy.c.kind)
            .order_by(func.count().desc(), _lossy.c.property_name)
        )
        summary = []
        with self.engine.connect() as conn:
            for name, kind, n in conn.execute(counts).all():
                examples = conn.execute(
                    select(_lossy.c.sf_id, _lossy.c.message)
                    .where(_lossy.c.run_id == run_id, _lossy.c.property_name == name, _lossy.c.kind == kind)
                    .order_by(_lossy.c.id).limit(EXAMPLE_IDS)
                ).all()
                summary.append({"property": name, "kind": kind, "records": n,
                                "examples": [e.sf_id for e in examples], "message": examples[0].message})
        return summary

    def purge_run_metrics(self, older_than_days: int, now: datetime) -> int:
        """Drop the minutes, and the lossy changes of the runs started, before the retention (the API usage
        retention: both are history of the same kind); rows deleted."""
        cutoff = now - timedelta(days=older_than_days)
        old_runs = select(_run.c.run_id).where(_run.c.started_at < cutoff)
        with write_connection(self.engine) as conn:
            minutes = conn.execute(delete(_minute).where(_minute.c.minute < minute_of(cutoff))).rowcount
            return minutes + conn.execute(delete(_lossy).where(_lossy.c.run_id.in_(old_runs))).rowcount

    def record_preflight(self, seen: PreflightSeen) -> None:
        """Replace the object's preflight row with what this preflight saw."""
        values = {"object_name": seen.object_name, "data_source_id": seen.data_source_id,
                  "properties": json.dumps(seen.properties, sort_keys=True), "problems": json.dumps(seen.problems),
                  "checked_at": seen.checked_at}
        with write_connection(self.engine) as conn:
            conn.execute(delete(_preflight).where(_preflight.c.object_name == seen.object_name))
            conn.execute(insert(_preflight).values(values))

    def last_preflight(self, object_name: str) -> PreflightSeen | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(_preflight).where(_preflight.c.object_name == object_name)).one_or_none()
        if row is None:
            return None
        return PreflightSeen(row.object_name, row.data_source_id, json.loads(row.properties), json.loads(row.problems),
                             row.checked_at)


def _fields(change: LossyChange) -> Mapping[str, Any]:
    return {k: getattr(change, k) for k in LossyChange.__slots__}
