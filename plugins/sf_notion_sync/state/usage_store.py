"""API usage: request counters in hourly buckets, for the dashboard, alerts and the usage report."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, func, select

from sf_notion_sync.state.base import StoreBase, utcnow
from sf_notion_sync.state.db import write_connection
from sf_notion_sync.state.models import ApiUsage
from sf_notion_sync.state.rows import UsageDelta, UsageRollup

USAGE_GROUPS = ("api", "endpoint", "status", "dag_id")

_usage = ApiUsage.__table__


def _hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


class UsageStore(StoreBase):
    """Hourly request counters per API, endpoint, status and DAG."""

    def add_api_usage(self, deltas: Iterable[UsageDelta]) -> None:
        """Add request counters into their hourly buckets (one upsert per bucket and key)."""
        merged: dict[tuple[Any, ...], dict[str, Any]] = {}
        for d in deltas:
            key = (_hour(d.at), d.api, d.endpoint, d.status, d.dag_id)
            row = merged.setdefault(
                key,
                dict(zip(("bucket_start", *USAGE_GROUPS), key, strict=True))
                | {
                    "requests": 0,
                    "rate_limited": 0,
                    "errors": 0,
                    "latency_ms_sum": 0.0,
                    "latency_ms_max": 0.0,
                },
            )
            row["requests"] += d.requests
            row["rate_limited"] += d.rate_limited
            row["errors"] += d.errors
            row["latency_ms_sum"] += d.latency_ms_sum
            row["latency_ms_max"] = max(row["latency_ms_max"], d.latency_ms_max)
        if not merged:
            return
        stmt = self._insert(_usage)
        ex = stmt.excluded
        stmt = stmt.on_conflict_do_update(
            index_elements=["bucket_start", *USAGE_GROUPS],
            set_={
                **{k: _usage.c[k] + ex[k] for k in ("requests", "rate_limited", "errors", "latency_ms_sum")},
                "latency_ms_max": case(
                    (ex.latency_ms_max > _usage.c.latency_ms_max, ex.latency_ms_max),
                    else_=_usage.c.latency_ms_max,
                ),
            },
        )
        with write_connection(self.engine) as conn:
            conn.execute(stmt, [merged[k] for k in sorted(merged)])

    def usage_rollup(
        self,
        since: datetime,
        *,
        granularity: str = "hour",
        by: Sequence[str] = ("api", "endpoint"),
        api: str | None = None,
        dag_id: str | None = None,
    ) -> list[UsageRollup]:
        """Usage since ``since`` summed per hour or day (UTC) and per the ``by`` columns, oldest first."""
        if granularity not in ("hour", "day"):
            raise ValueError(f"granularity must be 'hour' or 'day', not {granularity!r}")
        unknown = set(by) - set(USAGE_GROUPS)
        if unknown:
            raise ValueError(f"cannot group API usage by {sorted(unknown)}; choose from {USAGE_GROUPS}")
        group = [_usage.c.bucket_start, *(_usage.c[c] for c in by)]
        query = (
            select(
                *group,
                func.sum(_usage.c.requests),
                func.sum(_usage.c.rate_limited),
                func.sum(_usage.c.errors),
                func.sum(_usage.c.latency_ms_sum),
                func.max(_usage.c.latency_ms_max),
            )
            .where(_usage.c.bucket_start >= _hour(since))
            .group_by(*group)
        )
        if api is not None:
            query = query.where(_usage.c.api == api)
        if dag_id is not None:
            query = query.where(_usage.c.dag_id == dag_id)
        totals: dict[tuple[datetime, tuple[Any, ...]], list[Any]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                bucket = row[0].replace(hour=0) if granularity == "day" else row[0]
                key = tuple(row[1 : 1 + len(by)])
                requests, limited, errors, lat_sum, lat_max = row[1 + len(by) :]
                acc = totals.setdefault((bucket, key), [0, 0, 0, 0.0, 0.0])
                acc[0] += int(requests)
                acc[1] += int(limited)
                acc[2] += int(errors)
                acc[3] += float(lat_sum)
                acc[4] = max(acc[4], float(lat_max))
        return [
            UsageRollup(bucket, key, *values)
            for (bucket, key), values in sorted(
                totals.items(), key=lambda kv: (kv[0][0], tuple(map(str, kv[0][1])))
            )
        ]

    def purge_api_usage(self, older_than_days: int, now: datetime | None = None) -> int:
        cutoff = _hour((now or utcnow()) - timedelta(days=older_than_days))
        with write_connection(self.engine) as conn:
            return conn.execute(delete(_usage).where(_usage.c.bucket_start < cutoff)).rowcount
