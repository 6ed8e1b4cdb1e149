"""Records of a source other than Salesforce, through the same engine: stage, write, sum up.

Records (mappings keyed by the object's ``id_field``, of an object with ``source: external``) are
staged under the run id like an extraction's, then written by the same batches, so they get what a
Salesforce record gets: the record map (unchanged costs no request), create intents (a lost answer
never makes a second page), sync_log (a failed record is kept with its reason) and the shared Notion
budget. Nothing is read from Salesforce and no watermark moves. A record without an id, or an id
given twice, fails the staging with its position: it could not be kept in sync_log.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from sf_notion_sync.config import SOURCE_EXTERNAL

from .batch import STATUS_DONE, sync_batch
from .context import KIND_RECORDS, SyncContext
from .finish import finish_run
from .iterutil import chunked
from .mapping import RecordBuilder
from .plan import plan_batches
from .staging import BUILD_CHUNK


def stage_external(ctx: SyncContext, records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Stage ``records`` for the run, replacing what it staged before (a task retry); JSON-ready counts."""
    obj, store = ctx.obj, ctx.store
    if obj.source != SOURCE_EXTERNAL:
        raise ValueError(f"{obj.name} is read from Salesforce; give records only to an object with "
                         f"source: external in {ctx.config.path}")
    params = {"mode": KIND_RECORDS, "effective_mode": KIND_RECORDS, "source": SOURCE_EXTERNAL}
    store.start_run(ctx.run_id, ctx.dag_id, obj.name, KIND_RECORDS, params=params, budget_rps=ctx.budget_rps)
    store.clear_staging(ctx.run_id)
    builder = RecordBuilder(ctx)
    built = (s for chunk in chunked(_checked(ctx, records), BUILD_CHUNK) for s in builder.stage(chunk))
    staged = store.append_staging(ctx.run_id, obj.name, built)
    store.set_run_total(ctx.run_id, staged)
    return {"run_id": ctx.run_id, "object": obj.name, "staged": staged}


def upsert_staged(ctx: SyncContext, *, resume: Mapping[str, Any] | None = None,
                  allow_defer: bool = True) -> dict[str, Any]:
    """Write the run's staging, batch after batch, then store its summary.

    Returns ``{"done": True, "summary": ...}``, or, when the budget asks for a long wait,
    ``{"done": False, "batch_index", "cursor", "wait_seconds"}``: call again after the wait with that
    as ``resume``. Without ``resume`` the batches are planned afresh over what is staged."""
    if resume is None:
        plan_batches(ctx)
    for batch in ctx.store.list_batches(ctx.run_id):
        if batch.status == STATUS_DONE:
            continue
        cursor = resume.get("cursor") if resume and resume.get("batch_index") == batch.batch_index else None
        descriptor = {"run_id": batch.run_id, "batch_index": batch.batch_index, "first_seq": batch.first_seq,
                      "last_seq": batch.last_seq}
        outcome = sync_batch(ctx, descriptor, cursor=cursor, allow_defer=allow_defer)
        if not outcome.done:
            return {"done": False, "batch_index": batch.batch_index, "cursor": outcome.next_cursor,
                    "wait_seconds": outcome.wait_seconds}
    return {"done": True, "summary": finish_run(ctx)}


def _checked(ctx: SyncContext, records: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    """Each record as a dict with its id as text; bad input stops here, naming the record's position."""
    obj = ctx.obj
    seen: dict[str, int] = {}
    for position, record in enumerate(records):
        where = f"{obj.name} record #{position}"
        if not isinstance(record, Mapping):
            raise ValueError(f"{where}: expected a mapping of field to value, got a {type(record).__name__}")
        key = record.get(obj.id_field)
        if isinstance(key, bool) or not isinstance(key, str | int) or not str(key).strip():
            raise ValueError(f"{where}: field {obj.id_field!r} (the object's id_field) must be a non-empty "
                             f"string or integer, got a {type(key).__name__}")
        key = str(key).strip()
        if key in seen:
            raise ValueError(f"{where}: id {key!r} was given already as record #{seen[key]}")
        seen[key] = position
        yield {**record, obj.id_field: key}
