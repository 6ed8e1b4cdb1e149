"""Sync runs: one row per DAG run with its counters (summed over batches) and final summary."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from sf_notion_sync.state.base import StoreBase, _dumps, utcnow
from sf_notion_sync.state.db import write_connection
from sf_notion_sync.state.models import SyncRun
from sf_notion_sync.state.rows import RATE_LIMIT_REASONS, Counters, RunInfo

_run = SyncRun.__table__


class RunStore(StoreBase):
    """Runs and their counters."""

    def start_run(
        self,
        run_id: str,
        dag_id: str,
        object_name: str,
        kind: str,
        *,
        params: dict[str, Any] | None = None,
        budget_rps: float | None = None,
        now: datetime | None = None,
    ) -> RunInfo:
        """Create the run, or mark a re-run of it as running again (its counters stay)."""
        values = {
            "run_id": run_id,
            "dag_id": dag_id,
            "object_name": object_name,
            "kind": kind,
            "status": "running",
            "started_at": now or utcnow(),
            "budget_rps": budget_rps,
            "params": None if params is None else _dumps(params),
        }
        stmt = self._insert(_run).values(values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["run_id"],
            set_={"status": "running", "finished_at": None, "budget_rps": stmt.excluded.budget_rps},
        )
        with write_connection(self.engine) as conn:
            conn.execute(stmt)
        return self.get_run(run_id)  # type: ignore[return-value]

    def set_run_total(self, run_id: str, total: int) -> None:
        with write_connection(self.engine) as conn:
            conn.execute(update(_run).where(_run.c.run_id == run_id).values(total=total))

    def set_run_params(self, run_id: str, params: dict[str, Any], total: int | None = None) -> None:
        """Replace what the run's extraction decided (and found, once it finished) with ``params``."""
        values: dict[str, Any] = {"params": _dumps(params)}
        if total is not None:
            values["total"] = total
        with write_connection(self.engine) as conn:
            conn.execute(update(_run).where(_run.c.run_id == run_id).values(values))

    def add_run_counters(self, run_id: str, counters: Counters) -> None:
        """Add to the run's counters in the database (atomic under concurrent batches)."""
        with write_connection(self.engine) as conn:
            add_run_counters(conn, run_id, asdict(counters))

    def add_rate_limits(self, run_id: str, by_reason: Mapping[str, int]) -> None:
        """Add 429s to the run's counts by what they paused (RATE_LIMIT_REASONS)."""
        unknown = set(by_reason) - set(RATE_LIMIT_REASONS)
        if unknown:
            raise ValueError(f"unknown rate-limit reasons {sorted(unknown)}; known: {', '.join(RATE_LIMIT_REASONS)}")
        with write_connection(self.engine) as conn:
            add_run_counters(conn, run_id, {f"rate_limited_{r}": n for r, n in by_reason.items()})

    def finish_run(
        self,
        run_id: str,
        status: str,
        summary: dict[str, Any],
        *,
        records_per_s: float | None = None,
        achieved_rps: float | None = None,
        now: datetime | None = None,
    ) -> RunInfo:
        with write_connection(self.engine) as conn:
            conn.execute(
                update(_run)
                .where(_run.c.run_id == run_id)
                .values(
                    status=status,
                    finished_at=now or utcnow(),
                    summary=_dumps(summary),
                    records_per_s=records_per_s,
                    achieved_rps=achieved_rps,
                )
            )
        return self.get_run(run_id)  # type: ignore[return-value]

    def get_run(self, run_id: str) -> RunInfo | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(_run).where(_run.c.run_id == run_id)).one_or_none()
        return None if row is None else _run_info(row)

    def recent_runs(self, object_name: str | None = None, limit: int = 20) -> list[RunInfo]:
        query = select(_run).order_by(_run.c.started_at.desc()).limit(limit)
        if object_name is not None:
            query = query.where(_run.c.object_name == object_name)
        with self.engine.connect() as conn:
            return [_run_info(r) for r in conn.execute(query)]


def _run_info(row: Any) -> RunInfo:
    data = {f.name: row._mapping[f.name] for f in fields(RunInfo)}
    for key in ("summary", "params"):
        data[key] = None if data[key] is None else json.loads(data[key])
    return RunInfo(**data)


def add_run_counters(conn: Connection, run_id: str, deltas: dict[str, int]) -> None:
    """Add ``deltas`` to the run's counters inside the caller's transaction (a batch's finish uses it)."""
    changes = {k: _run.c[k] + v for k, v in deltas.items() if v}
    if changes:
        conn.execute(update(_run).where(_run.c.run_id == run_id).values(changes))
