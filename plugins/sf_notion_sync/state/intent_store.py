"""Create intents (invariant 2): a create is noted before it is sent, so an unknown outcome is looked up."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select

from sf_notion_sync.state.base import IN_CHUNK, StoreBase, _chunks, _row, utcnow
from sf_notion_sync.state.db import write_connection
from sf_notion_sync.state.models import SyncIntent
from sf_notion_sync.state.rows import Intent

_intent = SyncIntent.__table__


class IntentStore(StoreBase):
    """Open creates whose outcome is not yet known."""

    def write_intents(
        self, object_name: str, sf_ids: Iterable[str], run_id: str, at: datetime | None = None
    ) -> None:
        """Note creates about to be sent; committed before the first request goes out."""
        at = at or utcnow()
        rows = [
            {"object_name": object_name, "sf_id": i, "run_id": run_id, "created_at": at}
            for i in sorted(sf_ids)
        ]
        if not rows:
            return
        stmt = self._insert(_intent)
        stmt = stmt.on_conflict_do_update(
            index_elements=["object_name", "sf_id"],
            set_={"run_id": stmt.excluded.run_id, "created_at": stmt.excluded.created_at},
        )
        with write_connection(self.engine) as conn:
            conn.execute(stmt, rows)

    def claim_intent(self, object_name: str, sf_id: str, run_id: str, at: datetime | None = None) -> bool:
        """Write the record's create intent unless one is open (another run is creating its page): the
        claim and the check are one statement, so two runs never both create it."""
        stmt = self._insert(_intent).values(object_name=object_name, sf_id=sf_id, run_id=run_id,
                                            created_at=at or utcnow())
        with write_connection(self.engine) as conn:
            return conn.execute(stmt.on_conflict_do_nothing(index_elements=["object_name", "sf_id"])).rowcount == 1

    def clear_intents(self, object_name: str, sf_ids: Iterable[str]) -> int:
        count = 0
        with write_connection(self.engine) as conn:
            for chunk in _chunks(sorted(sf_ids), IN_CHUNK):
                count += conn.execute(
                    delete(_intent).where(_intent.c.object_name == object_name, _intent.c.sf_id.in_(chunk))
                ).rowcount
        return count

    def open_intents(
        self, object_name: str | None = None, sf_ids: Iterable[str] | None = None
    ) -> list[Intent]:
        """Creates whose outcome is unknown: look these pages up by Salesforce Id before creating again."""
        query = select(_intent).order_by(_intent.c.object_name, _intent.c.sf_id)
        if object_name is not None:
            query = query.where(_intent.c.object_name == object_name)
        with self.engine.connect() as conn:
            if sf_ids is None:
                return [_row(Intent, r) for r in conn.execute(query)]
            return [
                _row(Intent, r)
                for chunk in _chunks(sf_ids, IN_CHUNK)
                for r in conn.execute(query.where(_intent.c.sf_id.in_(chunk)))
            ]
