"""Extract: stream Salesforce records into the run's staging table, never into memory or XCom.

Full mode reads every record; incremental mode reads ``SystemModstamp >= watermark - overlap``
(one row per Id: the staging upsert keeps the latest SystemModstamp) and adds the Ids getDeleted
reports. When getDeleted can no longer reach back to the watermark (15 days, or a purged delete log),
deletes would be missed, so the run says so and falls back to a
full extraction: reconcile then trashes what is gone. ``record_ids`` (retries, the fast lane)
re-reads exactly those records, deleted ones included, so a retry never writes a stale copy.
A ``resync`` window (sync/resync.py) reads exactly the records whose SystemModstamp lies in it, and
the deletes getDeleted reports within it while its 15 days still reach the window's start (else the
run says deletes were not checked); it moves no cursor, so it reads no watermark either.

An incremental run's ``limit`` (its share of the budget) counts only records that need work: the
overlap re-read of records at or before the watermark that Notion already holds is dropped, so a
chain of limited runs always moves forward, also through a large burst of one SystemModstamp.

Resuming: an extraction that finished says so in its run (``extracted_at`` in the run's params, with
the count it staged). A re-run of the task for that run (a cleared or retried task of an interrupted
run) whose staging is still whole returns the same result without reading Salesforce again; an
extraction that did not finish, or whose staging is gone (the run finished), extracts afresh.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from sf_notion_sync.salesforce.extract import (
    DELETED_WINDOW,
    DeletedWindowMissed,
    ExtractStats,
    deleted_since,
    extract,
)
from sf_notion_sync.salesforce.limits import check_budget
from sf_notion_sync.salesforce.soql import quote
from sf_notion_sync.state.rows import StagedRecord

from .context import KIND_FULL, KIND_INCREMENTAL, KIND_RECORDS, KIND_RESYNC, SyncContext
from .iterutil import chunked
from .mapping import RecordBuilder
from .resync import Resync
from .timeutil import parse_sf_datetime

log = logging.getLogger(__name__)

DELETES_WATERMARK = "deleted"
"""Watermark kind: how far getDeleted has covered, advanced with the records watermark."""
INCREMENTAL_OVERLAP = timedelta(minutes=5)
"""Re-read a little before the watermark: covers Salesforce commit lag around SystemModstamp."""
BUILD_CHUNK = 500
IDS_PER_QUERY = 200
"""Record ids per ``Id IN (...)`` query: keeps each SOQL far below Salesforce's length limit."""
MODES = (KIND_FULL, KIND_INCREMENTAL)
EXTRACTED_KEY = "extracted_at"
"""In a run's params once its extraction finished: when (ISO); beside it ``staged``, what it staged."""
RESUMES_KEY = "resumes"
"""In a run's params: how often an interrupted run was resumed on its complete staging."""


