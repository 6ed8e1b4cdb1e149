"""Records as streams over the generator plus the mutation overlay, in the order a query asks for.

Index order is Id order and (for generated values) SystemModstamp order, so ORDER BY Id and
ORDER BY SystemModstamp [, Id] stream without sorting, whatever the record count. Any other
ORDER BY sorts (key, index) pairs of the matching records in memory, refused past SORT_LIMIT matches
with QUERY_TIMEOUT: sort large sets by Id or SystemModstamp, as a real extraction does.
Bulk API 2.0 without ORDER BY streams PK chunks (Id ranges) in the order parallel chunk jobs finish.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import random
from collections.abc import Iterator
from pathlib import Path

from ..datagen import Generator, Overlay, OverlayRow, parse_id
from ..datagen.generator import index_floor_for_stamp
from .errors import SalesforceError
from .soql import Query, compile_predicate, id_values, sort_key, stamp_bounds

SORT_LIMIT = 200_000
_PREFIX = {"Account": "001", "Contact": "003", "Opportunity": "006"}


class RecordStore:
    def __init__(self, gen: Generator, state_dir: Path) -> None:
        self.gen = gen
        self.overlay = Overlay(Path(state_dir) / "salesforce_overlay.sqlite3")

    def close(self) -> None:
        self.overlay.close()

    def snapshot(self, obj: str) -> dict[int, OverlayRow]:
        return self.overlay.rows(obj)

    def record(self, obj: str, index: int, rows: dict[int, OverlayRow]) -> dict:
        rec = self.gen.record(obj, index)
        row = rows.get(index)
        if row is not None:
            rec.update(row.fields)
            rec["IsDeleted"] = row.is_deleted
            rec["SystemModstamp"] = row.stamp
        return rec

    def find(self, obj: str, record_id: str) -> dict | None:
        index = parse_id(record_id, _PREFIX[obj])
        if index is None or index >= self.gen.count(obj):
            return None
        return self.record(obj, index, self.overlay.rows(obj))

    def _base_range(self, query: Query) -> tuple[int, int]:
        n = self.gen.count(query.obj.name)
        lo_stamp, hi_stamp = stamp_bounds(query.where)
        lo = 0 if lo_stamp is None else min(n, index_floor_for_stamp(lo_stamp))
        hi = n if hi_stamp is None else min(n, index_floor_for_stamp(hi_stamp) + 3)
        return lo, hi

    def stream_pk_chunks(self, query: Query, include_deleted: bool, rows: dict[int, OverlayRow], chunk_size: int,
                         seed: str) -> Iterator[dict]:
        """Bulk order for a query without ORDER BY: Id order inside each chunk of `chunk_size` indexes,
        the chunks shuffled by `seed` (one job replays its own order); LIMIT applies to the whole."""
        n = self.gen.count(query.obj.name)
        starts = list(range(0, n, chunk_size))
        random.Random(seed).shuffle(starts)
        bare = dataclasses.replace(query, limit=None, offset=0)
        by_chunk: dict[int, dict[int, OverlayRow]] = {}
        for index, row in rows.items():  # each chunk sees its own overlay rows only
            by_chunk.setdefault(index - index % chunk_size, {})[index] = row
        out = itertools.chain.from_iterable(
            self.stream(bare, include_deleted, by_chunk.get(a, {}), range(a, min(n, a + chunk_size))) for a in starts)
        stop = None if query.limit is None else query.offset + query.limit
        return itertools.islice(out, query.offset, stop)

    def stream(self, query: Query, include_deleted: bool, rows: dict[int, OverlayRow] | None = None,
               within: range | None = None) -> Iterator[dict]:
        """Matching records in query order, after OFFSET and LIMIT; generated one at a time.
        `within` keeps only the record indexes in that range (one PK chunk)."""
        obj = query.obj.name
        rows = self.overlay.rows(obj) if rows is None else rows
        pred = compile_predicate(query.where)

        def keep(rec: dict) -> bool:
            return (include_deleted or not rec["IsDeleted"]) and pred(rec)

        def base(indexes) -> Iterator[dict]:
            for i in indexes:
                if i not in rows:
                    rec = self.record(obj, i, rows)
                    if keep(rec):
                        yield rec

        n = self.gen.count(obj)
        ids = id_values(query.where)
        if ids is not None:
            parsed = (parse_id(v, _PREFIX[obj]) for v in ids)
            found = {i for i in parsed if i is not None and i < n}
            index_lists = (sorted(i for i in found if i not in rows), sorted(i for i in found if i in rows))
        else:
            lo, hi = self._base_range(query)
            index_lists = (range(lo, hi), sorted(rows))
        if within is not None:
            base_all, over_all = index_lists
            index_lists = ([i for i in base_all if i in within] if ids is not None
                           else range(max(base_all.start, within.start), min(base_all.stop, within.stop)),
                           [i for i in over_all if i in within])

        def overlaid(indexes) -> list[dict]:
            return [rec for rec in (self.record(obj, i, rows) for i in indexes) if keep(rec)]

        base_idx, over_idx = index_lists
        order = [(f.name, desc) for f, desc, _ in query.order]
        desc = bool(order) and order[0][1]
        if not order or order[0][0] == "Id":
            out = heapq.merge(base(_ordered(base_idx, desc)), overlaid(sorted(over_idx, reverse=desc)),
                              key=lambda r: r["Id"], reverse=desc)
        elif order[0][0] == "SystemModstamp" and (len(order) == 1 or order[1:] == [("Id", desc)]):
            key = lambda r: (r["SystemModstamp"], r["Id"])  # noqa: E731
            extra = sorted(overlaid(over_idx), key=key, reverse=desc)
            out = heapq.merge(base(_ordered(base_idx, desc)), extra, key=key, reverse=desc)
        else:
            out = self._sorted(query, obj, rows, itertools.chain(base(base_idx), overlaid(over_idx)))
        stop = None if query.limit is None else query.offset + query.limit
        return itertools.islice(out, query.offset, stop)

    def _sorted(self, query: Query, obj: str, rows, matches: Iterator[dict]) -> Iterator[dict]:
        key = sort_key(query.order)
        keyed = []
        for rec in matches:
            if len(keyed) >= SORT_LIMIT:
                raise SalesforceError(400, "QUERY_TIMEOUT",
                                      "Your query request was running for too long. (sandbox: ORDER BY other than"
                                      f" Id or SystemModstamp sorts at most {SORT_LIMIT} records)")
            keyed.append((key(rec), rec["Id"]))
        keyed.sort()
        for _, record_id in keyed:
            yield self.record(obj, parse_id(record_id, _PREFIX[obj]), rows)

    def count(self, query: Query, include_deleted: bool, rows: dict[int, OverlayRow] | None = None) -> int:
        obj = query.obj.name
        rows = self.overlay.rows(obj) if rows is None else rows
        if query.where is None:
            total = self.gen.count(obj) - (0 if include_deleted else sum(1 for r in rows.values() if r.is_deleted))
            total = max(0, total - query.offset)
            return total if query.limit is None else min(total, query.limit)
        bare = Query(query.text, query.obj, query.fields, query.count_only, query.where, [], query.limit, query.offset)
        return sum(1 for _ in self.stream(bare, include_deleted, rows))


def _ordered(indexes, desc: bool):
    return reversed(indexes) if desc else indexes
