"""Which integrations see which databases: a database is visible only to the integrations it is shared
with, and to the others it does not exist.

Notion ("Authorization" and "Create an integration", developers.notion.com): an integration reaches a
page or database only once it is shared with it ("Add connections"); otherwise the API answers 404
`object_not_found` ("Make sure the relevant pages and databases are shared with your integration"),
never 403, so that it does not reveal that the object exists. The same holds for the database's data
sources and pages (and for creating a page under it).
"""

from __future__ import annotations

from typing import Any

from .config import EmulatorConfig
from .errors import not_found
from .store import Store
from .validation import is_uuid, normalize_id


class Sharing:
    """The check the app runs before a handler: who may see the database a request reaches."""

    def __init__(self, config: EmulatorConfig, store: Store) -> None:
        self._config = config
        self._store = store

    def check(self, token_fingerprint: str, args: dict[str, str], body: Any) -> None:
        """Raise 404 object_not_found when the request reaches a database not shared with this token. An
        object that does not exist is left to the handler, which answers the same 404."""
        if not self._config.shared_with:
            return
        kind, object_id, database_id = self._target(args, body)
        allowed = self._config.shared_with.get(database_id or "")
        if allowed is not None and token_fingerprint not in allowed:
            raise not_found(kind, object_id)

    def _target(self, args: dict[str, str], body: Any) -> tuple[str, str, str | None]:
        """(kind, id as sent, its database's id) of the object a request names (None: no database)."""
        store = self._store
        if "page_id" in args:
            page = store.pages.get(normalize_id(args["page_id"]))
            source_id = ((page or {}).get("parent") or {}).get("data_source_id")
            return "page", args["page_id"], self._database_of_source(source_id)
        if "data_source_id" in args:
            return "data_source", args["data_source_id"], self._database_of_source(args["data_source_id"])
        if "database_id" in args:
            return "database", args["database_id"], normalize_id(args["database_id"])
        parent = body.get("parent") if isinstance(body, dict) else None  # POST /v1/pages
        if isinstance(parent, dict):
            if _is_id(parent.get("data_source_id")):
                source_id = parent["data_source_id"]
                return "data_source", source_id, self._database_of_source(source_id)
            if _is_id(parent.get("database_id")):
                return "database", parent["database_id"], normalize_id(parent["database_id"])
        return "", "", None

    def _database_of_source(self, source_id: str | None) -> str | None:
        if not _is_id(source_id):
            return None
        source = self._store.data_sources.get(normalize_id(source_id))
        return source["parent"]["database_id"] if source else None


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and is_uuid(value)
