"""Batches of a run (seq ranges with their counters) and the sizer's per-batch metrics."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, fields, replace
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, insert, select, update

from sf_notion_sync.state.base import StoreBase, _dumps, _row, utcnow
from sf_notion_sync.state.db import write_connection
from sf_notion_sync.state.models import BatchMetric, SyncBatch
from sf_notion_sync.state.rows import BatchInfo, BatchMetricInfo, Counters
from sf_notion_sync.state.run_store import add_run_counters

_batch = SyncBatch.__table__
_metric = BatchMetric.__table__
_RUN_COUNTERS = tuple(f.name for f in fields(Counters))
_BATCH_COUNTERS = tuple(name for name in _RUN_COUNTERS if name in _batch.c)
# costs were paid even by an attempt that is re-run, so they accumulate instead of being replaced
_COST_COUNTERS = frozenset({"rate_limited_429s", "notion_requests"})
ADDED_UP_COUNTERS = frozenset(_RUN_COUNTERS) - (frozenset(_BATCH_COUNTERS) - _COST_COUNTERS)
"""Counters each ``finish_batch`` adds to what the batch had (costs, and those a batch row does not keep);
the others it replaces, so they are the batch's totals so far."""


class BatchStore(StoreBase):
    """A run's batch plan and outcomes; the sizer's metrics."""

    def plan_batches(
        self, run_id: str, object_name: str, ranges: Sequence[tuple[int, int]]
    ) -> list[BatchInfo]:
        """Replace the run's batch plan with inclusive seq ranges, numbered from 0."""
        rows = [
            {
                "run_id": run_id,
                "batch_index": i,
                "object_name": object_name,
                "first_seq": first,
                "last_seq": last,
                "size": last - first + 1,
                "status": "pending",
            }
            for i, (first, last) in enumerate(ranges)
        ]
        with write_connection(self.engine) as conn:
            conn.execute(delete(_batch).where(_batch.c.run_id == run_id))
            if rows:
                conn.execute(insert(_batch), rows)
        return self.list_batches(run_id)

    def start_batch(self, run_id: str, batch_index: int, now: datetime | None = None) -> BatchInfo:
        with write_connection(self.engine) as conn:
            conn.execute(
                update(_batch)
                .where(_batch.c.run_id == run_id, _batch.c.batch_index == batch_index)
                .values(status="running", started_at=now or utcnow(), finished_at=None, cursor=None)
            )
        return self.get_batch(run_id, batch_index)  # type: ignore[return-value]

    def finish_batch(
        self,
        run_id: str,
        batch_index: int,
        status: str,
        counters: Counters,
        *,
        seconds: float,
        record_metric: bool = True,
        cursor: int | list[int] | None = None,
        now: datetime | None = None,
    ) -> BatchInfo:
        """Store the batch's counters, add them to its run, and record a sizer metric; atomically.

        A re-run of the batch replaces its earlier outcome counters and the run's sums move by the
        difference only, so clearing a mapped task never double counts; ADDED_UP_COUNTERS add up.
        ``cursor`` is where the batch resumes (a checkpoint or a deferral); None once it is done.
        """
        now = now or utcnow()
        new = asdict(counters)
        records_per_s = counters.processed / seconds if seconds > 0 else None
        with write_connection(self.engine) as conn:
            where = and_(_batch.c.run_id == run_id, _batch.c.batch_index == batch_index)
            old = conn.execute(select(_batch).where(where)).one_or_none()
            if old is None:
                raise KeyError(f"no batch {batch_index} planned for run {run_id!r}")
            conn.execute(
                update(_batch)
                .where(where)
                .values(
                    status=status,
                    finished_at=now,
                    seconds=seconds,
                    records_per_s=records_per_s,
                    cursor=None if cursor is None else _dumps(cursor),
                    **{k: new[k] + (getattr(old, k) if k in _COST_COUNTERS else 0) for k in _BATCH_COUNTERS},
                )
            )
            replaced = set(_BATCH_COUNTERS) - _COST_COUNTERS
            deltas = {k: new[k] - (getattr(old, k) if k in replaced else 0) for k in _RUN_COUNTERS}
            add_run_counters(conn, run_id, deltas)
            if record_metric and seconds > 0:
                conn.execute(
                    insert(_metric).values(
                        object_name=old.object_name,
                        finished_at=now,
                        size=counters.processed,
                        seconds=seconds,
                        records_per_s=records_per_s,
                        errors=counters.failed,
                        rate_limited_429s=counters.rate_limited_429s,
                    )
                )
        return self.get_batch(run_id, batch_index)  # type: ignore[return-value]

    def get_batch(self, run_id: str, batch_index: int) -> BatchInfo | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(_batch).where(_batch.c.run_id == run_id, _batch.c.batch_index == batch_index)
            ).one_or_none()
        return None if row is None else _batch_info(row)

    def list_batches(self, run_id: str) -> list[BatchInfo]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(_batch).where(_batch.c.run_id == run_id).order_by(_batch.c.batch_index)
            )
            return [_batch_info(r) for r in rows]

    def record_batch_metric(
        self,
        object_name: str,
        size: int,
        seconds: float,
        *,
        errors: int = 0,
        rate_limited_429s: int = 0,
        finished_at: datetime | None = None,
    ) -> None:
        with write_connection(self.engine) as conn:
            conn.execute(
                insert(_metric).values(
                    object_name=object_name,
                    finished_at=finished_at or utcnow(),
                    size=size,
                    seconds=seconds,
                    records_per_s=size / seconds if seconds > 0 else 0.0,
                    errors=errors,
                    rate_limited_429s=rate_limited_429s,
                )
            )

    def recent_batch_metrics(self, object_name: str, limit: int = 20) -> list[BatchMetricInfo]:
        """The newest metrics first."""
        query = (
            select(_metric)
            .where(_metric.c.object_name == object_name)
            .order_by(_metric.c.finished_at.desc(), _metric.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_row(BatchMetricInfo, r) for r in conn.execute(query)]


def _batch_info(row: Any) -> BatchInfo:
    info = _row(BatchInfo, row)
    return info if info.cursor is None else replace(info, cursor=json.loads(info.cursor))
