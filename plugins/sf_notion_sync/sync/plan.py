"""plan_batches: cut the run's staging into seq ranges sized by the dynamic batch sizer.

A run that already has a plan over its whole staging keeps it (a cleared task of an interrupted run):
its batches' progress and counters are tied to their ranges, and a new sizing could cut them otherwise.
"""

from __future__ import annotations

import logging
from typing import Any

from sf_notion_sync.state.rows import BatchInfo

from .batch import STATUS_DONE
from .context import SyncContext
from .sizer import HISTORY, DynamicBatchSizer

log = logging.getLogger(__name__)


def plan_batches(
    ctx: SyncContext, *, batch_size: int | None = None, max_map_length: int | None = None
) -> list[dict[str, Any]]:
    """Batch descriptors (JSON-ready, for task mapping): run_id, object_name, batch_index, first_seq,
    last_seq, size. ``batch_size`` (a trigger Param) overrides the sizer's estimate; either way there
    are never more than ``max_map_length`` batches (default: the config's)."""
    obj, store = ctx.obj, ctx.store
    total = store.count_staging(ctx.run_id)
    planned = store.list_batches(ctx.run_id)
    if planned and planned[0].first_seq == 0 and planned[-1].last_seq == total - 1:
        done = sum(b.status == STATUS_DONE for b in planned)
        log.info("run %s: keeping its plan of %d batches over %d records (%d done)", ctx.run_id, len(planned),
                 total, done)
        return _descriptors(planned)
    sizer = DynamicBatchSizer(
        budget_rps=ctx.budget_rps,
        min_size=obj.batch_size.min,
        max_size=obj.batch_size.max,
        max_map_length=max_map_length or ctx.config.defaults.max_map_length,
        parallelism=ctx.budget.pool_slots,
    )
    metrics = store.recent_batch_metrics(obj.name, HISTORY)[::-1]  # oldest first
    decision = sizer.decide(total, metrics, batch_size)
    ranges = [(first, min(first + decision.batch_size, total) - 1) for first in range(0, total, decision.batch_size)]
    planned = store.plan_batches(ctx.run_id, obj.name, ranges)
    log.info("run %s: %d records in %d batches of %d (%s)", ctx.run_id, total, len(planned),
             decision.batch_size, decision.reason)
    return _descriptors(planned)


def _descriptors(planned: list[BatchInfo]) -> list[dict[str, Any]]:
    return [
        {
            "run_id": b.run_id,
            "object_name": b.object_name,
            "batch_index": b.batch_index,
            "first_seq": b.first_seq,
            "last_seq": b.last_seq,
            "size": b.size,
        }
        for b in planned
    ]
