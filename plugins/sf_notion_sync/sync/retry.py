"""Retry (issue 7): choose the failed records that are due; the caller then runs them as a records run.

A retry never writes a stale copy: ``extract_to_staging(ctx, record_ids=select_due(ctx))`` re-reads
each record from Salesforce, and the batches write it as any run would (unchanged ones are skipped,
successes close their sync_log rows, failures count another attempt and become Dead after the
policy's maximum). A fatal (validation) failure is Dead at once (state/store.py ``record_failures``:
shown and alerted with its reason) and only due again once its record's SystemModstamp or the
mapping version changed: re-sending the same input would fail the same way.
"""

from __future__ import annotations

from typing import Any

from sf_notion_sync.salesforce.extract import extract
from sf_notion_sync.salesforce.soql import quote
from sf_notion_sync.state.models import STATUS_DEAD, STATUS_FAILED

from .context import SyncContext
from .iterutil import chunked
from .staging import IDS_PER_QUERY
from .timeutil import parse_sf_datetime

DEFAULT_LIMIT = 1000


def select_due(ctx: SyncContext, limit: int = DEFAULT_LIMIT) -> list[str]:
    """Salesforce Ids to retry now, at most ``limit``: rate-limited first, then the oldest failures,
    then fatal failures whose input changed."""
    store, name = ctx.store, ctx.object_name
    due = [e.sf_id for e in store.due_for_retry(ctx.clock(), name, limit)]
    room = limit - len(due)
    if room > 0:
        fatal = [e for e in store.open_failures(name).values() if e.fatal and e.status in (STATUS_DEAD, STATUS_FAILED)]
        fatal.sort(key=lambda e: (e.created_at, e.id))
        due += _changed_since_failure(ctx, fatal)[:room]
    return due


def _changed_since_failure(ctx: SyncContext, failures: list[Any]) -> list[str]:
    """Failures whose mapping version differs, or whose record's SystemModstamp moved (one SOQL per slice)."""
    changed = [f.sf_id for f in failures if f.mapping_version != ctx.mapping_version]
    stale = {f.sf_id: f.sf_system_modstamp for f in failures if f.mapping_version == ctx.mapping_version}
    for ids in chunked(sorted(stale), IDS_PER_QUERY):
        for record in extract(ctx.sf(), ctx.object_name, [], f"Id IN {quote(ids)}"):
            if parse_sf_datetime(record.get("SystemModstamp")) != stale[record["Id"]]:
                changed.append(record["Id"])
    return changed
