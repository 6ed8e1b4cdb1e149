"""sync_log rows for the pages the duplicate sweep trashed (sync/dedupe.py).

Each row says which page went and which one the record kept, so a trashed page can be found in
Notion's trash and restored. The rows are closed (status Success) when written: nothing is left to
retry, the retry DAG never picks them up, and a record's one open row (a real failure) is untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert

from sf_notion_sync.state.db import write_connection
from sf_notion_sync.state.models import STATUS_SUCCESS, SyncLog
from sf_notion_sync.state.store import StateStore

OP_DEDUPE = "dedupe"
CODE_DUPLICATE = "duplicate_page"


@dataclass(frozen=True, slots=True)
class TrashedDuplicate:
    sf_id: str
    page_id: str
    kept_page_id: str
    request_id: str | None = None


def log_trashed_duplicates(
    store: StateStore, run_id: str, object_name: str, trashed: Sequence[TrashedDuplicate], now: datetime
) -> None:
    rows = [
        {
            "run_id": run_id,
            "object_name": object_name,
            "sf_id": t.sf_id,
            "operation": OP_DEDUPE,
            "status": STATUS_SUCCESS,
            "error_code": CODE_DUPLICATE,
            "error_message": f"duplicate page {t.page_id} trashed; page {t.kept_page_id} kept",
            "notion_request_id": t.request_id,
            "created_at": now,
            "updated_at": now,
        }
        for t in trashed
    ]
    if rows:
        with write_connection(store.engine) as conn:
            conn.execute(insert(SyncLog.__table__), rows)
