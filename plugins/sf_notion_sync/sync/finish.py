"""finish_run: the run's summary, and the incremental watermark once every write it covers is in.

Invariant 3: the watermark moves only when every batch of the run is done, i.e. each record is either
written (record map) or accounted for in sync_log, where the retry DAG picks it up. It moves to the
run's highest SystemModstamp and keeps the Ids at that value: the next run reads ``>=`` that value
(minus an overlap) and skips what is unchanged, so records sharing one SystemModstamp across a batch
or run boundary are never lost. A run over given records or a re-sync window moves nothing: the live
chain owns both cursors.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sf_notion_sync.state.rows import BatchInfo

from .batch import STATUS_DONE
from .context import KIND_FULL, KIND_INCREMENTAL, KIND_RESYNC, SyncContext
from .staging import DELETES_WATERMARK, RESUMES_KEY
from .timeutil import parse_sf_datetime

log = logging.getLogger(__name__)

RUN_SUCCESS, RUN_PARTIAL, RUN_INCOMPLETE = "success", "partial", "incomplete"


def finish_run(ctx: SyncContext, *, reconciled: bool = True, connection_problems: list[str] | None = None
               ) -> dict[str, Any]:
    """Store and return the run summary (JSON-ready); advance the watermark of an incremental run.

    ``reconciled=False`` says a reconcile this run needed (a missed getDeleted window) did not
    complete: the deletes cursor then stays, so the next run falls back and reconciles again.
    ``connection_problems``: Notion connections preflight left out of the run, and why (a warning)."""
    store = ctx.store
    run = store.get_run(ctx.run_id)
    if run is None:
        raise KeyError(f"no sync run {ctx.run_id!r}: extract_to_staging starts it")
    batches = store.list_batches(ctx.run_id)
    pending = [b.batch_index for b in batches if b.status != STATUS_DONE]
    now = ctx.clock()
    duration = max((now - run.started_at).total_seconds(), 1e-6)
    sync_seconds = _sync_seconds(batches, now)
    achieved = run.notion_requests / sync_seconds if sync_seconds else 0.0
    status = RUN_INCOMPLETE if pending else RUN_PARTIAL if run.failed or run.unresolved else RUN_SUCCESS

    watermark = None
    params = run.params or {}
    # a run over given record ids (the fast lane) or a window (a backfill) says nothing about what else
    # changed: no watermark
    live = params.get("effective_mode") in (KIND_INCREMENTAL, KIND_FULL)
    if params.get("mode") == KIND_INCREMENTAL and live and not ctx.dry_run:
        if pending:
            log.warning("run %s: batches %s not done; the watermark stays where it is", ctx.run_id, pending)
        else:
            watermark = _advance_watermark(ctx)
            if reconciled or not params.get("reconcile"):
                _advance_deletes_watermark(ctx, params)
            else:
                log.warning("run %s: the reconcile it needed did not complete; deletes stay uncovered", ctx.run_id)

    summary = {
        "run_id": run.run_id,
        "object": run.object_name,
        "kind": run.kind,
        "status": status,
        "dry_run": ctx.dry_run,
        "total": run.total,
        "processed": run.processed,
        "created": run.created,
        "updated": run.updated,
        "skipped": run.skipped,
        "trashed": run.trashed,
        "failed": run.failed,
        "rate_limited_429s": run.rate_limited_429s,
        "notion_requests": run.notion_requests,
        "adopted": run.adopted,
        "unresolved": run.unresolved,
        "duplicates_trashed": run.duplicates_trashed,
        "batches": len(batches),
        "batches_not_done": pending,
        "duration_s": round(duration, 3),
        "sync_seconds": round(sync_seconds, 3),
        "records_per_s": round(run.processed / duration, 3),
        "achieved_rps": round(achieved, 3),
        "budget_rps": ctx.budget_rps,
        # over the windows the batches spanned: a run shorter than a window could have used all of one
        "budget_use": round(ctx.budget.use(run.notion_requests, sync_seconds), 3),
        "budget": ctx.budget.as_dict(),
        "rate_limited_by_reason": run.rate_limited_by_reason,
        "watermark": watermark,
        # how often the run was resumed on its finished extraction (its counts span every attempt)
        "resumes": params.get(RESUMES_KEY, 0),
    }
    if ctx.notion_connection_ids:
        summary["notion_connections"] = list(ctx.notion_connection_ids)
    if connection_problems:
        summary["notion_connection_problems"] = list(connection_problems)
    if KIND_RESYNC in params:
        summary.update(resync=params[KIND_RESYNC], deletes=params.get("deletes"))
    store.finish_run(ctx.run_id, status, summary, records_per_s=summary["records_per_s"], achieved_rps=achieved,
                     now=now)
    if not pending:
        store.clear_staging(ctx.run_id)  # kept while a batch may still be re-run
    log.info("run %s %s: %s", ctx.run_id, status, _one_line(summary))
    return summary


def _sync_seconds(batches: list[BatchInfo], now: datetime) -> float:
    """Wall time of the batch phase: first batch start to last batch end (parallel batches overlap)."""
    starts = [b.started_at for b in batches if b.started_at]
    if not starts:
        return 0.0
    ends = [b.finished_at or now for b in batches if b.started_at]
    return max((max(ends) - min(starts)).total_seconds(), 1e-6)


def _advance_watermark(ctx: SyncContext) -> str | None:
    top: datetime | None = None
    ids: set[str] = set()
    for record in ctx.store.iter_staging(ctx.run_id):
        stamp = record.system_modstamp
        if stamp is None:
            continue
        if top is None or stamp > top:
            top, ids = stamp, {record.sf_id}
        elif stamp == top:
            ids.add(record.sf_id)
    if top is None:
        return None
    stored = ctx.store.advance_watermark(ctx.object_name, top, ids, now=ctx.clock())
    return stored.value.isoformat()


def _advance_deletes_watermark(ctx: SyncContext, params: dict[str, Any]) -> None:
    covered = parse_sf_datetime(params.get("deletes_covered_until"))
    if covered is not None:
        ctx.store.advance_watermark(ctx.object_name, covered, kind=DELETES_WATERMARK, now=ctx.clock())


def _one_line(summary: dict[str, Any]) -> str:
    keys = ("total", "created", "updated", "skipped", "trashed", "failed", "adopted", "unresolved",
            "duplicates_trashed", "rate_limited_429s", "duration_s", "achieved_rps", "budget_rps")
    return ", ".join(f"{k}={summary[k]}" for k in keys)

