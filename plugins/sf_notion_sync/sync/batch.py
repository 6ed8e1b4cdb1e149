"""sync_batch: write one planned seq range of the run's staging to Notion, resumable from a cursor.

A batch keeps ``budget.in_flight`` requests in flight: its range is cut into that many contiguous
parts, each written by its own RecordWriter on a thread with its own Notion client (all under the one
shared limiter). A task's round trip is mostly waiting for Notion, so on a large budget a few tasks
could not spend it one request at a time. Each record belongs to exactly one part, so the exactly-once
rules of the writer hold unchanged.

When the shared limiter asks for a wait longer than the defer threshold, everything before the
current record of each part is committed and the outcome says where each part resumes (an int for
one part, a list for several) and how long to wait, so the operator can defer to the triggerer
(holding no worker slot) and call again with the cursor. After the last record, the batch settles the
creates whose outcome is unknown (sync/intents.py); a cursor past every part's end resumes into that
step alone.

Each part saves a checkpoint as its writer commits (sync/checkpoint.py): a batch whose worker was
killed resumes, when its task runs again, after its last committed record; a batch already done is
not written again (a cleared task of a resumed run).

While it runs, a progress thread logs a line at a steady interval and feeds the run's per-minute
metrics (sync/progress.py); values changed on the way are logged once per kind at the end
(sync/changes.py).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from sf_notion_sync.notion.errors import DeferRequested
from sf_notion_sync.state.rows import BatchInfo, Counters, StagedRecord

from .changes import ChangeTally
from .checkpoint import BatchCheckpoint
from .context import SyncContext
from .iterutil import chunked
from .outcome import BatchOutcome, Cursor
from .progress import BatchProgress
from .writer import RecordWriter

log = logging.getLogger(__name__)

CHUNK = 200
"""Records whose map entries, intents and open failures are read with one query each."""
MIN_PART = 20
"""Fewest records worth a part (and a Notion client) of their own."""
COMMIT_EVERY = 50
"""Records a part writes between checkpoints: bounds what a killed worker's batch redoes on resume."""
STATUS_DONE, STATUS_DEFERRED = "done", "deferred"


@dataclass
class _Part:
    """Records ``start .. end`` of the batch, written by one writer; ``start`` moves as they are done."""

    start: int
    end: int
    wait: float | None = None
    """Set when the part deferred: the limiter's wait."""

    @property
    def done(self) -> bool:
        return self.start > self.end


def sync_batch(
    ctx: SyncContext, batch: dict[str, Any], *, cursor: Cursor | None = None, allow_defer: bool = True
) -> BatchOutcome:
    """Process records ``cursor or first_seq .. last_seq`` of the batch; JSON-ready outcome."""
    run_id, index = str(batch["run_id"]), int(batch["batch_index"])
    first, last = int(batch["first_seq"]), int(batch["last_seq"])
    store = ctx.store
    prior = store.get_batch(run_id, index)
    if cursor is None and prior is not None:
        if prior.status == STATUS_DONE:
            log.info("batch %d of run %s is done already: not written again", index, run_id)
            return BatchOutcome(run_id, index, True, None, 0.0, _carried(prior), round(prior.seconds or 0.0, 3))
        cursor = prior.cursor  # where a killed attempt's last checkpoint left it; None: from the start
    parts = _parts(first, last, cursor, ctx.budget.in_flight, index)
    if cursor is None or prior is None:
        prior = None
        store.start_batch(run_id, index, now=ctx.clock())
    checkpoint = BatchCheckpoint(ctx, run_id, index, [p.start for p in parts], _carried(prior),
                                 (prior.seconds or 0.0) if prior else 0.0)

    contexts = [ctx] + [dataclasses.replace(ctx) for _ in parts[1:]]
    writers = [RecordWriter(c, allow_defer=allow_defer) for c in contexts]
    with BatchProgress(ctx, index, last - first + 1, prior.processed if prior else 0, writers,
                       ctx.progress_interval_s):
        _write(contexts, writers, run_id, parts, checkpoint)
        wait = max((p.wait for p in parts if p.wait is not None), default=None)
        if wait is None:  # every record written: settle the unknown creates
            settling = writers[0]
            try:
                settling.resolve(_with_open_intents(ctx, run_id, first, last), resume_seq=last + 1)
            except DeferRequested as exc:
                wait = exc.wait_seconds
            finally:
                settling.flush()
    changes = ChangeTally()
    for writer in writers:
        changes.merge(writer.changes)
    changes.log(log, ctx.object_name, f"batch {index}")
    counts = _carried(prior)
    for writer in writers:
        counts.add(writer.tally)
    seconds = checkpoint.seconds()
    done = wait is None
    next_cursor = None if done else _cursor(parts)
    checkpoint.finish(STATUS_DONE if done else STATUS_DEFERRED, counts, next_cursor,
                      record_metric=done and not ctx.dry_run)
    return BatchOutcome(run_id, index, done, next_cursor, round(wait or 0.0, 3), counts, round(seconds, 3))


