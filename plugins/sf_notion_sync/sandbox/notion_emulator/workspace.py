"""The workspace's objects and operations: databases, data sources and pages in Notion's shapes."""

from __future__ import annotations

import copy
import functools
import re
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from . import schema as schema_mod
from .errors import NotionError, body_failed, not_found, too_long, validation
from .query import QueryEngine
from .store import Store
from .validation import ARRAY_LIMIT, apply_properties, empty_value, is_uuid, normalize_id, read_property

BOT_NAME = "Sandbox integration"
_OPTION_TYPES = ("select", "multi_select")
_NAMESPACE = uuid.UUID("5f2b8a52-3c1e-4c4e-9a51-6e1d0f6c7a10")


def notion_time(epoch: float) -> str:
    """Notion reports created/last-edited times rounded down to the minute."""
    return _minute(int(epoch // 60))


@functools.lru_cache(maxsize=1024)
def _minute(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%dT%H:%M:00.000Z")


@functools.lru_cache(maxsize=1024)
def bot_id(token_fingerprint: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, token_fingerprint))


def workspace_id(workspace_name: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "workspace:" + workspace_name))


def _user(user_id: str) -> dict[str, str]:
    return {"object": "user", "id": user_id}


def _url(object_id: str, title: str = "") -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-")[:60]
    compact = object_id.replace("-", "")
    return f"https://www.notion.so/{slug}-{compact}" if slug else f"https://www.notion.so/{compact}"


def _new_container(kind: str, object_id: str, title: str, now: str, who: dict[str, str]) -> dict[str, Any]:
    """The leading fields a new database and its data source have alike."""
    return {
        "object": kind,
        "id": object_id,
        "created_time": now,
        "last_edited_time": now,
        "created_by": who,
        "last_edited_by": who,
        "title": schema_mod.rich_text(title),
        "description": [],
        "icon": None,
        "cover": None,
    }


def _title_of(properties: dict[str, Any]) -> str:
    for prop in properties.values():
        if prop["type"] == "title":
            return "".join(item["plain_text"] for item in prop["title"])
    return ""


def _writable(properties: dict[str, Any]) -> dict[str, Any]:
    """A copy of a schema in which only the option lists (the part page writes can grow) are new."""
    out = {}
    for name, prop in properties.items():
        kind = prop["type"]
        if kind in _OPTION_TYPES:
            prop = {**prop, kind: {**prop[kind], "options": list(prop[kind]["options"])}}
        out[name] = prop
    return out


def _migrate(page: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """A page's properties after a schema change: matched by property id, so renames keep values."""
    by_id = {prop["id"]: prop for prop in page["properties"].values()}
    properties = {}
    for name, prop in schema.items():
        old = by_id.get(prop["id"])
        value = (
            old[prop["type"]]
            if old is not None and old["type"] == prop["type"]
            else empty_value(prop["type"])
        )
        properties[name] = read_property(prop, value)
    return {**page, "properties": properties}


class Workspace:
    """All object logic; callers (HTTP routes, control API, tests) hold no state of their own."""

    def __init__(
        self, store: Store, clock: Callable[[], float] = time.time, query_lag: Callable[[], float] = lambda: 0.0
    ) -> None:
        self.store = store
        self.clock = clock
        self.queries = QueryEngine(store, clock, query_lag)

    # -- users ------------------------------------------------------------------------------
    def me(self, token_fingerprint: str, workspace_name: str) -> dict[str, Any]:
        """The token's bot user ("Retrieve your token's bot user"; the User object's ``bot`` carries the
        workspace's name and id, which tell the client which connections share a workspace limit)."""
        return {
            "object": "user",
            "id": bot_id(token_fingerprint),
            "name": BOT_NAME,
            "avatar_url": None,
            "type": "bot",
            "bot": {
                "owner": {"type": "workspace", "workspace": True},
                "workspace_name": workspace_name,
                "workspace_id": workspace_id(workspace_name),
            },
        }

    # -- databases and data sources ---------------------------------------------------------
    def create_database(self, title: str, properties: dict[str, Any], creator: str = "",
                        database_id: str | None = None, data_source_id: str | None = None) -> tuple[dict, dict]:
        """Ids may be given (the sandbox creates the databases a sync.yaml names); else random."""
        if not isinstance(title, str):
            raise body_failed("title", "should be a string")
        for given in (database_id, data_source_id):
            if given is not None and not is_uuid(given):
                raise body_failed("id", "should be a valid uuid")
        now = notion_time(self.clock())
        database_id = normalize_id(database_id) if database_id else str(uuid.uuid4())
        source_id = normalize_id(data_source_id) if data_source_id else str(uuid.uuid4())
        if database_id in self.store.databases:
            raise body_failed("id", "is already the id of a database")
        who = _user(bot_id(creator))
        source = {
            **_new_container("data_source", source_id, title, now, who),
            "properties": schema_mod.build_schema(properties, source_id),
            "parent": {"type": "database_id", "database_id": database_id},
            "database_parent": {"type": "workspace", "workspace": True},
            "archived": False,
            "in_trash": False,
            "is_inline": False,
            "url": _url(source_id, title),
            "public_url": None,
        }
        database = {
            **_new_container("database", database_id, title, now, who),
            "parent": {"type": "workspace", "workspace": True},
            "is_inline": False,
            "is_locked": False,
            "archived": False,
            "in_trash": False,
            "data_sources": [{"id": source_id, "name": title}],
            "url": _url(database_id, title),
            "public_url": None,
        }
        with self.store.lock:
            self.store.put_database(database)
            self.store.put_data_source(source)
        return database, source

    def get_database(self, database_id: str) -> dict[str, Any]:
        database = self.store.databases.get(normalize_id(database_id))
        if database is None:
            raise not_found("database", database_id)
        return database

    def get_data_source(self, source_id: str) -> dict[str, Any]:
        source = self.store.data_sources.get(normalize_id(source_id))
        if source is None:
            raise not_found("data_source", source_id)
        return source

    def update_data_source(self, source_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.store.lock:
            source = copy.deepcopy(self.get_data_source(source_id))
            if "properties" in body:
                source["properties"] = schema_mod.patch_schema(
                    source["properties"], body["properties"], source["id"]
                )
            if "title" in body:
                source["title"] = self._title_input(body["title"])
            for flag in ("in_trash", "archived"):
                if flag in body:
                    if not isinstance(body[flag], bool):
                        raise body_failed(flag, "should be a boolean")
                    source["in_trash"] = source["archived"] = body[flag]
            source["last_edited_time"] = notion_time(self.clock())
            self.store.put_data_source(source)
            if "properties" in body:
                self.store.rewrite_pages(source["id"], lambda page: _migrate(page, source["properties"]))
            if "title" in body:
                database = copy.deepcopy(self.store.databases[source["parent"]["database_id"]])
                name = schema_mod.plain_text(source["title"])
                database["data_sources"] = [
                    {"id": d["id"], "name": name if d["id"] == source["id"] else d["name"]}
                    for d in database["data_sources"]
                ]
                self.store.put_database(database)
        return source

    @staticmethod
    def _title_input(value: Any) -> list[dict[str, Any]]:
        if not isinstance(value, list):
            raise body_failed("title", "should be an array")
        return schema_mod.rich_text(schema_mod.plain_text(value))

    # -- pages --------------------------------------------------------------------------------
    def _parent_source(self, parent: Any) -> dict[str, Any]:
        if not isinstance(parent, dict):
            raise body_failed("parent", "should be defined, instead was `undefined`")
        if isinstance(parent.get("data_source_id"), str):
            return self.get_data_source(parent["data_source_id"])
        if isinstance(parent.get("database_id"), str):
            database = self.get_database(parent["database_id"])
            if len(database["data_sources"]) != 1:
                raise validation("Databases with multiple data sources need a data_source_id parent.")
            return self.get_data_source(database["data_sources"][0]["id"])
        if isinstance(parent.get("page_id"), str):
            raise not_found("page", parent["page_id"])
        raise body_failed("parent.data_source_id", "should be defined, instead was `undefined`")

    def new_page(self, body: dict[str, Any], creator: str, created_at: float | None = None) -> dict[str, Any]:
        """Validate a create request and build the page object (not yet stored)."""
        source = self._parent_source(body.get("parent"))
        children = body.get("children")
        if isinstance(children, list) and len(children) > ARRAY_LIMIT:
            raise too_long("children", ARRAY_LIMIT, len(children))
        schema = _writable(source["properties"])
        properties = apply_properties(schema, body.get("properties"))
        self._keep_new_options(source, schema)
        now = notion_time(self.clock() if created_at is None else created_at)
        page_id = str(uuid.uuid4())
        who = _user(bot_id(creator))
        return {
            "object": "page",
            "id": page_id,
            "created_time": now,
            "last_edited_time": now,
            "created_by": who,
            "last_edited_by": who,
            "cover": body.get("cover"),
            "icon": body.get("icon"),
            "parent": {
                "type": "data_source_id",
                "data_source_id": source["id"],
                "database_id": source["parent"]["database_id"],
            },
            "archived": False,
            "in_trash": False,
            "is_locked": False,
            "properties": properties,
            "url": _url(page_id, _title_of(properties)),
            "public_url": None,
        }

    def _keep_new_options(self, source: dict[str, Any], schema: dict[str, Any]) -> None:
        """Persist select options that a page write added (see validation.apply_properties)."""
        if any(
            len(prop[prop["type"]]["options"]) != len(source["properties"][name][prop["type"]]["options"])
            for name, prop in schema.items()
            if prop["type"] in _OPTION_TYPES
        ):
            self.store.put_data_source({**source, "properties": schema})

    def create_page(self, body: dict[str, Any], creator: str = "") -> dict[str, Any]:
        """An API create: readable at once, in query results only after the query lag."""
        with self.store.lock:
            page = self.new_page(body, creator)
            self.store.add_pages([page])
            self.queries.created(page["id"])
        return page

    def seed_pages(
        self, source_id: str, properties: Iterable[dict[str, Any]], created_at: float | None = None
    ) -> int:
        """Bulk-create pages in one transaction, validated like API creates (for fixtures and demos);
        seeded pages are in query results at once."""
        parent = {"data_source_id": source_id}
        with self.store.lock:
            pages = [self.new_page({"parent": parent, "properties": p}, "", created_at) for p in properties]
            self.store.add_pages(pages)
        return len(pages)

    def get_page(self, page_id: str) -> dict[str, Any]:
        page = self.store.pages.get(normalize_id(page_id))
        if page is None:
            raise not_found("page", page_id)
        return page

    def update_page(self, page_id: str, body: dict[str, Any], editor: str = "") -> dict[str, Any]:
        with self.store.lock:
            page = copy.deepcopy(self.get_page(page_id))
            trash = body.get("in_trash", body.get("archived"))
            if trash is not None and not isinstance(trash, bool):
                raise body_failed("in_trash", f"should be a boolean, instead was `{trash}`")
            restoring = trash is False
            if page["in_trash"] and not restoring and body.get("properties"):
                raise validation(
                    "Can't edit block that is archived. You must unarchive the block before editing."
                )
            if "properties" in body:
                source = self.get_data_source(page["parent"]["data_source_id"])
                schema = _writable(source["properties"])
                page["properties"] = apply_properties(schema, body["properties"], page["properties"])
                self._keep_new_options(source, schema)
            if trash is not None:
                page["in_trash"] = page["archived"] = trash
            for key in ("icon", "cover"):
                if key in body:
                    page[key] = body[key]
            page["last_edited_time"] = notion_time(self.clock())
            page["last_edited_by"] = _user(bot_id(editor))
            self.store.update_page(page)
        return page

    def pages_of(self, source_id: str) -> list[dict[str, Any]]:
        source = self.get_data_source(source_id)
        pages = self.store.pages
        return [pages[i] for i in self.store.pages_by_source.get(source["id"], [])]

    def query(self, source_id: str, body: dict[str, Any]) -> dict[str, Any]:
        source = self.get_data_source(source_id)
        if not isinstance(body, dict):
            raise NotionError(400, "invalid_json", "The request body must be a JSON object.")
        return self.queries.run(source, body)

    def reset(self) -> None:
        with self.store.lock:
            self.store.reset()
            self.queries.clear()