def extract_to_staging(
    ctx: SyncContext,
    *,
    limit: int | None = None,
    mode: str = KIND_FULL,
    record_ids: Iterable[str] | None = None,
    resync: Resync | None = None,
) -> dict[str, Any]:
    """Stage the run's records and return JSON-ready counts (``staged``, ``deleted``, ``mode``...).

    Re-running it for the same run returns the finished extraction's result while its staging is
    whole (nothing read again); otherwise it replaces that run's staging (idempotent task retries).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if resync is not None and record_ids is not None:
        raise ValueError("give record_ids or a re-sync window, not both")
    started = time.monotonic()
    obj, store = ctx.obj, ctx.store
    if (done := _finished_extraction(ctx)) is not None:
        return done
    check_budget(ctx.sf())  # past 80% of Salesforce's daily API limit: stop here, with the figures
    ids = None if record_ids is None else sorted(set(record_ids))
    kind = KIND_RECORDS if ids is not None else KIND_RESYNC if resync else mode
    result: dict[str, Any] = {"run_id": ctx.run_id, "object": obj.name, "mode": mode}

    since = None
    deleted: list[str] = []
    if resync is not None:
        result[KIND_RESYNC] = resync.as_params()
        deleted, result["deletes"] = _deleted_in_window(ctx, resync)
    elif mode == KIND_INCREMENTAL and ids is None:
        watermark = store.get_watermark(obj.name)
        if watermark is not None:
            since = watermark.value
            covered = store.get_watermark(obj.name, DELETES_WATERMARK)
            # deletes are covered on their own cursor: records untouched for 15 days must not force a fallback
            try:
                deleted, result["deletes_covered_until"] = _deleted_ids(
                    ctx, covered.value if covered else since - INCREMENTAL_OVERLAP
                )
            except DeletedWindowMissed as exc:
                log.warning("%s; falling back to a full, unlimited extraction and a reconcile", exc)
                result["fallback"] = str(exc)
                since = None
        if since is None:
            # the first run, or the deletes window missed: reconcile needs every record, and then has
            # covered the deletes up to now
            result.update(reconcile=True, deletes_covered_until=ctx.clock().isoformat())
            limit = None
        result["since"] = since.isoformat() if since else None
    result["effective_mode"] = kind if kind in (KIND_RECORDS, KIND_RESYNC) else KIND_INCREMENTAL if since else KIND_FULL
    result["limit"] = limit

    store.start_run(ctx.run_id, ctx.dag_id, obj.name, kind, params=result, budget_rps=ctx.budget_rps)
    store.set_run_params(ctx.run_id, result)  # a re-extracted run: its earlier result no longer holds
    store.clear_staging(ctx.run_id)
    store.plan_batches(ctx.run_id, obj.name, [])  # the plan covered the old staging

    builder = RecordBuilder(ctx)
    # Ids reported deleted, or asked for: those the extraction does not return are gone from Salesforce
    # (or outside the WHERE filter) and are staged as deleted, so their pages are trashed per policy.
    unseen = set(deleted) | set(ids or ())
    stats: list[ExtractStats] = []

    def staged_records() -> Iterator[StagedRecord]:
        room = limit
        # a limited incremental run stops at its share, so it needs cursor order (the watermark follows it)
        ordered = since is not None and limit is not None
        for records in _extractions(ctx, since, None if since else limit, ids, stats, resync, ordered):
            for chunk in chunked(records, BUILD_CHUNK):
                unseen.difference_update(record["Id"] for record in chunk)
                built = builder.stage(chunk)
                if since is None:
                    yield from built
                    continue
                built = _drop_synced_overlap(ctx, built, since)[:room]
                yield from built
                if room is not None and (room := room - len(built)) <= 0:
                    return

    staged = store.append_staging(ctx.run_id, obj.name, staged_records())
    gone = sorted(unseen)
    staged += store.append_staging(ctx.run_id, obj.name, (builder.deleted(i) for i in gone))
    result.update(
        staged=staged,
        deleted=len(gone),
        extract=[s.as_dict() for s in stats],
        seconds=round(time.monotonic() - started, 3),
    )
    result[EXTRACTED_KEY] = ctx.clock().isoformat()
    store.set_run_params(ctx.run_id, result, total=staged)
    log.info("staged %d %s records for run %s (%s)", staged, obj.name, ctx.run_id, result["effective_mode"])
    return result


def _finished_extraction(ctx: SyncContext) -> dict[str, Any] | None:
    """The result of the run's finished extraction while its staging is whole, the run marked running
    again; None when there is none (first call, killed mid-extraction, or staging cleared at finish)."""
    run = ctx.store.get_run(ctx.run_id)
    result = dict(run.params or {}) if run is not None else {}
    if EXTRACTED_KEY not in result or ctx.store.count_staging(ctx.run_id) != result.get("staged"):
        return None
    result[RESUMES_KEY] = result.get(RESUMES_KEY, 0) + 1
    ctx.store.start_run(ctx.run_id, ctx.dag_id, ctx.object_name, run.kind, budget_rps=ctx.budget_rps)
    ctx.store.set_run_params(ctx.run_id, result)
    log.info("run %s: its extraction finished at %s and its %d staged records are whole: resumed on them, "
             "Salesforce not read again", ctx.run_id, result[EXTRACTED_KEY], result["staged"])
    return result


def _deleted_ids(ctx: SyncContext, start: datetime) -> tuple[list[str], str | None]:
    """Ids getDeleted reports since ``start``, and up to when it covered (the next run starts there:
    Salesforce answers at a coarser grain than a run's start, so "now" is not what was covered)."""
    now = ctx.clock()
    if start < now - DELETED_WINDOW:  # checked here too: deleted_since refuses long spans with a ValueError
        raise DeletedWindowMissed(ctx.object_name, start, now - DELETED_WINDOW)
    if now.replace(microsecond=0) <= start:
        # getDeleted sees whole seconds and refuses start >= end: a run chained within the same second
        # asks nothing and leaves the deletes cursor where it is, for the next run to cover
        return [], start.isoformat()
    answer = deleted_since(ctx.sf(), ctx.object_name, start, now=now)
    return sorted({record_id for record_id, _ in answer.records}), answer.latest_date_covered


def _deleted_in_window(ctx: SyncContext, resync: Resync) -> tuple[list[str], dict[str, Any]]:
    """Ids deleted within the window and still deleted (an undeleted record is alive, its new stamp
    outside the window), with what was checked; nothing, and why, when getDeleted cannot reach back."""
    now = ctx.clock()
    if resync.start is None:
        return [], {"checked": False, "reason": "the window has no start: getDeleted needs one"}
    if resync.start < now - DELETED_WINDOW:
        missed = DeletedWindowMissed(ctx.object_name, resync.start, now - DELETED_WINDOW)
        return [], {"checked": False, "reason": str(missed)}
    # getDeleted reads whole minutes (a wider span only finds more records that are deleted now)
    start = resync.start.replace(second=0, microsecond=0)
    end = max(min(resync.end or now, now), start + timedelta(minutes=1))
    if end > now:
        return [], {"checked": False, "reason": "getDeleted reads whole minutes: the window's first is not over"}
    try:
        answer = deleted_since(ctx.sf(), ctx.object_name, start, end, now=now)
    except DeletedWindowMissed as exc:  # Salesforce purged its delete log past what the window needs
        return [], {"checked": False, "reason": str(exc)}
    reported = sorted({record_id for record_id, _ in answer.records})
    alive: set[str] = set()
    for records in _extractions(ctx, None, None, reported, []):
        alive.update(r["Id"] for r in records if not r.get("IsDeleted"))
    gone = [i for i in reported if i not in alive]
    report = {"checked": True, "covered_until": answer.latest_date_covered, "found": len(gone)}
    covered = parse_sf_datetime(answer.latest_date_covered)
    if resync.end is not None and (covered is None or covered < resync.end):
        report.update(checked=False, reason=f"getDeleted covered the window only until {answer.latest_date_covered}")
    return gone, report


def _drop_synced_overlap(ctx: SyncContext, staged: list[StagedRecord], watermark: datetime) -> list[StagedRecord]:
    """Without the records at or before the watermark that need no work: Notion holds their content, or
    an open sync_log entry for this very version is the retry DAG's to handle."""
    old = {r.sf_id: r for r in staged if r.system_modstamp is not None and r.system_modstamp <= watermark}
    if not old:
        return staged
    entries = ctx.store.get_record_map(ctx.object_name, old)
    failures = ctx.store.open_failures(ctx.object_name, old)

    def synced(record: StagedRecord) -> bool:
        entry, failure = entries.get(record.sf_id), failures.get(record.sf_id)
        held = (entry is not None and not entry.trashed and entry.content_hash == record.content_hash
                and entry.mapping_version == ctx.mapping_version)
        return held or (failure is not None and failure.sf_system_modstamp == record.system_modstamp)

    return [r for r in staged if r.sf_id not in old or not synced(r)]


def _extractions(
    ctx: SyncContext, since: Any, limit: int | None, ids: list[str] | None, stats: list[ExtractStats],
    resync: Resync | None = None, ordered: bool = False,
) -> Iterator[Iterable[dict[str, Any]]]:
    """One streamed extraction (from the watermark less the overlap, or over exactly the ``resync``
    window), or one per slice of ``ids``; each one's stats fill while it streams."""
    obj = ctx.obj
    fields = [f for f in obj.fields if f not in ("Id", "SystemModstamp")]
    common = {"threshold": obj.extraction.bulk_threshold, "config_path": f"objects.{obj.name}"}
    if ids is None:
        if resync is not None:
            bounds = {"since": resync.start, "until": resync.end}
        else:
            bounds = {"since": since, "overlap": INCREMENTAL_OVERLAP}
        extraction = extract(ctx.sf(), obj.name, fields, obj.where, limit=limit, ordered=ordered, **bounds, **common)
        stats.append(extraction.stats)
        yield extraction
        return
    for chunk in chunked(iter(ids), IDS_PER_QUERY):
        where = f"Id IN {quote(chunk)}"
        if obj.where:
            where = f"({obj.where}) AND {where}"
        extraction = extract(ctx.sf(), obj.name, fields, where, include_deleted=True, **common)
        stats.append(extraction.stats)
        yield extraction
