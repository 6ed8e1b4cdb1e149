"""Notion-Version: the versions served and what each one changes in requests and responses.

"Versioning": every request names its version, and a version the API does not know is refused.
"Upgrade guide" (2026-03-11): `in_trash` replaces `archived` in request bodies and in every response
(pages, databases, data sources); `position` replaces `after` in Append block children, an endpoint
this emulator does not serve. 2026-12-01: data-source queries return only the title property unless
`filter_properties` names more. "Query a data source": `filter_properties` (property ids, repeated in
the query string) limits the properties of each result in every version.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from .errors import NotionError, body_failed, validation

V2025_09_03 = "2025-09-03"
V2026_03_11 = "2026-03-11"
V2026_12_01 = "2026-12-01"
SUPPORTED = (V2025_09_03, V2026_03_11, V2026_12_01)
"""ISO dates, so later versions compare greater as strings."""


def check(header: bytes | None) -> str:
    """The request's version; a missing header is `missing_version`, an unknown one a validation_error."""
    if not header:
        raise NotionError(400, "missing_version")
    version = header.decode("latin-1").strip()
    if version not in SUPPORTED:
        allowed = ", ".join(f"`{v}`" for v in SUPPORTED)
        raise validation(
            f"Notion-Version header failed validation: Notion-Version header should be one of {allowed}, "
            f"instead was `{version}`."
        )
    return version


def check_body(body: Any, version: str) -> None:
    """From 2026-03-11 a body naming `archived` is refused: only `in_trash` is accepted."""
    if version >= V2026_03_11 and isinstance(body, dict) and "archived" in body:
        raise body_failed(
            "archived",
            f"should be not present, instead was `{json.dumps(body['archived'])}` "
            "(removed in 2026-03-11; use `in_trash`)",
        )


def shape(obj: dict[str, Any], version: str) -> dict[str, Any]:
    """A page, database or data source as `version` shows it: without `archived` from 2026-03-11."""
    if version < V2026_03_11 or "archived" not in obj:
        return obj
    return {key: value for key, value in obj.items() if key != "archived"}


def requested_properties(query: dict[str, list[str]]) -> list[str] | None:
    """`filter_properties` from the query string (`?filter_properties=a&filter_properties=b`, also
    spelled `filter_properties[]=`); None when the request names none."""
    values = [*query.get("filter_properties", []), *query.get("filter_properties[]", [])]
    return values or None


def project(page: dict[str, Any], version: str, wanted: list[str] | None) -> dict[str, Any]:
    """The properties a query result carries: those `wanted` names by id (as the schema spells it, or
    URL-decoded) and, from 2026-12-01, the title; all of them before 2026-12-01 when none are named.
    Names are not ids and match nothing; an id the data source lacks is left out."""
    newest = version >= V2026_12_01
    if wanted is None and not newest:
        return page
    ids = set(wanted or ())
    kept = {
        name: prop
        for name, prop in page["properties"].items()
        if prop["id"] in ids or unquote(prop["id"]) in ids or (newest and prop["type"] == "title")
    }
    return {**page, "properties": kept}
