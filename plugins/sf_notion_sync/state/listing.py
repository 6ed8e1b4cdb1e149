"""PageListing: a data source's live pages by Salesforce Id, in a temporary table of the state database.

The duplicate sweep (sync/dedupe.py) must find the Ids that have more than one page among up to
millions of pages; held in a Python dict they would not fit the bounded memory invariant 5 promises,
so the listing streams into a table and a GROUP BY finds them.

Why a temporary table rather than a new one (or the staging table under a made-up run id): it needs
no migration and no column reused for what it was not made for; it lives in one connection's
session, so concurrent sweeps never see each other's rows; and a sweep that dies leaves nothing
behind, since the table goes with its connection. SQLite keeps it in a temp file beside the
database, PostgreSQL in the session's temp schema. The connection is held for the whole sweep, but
each statement runs in its own short transaction, so nothing stays locked while Notion is queried.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

from sqlalchemy import Column, Engine, MetaData, String, Table, func, select
from sqlalchemy.dialects import postgresql, sqlite

INSERT_CHUNK = 1_000
IDS_PER_READ = 500  # Ids per IN (...) list; far below SQLite's bound-parameter limit

_pages = Table(
    "sf_notion_sync_page_listing",
    MetaData(),
    Column("sf_id", String(255), primary_key=True),
    Column("page_id", String(64), primary_key=True),
    Column("created_time", String(40), nullable=False),
    prefixes=["TEMPORARY"],
)


@dataclass(frozen=True, slots=True)
class ListedPage:
    page_id: str
    created_time: str
    """As Notion reports it (ISO 8601, UTC, one format), so text order is time order."""


class PageListing:
    """Use as a context manager: the table exists inside the ``with`` block only."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        dialect = sqlite if engine.dialect.name == "sqlite" else postgresql
        # a page listed twice (a window boundary) is one row
        self._insert = dialect.insert(_pages).on_conflict_do_nothing()
        self._conn: Any = None

    def __enter__(self) -> PageListing:
        self._conn = self.engine.connect()
        with self._conn.begin():
            _pages.drop(self._conn, checkfirst=True)  # a pooled connection may still hold an earlier one
            _pages.create(self._conn)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            with self._conn.begin():
                _pages.drop(self._conn)
        finally:
            self._conn.close()

    def add(self, pages: Iterable[tuple[str, str, str]]) -> None:
        """Store ``(sf_id, page_id, created_time)`` rows, pulled lazily, one transaction per chunk."""
        iterator = iter(pages)
        while chunk := list(islice(iterator, INSERT_CHUNK)):
            with self._conn.begin():
                self._conn.execute(
                    self._insert, [{"sf_id": s, "page_id": p, "created_time": c} for s, p, c in chunk]
                )

    def iter_duplicates(self, chunk_size: int = IDS_PER_READ) -> Iterator[list[tuple[str, list[ListedPage]]]]:
        """Chunks of ``(sf_id, pages oldest first)`` for every Id listed more than once, in Id order."""
        after = ""
        while True:
            with self._conn.begin():
                ids = self._conn.execute(
                    select(_pages.c.sf_id)
                    .where(_pages.c.sf_id > after)
                    .group_by(_pages.c.sf_id)
                    .having(func.count() > 1)
                    .order_by(_pages.c.sf_id)
                    .limit(chunk_size)
                ).scalars().all()
                rows = self._conn.execute(
                    select(_pages)
                    .where(_pages.c.sf_id.in_(ids))
                    .order_by(_pages.c.sf_id, _pages.c.created_time, _pages.c.page_id)
                ).all() if ids else []
            groups: dict[str, list[ListedPage]] = {}
            for row in rows:
                groups.setdefault(row.sf_id, []).append(ListedPage(row.page_id, row.created_time))
            if groups:
                yield list(groups.items())
            if len(ids) < chunk_size:
                return
            after = ids[-1]
