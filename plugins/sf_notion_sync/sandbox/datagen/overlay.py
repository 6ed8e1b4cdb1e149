"""Mutations over the generated records, kept in SQLite so they survive restarts.

Only changed records are stored (a row per record ever updated, deleted or undeleted), so the
overlay grows with the number of mutations, not with the number of records.
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .generator import Generator, stamp_of

MUTABLE_FIELDS = {
    "Account": ("Name", "Industry", "Rating", "AnnualRevenue", "Description", "Regions__c"),
    "Contact": ("Title", "Email", "Phone", "LeadSource", "Description"),
    "Opportunity": ("StageName", "Amount", "Probability", "IsClosed", "IsWon", "NextStep", "CloseDate"),
}


@dataclass(frozen=True)
class OverlayRow:
    fields: dict
    is_deleted: bool
    stamp: int
    deleted_at: int | None


class Overlay:
    """File-backed overlay: per (object, index) the changed fields, deletion flag and new stamp."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS overlay (obj TEXT NOT NULL, idx INTEGER NOT NULL, fields TEXT NOT NULL,"
            " is_deleted INTEGER NOT NULL, stamp INTEGER NOT NULL, deleted_at INTEGER, version INTEGER NOT NULL,"
            " PRIMARY KEY (obj, idx))"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def rows(self, obj: str) -> dict[int, OverlayRow]:
        """All overlay rows of `obj` (small: one per mutated record)."""
        with self._lock:
            cur = self._db.execute("SELECT idx, fields, is_deleted, stamp, deleted_at FROM overlay WHERE obj = ?", (obj,))
            return {i: OverlayRow(json.loads(f), bool(d), s, da) for i, f, d, s, da in cur.fetchall()}

    def reset(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM overlay")
            self._db.execute("DELETE FROM meta")

    def _meta(self, key: str, default: int = 0) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def _set_meta(self, key: str, value: int) -> None:
        self._db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                         (key, value))

    def mutate(self, gen: Generator, obj: str, update: int = 0, delete: int = 0, undelete: int = 0,
               same_timestamp: bool = False, now_ms: int | None = None) -> dict[str, list[int]]:
        """Apply mutations; returns the affected record indexes per kind.

        Stamps strictly advance past every earlier stamp. Updated records share stamps in pairs
        (all of them with `same_timestamp`), so a cursor must compare with >= and dedupe by Id.
        """
        n = gen.count(obj)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                batch = self._meta("batches") + 1
                self._set_meta("batches", batch)
                rng = random.Random(gen.seed * 7919 + batch)
                floor = max(stamp_of(n) + 1, self._meta("last_stamp") + 1)
                clock = max(floor, now_ms if now_ms is not None else int(time.time() * 1000))
                existing = {i: (bool(d), v) for i, d, v in self._db.execute(
                    "SELECT idx, is_deleted, version FROM overlay WHERE obj = ?", (obj,))}
                result: dict[str, list[int]] = {"updated": [], "deleted": [], "undeleted": []}

                def pick_live(k: int, taken: set[int]) -> list[int]:
                    chosen: list[int] = []
                    for _ in range(8):
                        if len(chosen) >= k or n == 0:
                            break
                        for i in rng.sample(range(n), min(n, 2 * (k - len(chosen)) + 4)):
                            if i not in taken and not existing.get(i, (False, 0))[0] and len(chosen) < k:
                                chosen.append(i)
                                taken.add(i)
                    return chosen

                taken: set[int] = set()
                to_update = pick_live(update, taken)
                for pos, i in enumerate(to_update):
                    stamp = clock if same_timestamp else clock + pos // 2
                    version = existing.get(i, (False, 0))[1] + 1
                    fresh = gen.record(obj, i, version=version)
                    fields = {f: fresh[f] for f in MUTABLE_FIELDS[obj]}
                    fields["LastModifiedDate"] = stamp
                    self._db.execute(
                        "INSERT INTO overlay (obj, idx, fields, is_deleted, stamp, deleted_at, version)"
                        " VALUES (?, ?, ?, 0, ?, NULL, ?) ON CONFLICT(obj, idx) DO UPDATE SET fields = excluded.fields,"
                        " stamp = excluded.stamp, version = excluded.version",
                        (obj, i, json.dumps(fields), stamp, version))
                    result["updated"].append(i)
                if to_update:
                    clock = stamp + 1

                for i in pick_live(delete, taken):
                    self._db.execute(
                        "INSERT INTO overlay (obj, idx, fields, is_deleted, stamp, deleted_at, version)"
                        " VALUES (?, ?, '{}', 1, ?, ?, 0) ON CONFLICT(obj, idx) DO UPDATE SET is_deleted = 1,"
                        " stamp = excluded.stamp, deleted_at = excluded.deleted_at", (obj, i, clock, clock))
                    result["deleted"].append(i)
                if result["deleted"]:
                    clock += 1

                if undelete:
                    rows = self._db.execute(
                        "SELECT idx FROM overlay WHERE obj = ? AND is_deleted = 1 ORDER BY deleted_at, idx LIMIT ?",
                        (obj, undelete)).fetchall()
                    for (i,) in rows:
                        self._db.execute("UPDATE overlay SET is_deleted = 0, stamp = ? WHERE obj = ? AND idx = ?",
                                         (clock, obj, i))
                        result["undeleted"].append(i)
                    if rows:
                        clock += 1
                self._set_meta("last_stamp", clock)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return result
