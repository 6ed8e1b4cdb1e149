"""The 25-reference cut of relations in page objects, and the property-item endpoint that pages the rest.

"Retrieve a page": a page object lists at most 25 references of a relation property, with
`has_more: true` when there are more. "Retrieve a page property item"
(GET /v1/pages/{page_id}/properties/{property_id}): the property id as the schema returns it,
URL encoding included; title, rich_text, relation and people come back as a paginated list of
property_item objects (page_size ≤ 100, start_cursor, next_url), every other type as one property_item.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import quote, unquote

from .errors import validation

REFERENCE_LIMIT = 25
PAGE_SIZE_LIMIT = 100
_PAGINATED = ("title", "rich_text", "relation", "people")


def truncate_relations(page: dict[str, Any]) -> dict[str, Any]:
    """The page as page objects show it: each relation cut to its first 25 references."""
    properties = page["properties"]
    if not any(_overlong(prop) for prop in properties.values()):
        return page
    cut = {
        name: {**prop, "relation": prop["relation"][:REFERENCE_LIMIT], "has_more": True}
        if _overlong(prop)
        else prop
        for name, prop in properties.items()
    }
    return {**page, "properties": cut}


def _overlong(prop: dict[str, Any]) -> bool:
    return prop["type"] == "relation" and len(prop["relation"]) > REFERENCE_LIMIT


def find_property(page: dict[str, Any], property_id: str) -> dict[str, Any] | None:
    """The page's property whose id is `property_id`, matched with or without URL encoding (ids only)."""
    wanted = {property_id, unquote(property_id)}
    for prop in page["properties"].values():
        if prop["id"] in wanted or unquote(prop["id"]) in wanted:
            return prop
    return None


def property_item(
    prop: dict[str, Any], query: dict[str, list[str]], url: str
) -> dict[str, Any]:
    """The endpoint's answer for one property; `url` (the request's, without query) makes next_url."""
    kind, prop_id = prop["type"], prop["id"]
    if kind not in _PAGINATED:
        return {"object": "property_item", "id": prop_id, "type": kind, kind: prop[kind]}
    values = prop[kind]
    page_size = _page_size(query)
    start = _offset(query, prop_id, len(values))
    window = values[start : start + page_size]
    end = start + len(window)
    next_cursor = _cursor(prop_id, end) if end < len(values) else None
    return {
        "object": "list",
        "results": [{"object": "property_item", "id": prop_id, "type": kind, kind: v} for v in window],
        "next_cursor": next_cursor,
        "has_more": next_cursor is not None,
        "type": "property_item",
        "property_item": {
            "id": prop_id,
            "next_url": f"{url}?start_cursor={quote(next_cursor)}" if next_cursor else None,
            "type": kind,
            kind: {},
        },
    }


def _page_size(query: dict[str, list[str]]) -> int:
    raw = query.get("page_size", [str(PAGE_SIZE_LIMIT)])[-1]
    if not raw.isdigit():
        raise validation(f"query failed validation: query.page_size should be a number, instead was `\"{raw}\"`.")
    size = int(raw)
    if size > PAGE_SIZE_LIMIT:
        raise validation(f"query failed validation: query.page_size should be ≤ `{PAGE_SIZE_LIMIT}`, instead was `{size}`.")
    if size < 1:
        raise validation(f"query failed validation: query.page_size should be ≥ `1`, instead was `{size}`.")
    return size


def _cursor(prop_id: str, offset: int) -> str:
    """Opaque to clients; it names the property and the position of the next item."""
    return base64.urlsafe_b64encode(f"{offset}:{prop_id}".encode()).decode().rstrip("=")


def _offset(query: dict[str, list[str]], prop_id: str, length: int) -> int:
    cursor = query.get("start_cursor", [None])[-1]
    if cursor is None:
        return 0
    try:
        decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        offset, _, named = decoded.partition(":")
        if named == prop_id and 0 < int(offset) < length:
            return int(offset)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise validation(f"start_cursor provided is invalid: {cursor}")
