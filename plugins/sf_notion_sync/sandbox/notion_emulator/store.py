"""File-backed state: SQLite (WAL) under state_dir, mirrored by in-memory indexes that serve reads.

SQLite rather than a JSON-lines log because pages are updated in place (a log would grow with every
PATCH and need compaction), a restart loads one row per object, and the request log can be read with
`since` without scanning a file. Page and request-log writes are written behind: a flusher thread
commits them in one transaction every FLUSH_INTERVAL_S (and on close or a request-log read), so a
request costs no commit; a crash loses at most that interval, a clean stop loses nothing.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS databases (id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS data_sources (id TEXT PRIMARY KEY, database_id TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    data_source_id TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS requests (
    ts REAL NOT NULL, token TEXT, method TEXT NOT NULL, path TEXT NOT NULL,
    status INTEGER NOT NULL, latency_ms REAL NOT NULL, request_id TEXT NOT NULL, reason TEXT
);
CREATE INDEX IF NOT EXISTS requests_ts ON requests (ts);
"""
FLUSH_INTERVAL_S = 0.1
_UPSERT_PAGE = (
    "INSERT INTO pages (id, data_source_id, body) VALUES (?, ?, ?) "
    "ON CONFLICT(id) DO UPDATE SET body = excluded.body"
)
_REQUEST_FIELDS = ("ts", "token", "method", "path", "status", "latency_ms", "request_id", "reason")
"""`reason`: a 429's additional_data.rate_limit_reason, so 429s can be counted by reason."""