def _parts(first: int, last: int, cursor: Cursor | None, in_flight: int, index: int) -> list[_Part]:
    """The batch's parts: ``in_flight`` of them on a first call (fewer for a small batch), else as many
    as the cursor names, each resuming where it stopped. The cut depends on the count alone."""
    if cursor is None:
        count = max(1, min(in_flight, (last - first + 1) // MIN_PART))
        return [_Part(a, b) for a, b in _cut(first, last, count)]
    starts = [int(cursor)] if isinstance(cursor, int) else [int(c) for c in cursor]
    bounds = [(first, last)] if len(starts) == 1 else _cut(first, last, len(starts))
    for start, (a, b) in zip(starts, bounds, strict=True):
        if not a <= start <= b + 1:
            raise ValueError(f"cursor {cursor} is outside batch {index} (seq {first}..{last})")
    return [_Part(start, b) for start, (_, b) in zip(starts, bounds, strict=True)]


def _cut(first: int, last: int, count: int) -> list[tuple[int, int]]:
    """``first .. last`` in ``count`` contiguous ranges of nearly equal size."""
    size, extra = divmod(last - first + 1, count)
    ranges, a = [], first
    for i in range(count):
        b = a + size + (i < extra) - 1
        ranges.append((a, b))
        a = b + 1
    return ranges


def _cursor(parts: list[_Part]) -> Cursor:
    starts = [p.start for p in parts]
    return starts[0] if len(starts) == 1 else starts


def _write(contexts: list[SyncContext], writers: list[RecordWriter], run_id: str, parts: list[_Part],
           checkpoint: BatchCheckpoint) -> None:
    """Write every part, each on its own thread, writer and context (Notion client); the first part
    uses the batch's context itself. Extra contexts are closed here (their 429s reach the run); the
    first error is raised once all parts have stopped and flushed."""
    if len(parts) == 1:
        _write_part(writers[0], run_id, parts[0], partial(checkpoint.committed, 0))
        return
    try:
        with ThreadPoolExecutor(len(parts), thread_name_prefix="batch-part") as pool:
            futures = [pool.submit(_write_part, w, run_id, p, partial(checkpoint.committed, i))
                       for i, (w, p) in enumerate(zip(writers, parts, strict=True))]
        for future in futures:
            future.result()
    finally:
        for extra in contexts[1:]:
            extra.close()


def _write_part(writer: RecordWriter, run_id: str, part: _Part, committed: Callable[[int, Counters], None]) -> None:
    """Write the part's records, committing and reporting to the checkpoint every COMMIT_EVERY."""
    store = writer.ctx.store
    try:
        for chunk in chunked(store.iter_staging(run_id, part.start, part.end), CHUNK):
            for piece in chunked(chunk, COMMIT_EVERY):
                writer.process(piece)
                writer.flush()
                committed(piece[-1].seq + 1, writer.tally)
        part.start = part.end + 1
    except DeferRequested as exc:
        part.start, part.wait = writer.current_seq, exc.wait_seconds
    finally:
        writer.flush()


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
