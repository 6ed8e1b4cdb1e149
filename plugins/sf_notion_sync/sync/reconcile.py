"""reconcile: trash the pages of records that no longer exist in Salesforce.

Candidates are record-map entries not staged by this run, so the run must have staged a full,
unlimited extraction: anything less would trash live records. Records that left the configured
WHERE filter are not in a full extraction either, and are treated as gone.
"""

from __future__ import annotations

import logging
from typing import Any

from sf_notion_sync.state.rows import Counters

from .context import KIND_FULL, SyncContext
from .iterutil import chunked
from .writer import RecordWriter

log = logging.getLogger(__name__)

CHUNK = 100


class ReconcileRefused(RuntimeError):
    """This run's staging cannot tell which records are gone."""


def reconcile(ctx: SyncContext) -> dict[str, Any]:
    """Trash (per delete_policy) mapped pages whose record is missing from this run's full extraction."""
    store, obj = ctx.store, ctx.obj
    run = store.get_run(ctx.run_id)
    params = (run.params if run else None) or {}
    if params.get("effective_mode") != KIND_FULL or params.get("limit") is not None:
        raise ReconcileRefused(
            f"run {ctx.run_id} did not stage a full, unlimited extraction of {obj.name} "
            f"(mode {params.get('effective_mode')!r}, limit {params.get('limit')!r}); reconcile needs one"
        )
    if store.count_staging(ctx.run_id) == 0 and store.count_record_map(obj.name) > 0:
        raise ReconcileRefused(
            f"run {ctx.run_id} staged no {obj.name} records while {store.count_record_map(obj.name)} pages are "
            "mapped; refusing to trash them all (check the WHERE filter and the Salesforce connection)"
        )
    if obj.delete_policy != "trash":
        gone = sum(1 for _ in store.iter_unstaged_map_entries(ctx.run_id, obj.name))
        log.info("%s: %d pages have no Salesforce record; delete_policy %s keeps them", obj.name, gone,
                 obj.delete_policy)
        return {"candidates": gone, "trashed": 0, "failed": 0, "delete_policy": obj.delete_policy}

    writer = RecordWriter(ctx, allow_defer=False)
    candidates = 0
    for chunk in chunked(store.iter_unstaged_map_entries(ctx.run_id, obj.name), CHUNK):
        for entry in chunk:
            writer.trash(entry.sf_id, entry)
        candidates += len(chunk)
        writer.flush()
    tally = writer.tally
    if not ctx.dry_run:
        store.add_run_counters(
            ctx.run_id,
            Counters(trashed=tally.trashed, failed=tally.failed, rate_limited_429s=tally.rate_limited_429s,
                     notion_requests=tally.notion_requests),
        )
    return {"candidates": candidates, "trashed": tally.trashed, "failed": tally.failed,
            "delete_policy": obj.delete_policy}