class Store:
    """Objects are plain dicts in the API's read shape; callers mutate a copy and `put_*` it back."""

    def __init__(self, state_dir: Path | str) -> None:
        directory = Path(state_dir)
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "notion_emulator.sqlite3"
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        if "reason" not in {row[1] for row in self._db.execute("PRAGMA table_info(requests)")}:
            self._db.execute("ALTER TABLE requests ADD COLUMN reason TEXT")  # a state dir from before it: appended last
        self.databases: dict[str, dict[str, Any]] = {}
        self.data_sources: dict[str, dict[str, Any]] = {}
        self.pages: dict[str, dict[str, Any]] = {}
        self.pages_by_source: dict[str, list[str]] = {}
        self.versions: dict[str, int] = {}
        # Equality index for equals filters: (data source id, property id) -> value -> page ids.
        self.equals: dict[tuple[str, str], dict[Any, set[str]]] = {}
        self.seq: dict[str, int] = {}
        self._indexed: dict[str, list[tuple[tuple[str, str], Any]]] = {}
        self._dirty_pages: dict[str, dict[str, Any]] = {}
        self._pending_requests: list[tuple[Any, ...]] = []
        self._load()
        self._closed = threading.Event()
        self._flusher = threading.Thread(target=self._flush_loop, name="notion-emulator-store", daemon=True)
        self._flusher.start()

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    def _load(self) -> None:
        for (body,) in self._db.execute("SELECT body FROM databases"):
            obj = json.loads(body)
            self.databases[obj["id"]] = obj
        for (body,) in self._db.execute("SELECT body FROM data_sources"):
            obj = json.loads(body)
            self.data_sources[obj["id"]] = obj
            self.pages_by_source[obj["id"]] = []
        self._load_pages()

    def _load_pages(self) -> None:
        for source_id, body in self._db.execute("SELECT data_source_id, body FROM pages ORDER BY seq"):
            obj = json.loads(body)
            self.pages_by_source.setdefault(source_id, []).append(obj["id"])
            self._remember(obj)

    def _remember(self, page: dict[str, Any]) -> None:
        self.pages[page["id"]] = page
        self.seq[page["id"]] = len(self.seq)
        self._index(page)

    def _index(self, page: dict[str, Any]) -> None:
        source_id = page["parent"]["data_source_id"]
        entries = []
        for prop in page["properties"].values():
            kind = prop["type"]
            if kind in ("title", "rich_text"):
                value: Any = "".join(item["plain_text"] for item in prop[kind])
            elif kind == "number":
                value = prop["number"]
            elif kind == "select":
                value = (prop["select"] or {}).get("name")
            else:
                continue
            key = (source_id, prop["id"])
            self.equals.setdefault(key, {}).setdefault(value, set()).add(page["id"])
            entries.append((key, value))
        self._indexed[page["id"]] = entries

    def _unindex(self, page_id: str) -> None:
        for key, value in self._indexed.pop(page_id, []):
            self.equals[key][value].discard(page_id)

    def put_database(self, database: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO databases (id, body) VALUES (?, ?)",
                (database["id"], json.dumps(database)),
            )
            self.databases[database["id"]] = database

    def put_data_source(self, source: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO data_sources (id, database_id, body) VALUES (?, ?, ?)",
                (source["id"], source["parent"]["database_id"], json.dumps(source)),
            )
            self.data_sources[source["id"]] = source
            self.pages_by_source.setdefault(source["id"], [])
            self._bump(source["id"])

    def add_pages(self, pages: Iterable[dict[str, Any]]) -> None:
        """Add new pages (one for an API create, many for seeding)."""
        with self._lock:
            for page in pages:
                source_id = page["parent"]["data_source_id"]
                self.pages_by_source[source_id].append(page["id"])
                self._remember(page)
                self._dirty_pages[page["id"]] = page
                self._bump(source_id)

    def update_page(self, page: dict[str, Any]) -> None:
        with self._lock:
            self._unindex(page["id"])
            self.pages[page["id"]] = page
            self._index(page)
            self._dirty_pages[page["id"]] = page
            self._bump(page["parent"]["data_source_id"])

    def rewrite_pages(self, source_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        """Rewrite every page of a data source (after a schema change)."""
        with self._lock:
            for page_id in self.pages_by_source.get(source_id, []):
                self.update_page(change(self.pages[page_id]))

    def log_request(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._pending_requests.append(tuple(entry[f] for f in _REQUEST_FIELDS))

    def flush(self) -> None:
        """Commit written-behind pages and request-log entries in one transaction."""
        with self._lock:
            if not self._dirty_pages and not self._pending_requests:
                return
            pages = [
                (p["id"], p["parent"]["data_source_id"], json.dumps(p)) for p in self._dirty_pages.values()
            ]
            self._db.execute("BEGIN")
            self._db.executemany(_UPSERT_PAGE, pages)
            self._db.executemany("INSERT INTO requests VALUES (?, ?, ?, ?, ?, ?, ?, ?)", self._pending_requests)
            self._db.execute("COMMIT")
            self._dirty_pages.clear()
            self._pending_requests.clear()

    def _flush_loop(self) -> None:
        while not self._closed.wait(FLUSH_INTERVAL_S):
            self.flush()

    def requests_since(self, since: float) -> list[dict[str, Any]]:
        with self._lock:
            self.flush()
            rows = self._db.execute(
                "SELECT * FROM requests WHERE ts >= ? ORDER BY ts, rowid", (since,)
            ).fetchall()
        return [dict(zip(_REQUEST_FIELDS, row, strict=True)) for row in rows]

    def reset(self) -> None:
        with self._lock:
            self._dirty_pages.clear()
            self._pending_requests.clear()
            self._db.executescript(
                "BEGIN; DELETE FROM pages; DELETE FROM data_sources; DELETE FROM databases; "
                "DELETE FROM requests; COMMIT;"
            )
            self.databases.clear()
            self.data_sources.clear()
            self.pages.clear()
            self.pages_by_source.clear()
            self.versions.clear()
            self._forget_pages()

    def close(self) -> None:
        self._closed.set()
        self._flusher.join()
        with self._lock:
            self.flush()
            self._db.close()

    def _bump(self, source_id: str) -> None:
        self.versions[source_id] = self.versions.get(source_id, 0) + 1

    def _forget_pages(self) -> None:
        self.pages.clear()
        self.seq.clear()
        self.equals.clear()
        self._indexed.clear()
