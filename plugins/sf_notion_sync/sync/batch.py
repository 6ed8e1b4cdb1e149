"""sync_batch: write one planned seq range of the run's staging to Notion, resumable from a cursor.

When the shared limiter asks for a wait longer than the defer threshold, everything before the
current record is committed and the outcome says where to resume and how long to wait, so the
operator can defer to the triggerer (holding no worker slot) and call again with the cursor.
After the last record, the batch settles the creates whose outcome is unknown (sync/intents.py);
cursor ``last_seq + 1`` resumes into that step alone.
"""

from __future__ import annotations

import time
from typing import Any

from sf_notion_sync.notion.errors import DeferRequested
from sf_notion_sync.state.rows import BatchInfo, Counters, StagedRecord

from .context import SyncContext
from .iterutil import chunked
from .outcome import BatchOutcome
from .writer import RecordWriter

CHUNK = 200
"""Records whose map entries, intents and open failures are read with one query each."""
STATUS_DONE, STATUS_DEFERRED = "done", "deferred"


def sync_batch(
    ctx: SyncContext, batch: dict[str, Any], *, cursor: int | None = None, allow_defer: bool = True
) -> BatchOutcome:
    """Process records ``cursor or first_seq .. last_seq`` of the batch; JSON-ready outcome."""
    run_id, index = str(batch["run_id"]), int(batch["batch_index"])
    first, last = int(batch["first_seq"]), int(batch["last_seq"])
    start = first if cursor is None else int(cursor)
    if not first <= start <= last + 1:
        raise ValueError(f"cursor {cursor} is outside batch {index} (seq {first}..{last})")
    store = ctx.store
    prior = None if cursor is None else store.get_batch(run_id, index)
    if prior is None:
        store.start_batch(run_id, index, now=ctx.clock())

    writer = RecordWriter(ctx, allow_defer=allow_defer)
    began = time.monotonic()
    next_cursor, wait = None, 0.0
    try:
        for chunk in chunked(store.iter_staging(run_id, start, last), CHUNK):
            writer.process(chunk)
        writer.resolve(_with_open_intents(ctx, run_id, first, last), resume_seq=last + 1)
    except DeferRequested as exc:
        next_cursor, wait = writer.current_seq, exc.wait_seconds
    finally:
        writer.flush()
    counts = _carried(prior)
    counts.add(writer.tally)
    seconds = time.monotonic() - began + ((prior.seconds or 0.0) if prior else 0.0)
    done = next_cursor is None
    store.finish_batch(
        run_id,
        index,
        STATUS_DONE if done else STATUS_DEFERRED,
        counts,
        seconds=seconds,
        record_metric=done and not ctx.dry_run,
        now=ctx.clock(),
    )
    return BatchOutcome(run_id, index, done, next_cursor, round(wait, 3), counts, round(seconds, 3))


def _with_open_intents(ctx: SyncContext, run_id: str, first: int, last: int) -> list[StagedRecord]:
    """The batch's records whose create may have been sent without its outcome being recorded."""
    found: list[StagedRecord] = []
    for chunk in chunked(ctx.store.iter_staging(run_id, first, last), CHUNK):
        open_ = {i.sf_id for i in ctx.store.open_intents(ctx.object_name, [r.sf_id for r in chunk])}
        found += [r for r in chunk if r.sf_id in open_]
    return found


def _carried(prior: BatchInfo | None) -> Counters:
    """Counters of the batch's earlier, deferred part; costs (429s, requests) are not carried: the store
    adds them up across attempts, and carrying them too would count them twice."""
    if prior is None:
        return Counters()
    return Counters(
        processed=prior.processed,
        created=prior.created,
        updated=prior.updated,
        skipped=prior.skipped,
        failed=prior.failed,
        adopted=prior.adopted,
        unresolved=prior.unresolved,
    )
