"""Data source schemas: property definitions in the shape Notion returns, and PATCH semantics on them."""

from __future__ import annotations

import secrets
import string
from typing import Any
from urllib.parse import quote

from sf_notion_sync.notion.constants import PROPERTY_TYPES

from .errors import NotionError, validation

ANNOTATIONS = {
    "bold": False,
    "italic": False,
    "strikethrough": False,
    "underline": False,
    "code": False,
    "color": "default",
}
"""A text item's annotations when a write leaves them out."""
OPTION_COLORS = ("default", "gray", "brown", "orange", "yellow", "green", "blue", "purple", "pink", "red")
# No "." : notion-client refuses a request path holding "..", and property ids go into paths.
_ID_ALPHABET = string.ascii_letters + string.digits + "!#$&()*+,-/:;=?@[]^_`{|}~"


def new_property_id() -> str:
    """A short id like Notion's (URL-encoded when it holds reserved characters)."""
    return quote("".join(secrets.choice(_ID_ALPHABET) for _ in range(4)), safe="")


def new_option_id() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(4))


def text_item(
    content: str, link: dict[str, Any] | None = None, annotations: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One read-shape rich-text item of type text; ``annotations`` given override the defaults."""
    return {
        "type": "text",
        "text": {"content": content, "link": link},
        "annotations": {**ANNOTATIONS, **(annotations or {})},
        "plain_text": content,
        "href": link["url"] if link else None,
    }


def rich_text(content: str) -> list[dict[str, Any]]:
    """Plain text as a read-shape rich-text array (titles of databases and data sources)."""
    return [text_item(content)] if content else []


def plain_text(items: Any) -> str:
    if not isinstance(items, list):
        return ""
    return "".join(
        str(item.get("plain_text") or (item.get("text") or {}).get("content") or "")
        for item in items
        if isinstance(item, dict)
    )


def property_type(definition: Any, name: str) -> str:
    """The type of a definition written as {"type": T, ...} or as {T: {...}}."""
    if not isinstance(definition, dict):
        raise validation(f"body failed validation: body.properties.{name} should be an object.")
    declared = definition.get("type")
    if declared is None:
        declared = next((key for key in definition if key in PROPERTY_TYPES), None)
    if declared not in PROPERTY_TYPES:
        raise validation(
            f"body failed validation: body.properties.{name}.type should be one of "
            f"{', '.join(f'`{t}`' for t in PROPERTY_TYPES)}, instead was `{declared}`."
        )
    return declared


def build_property(name: str, definition: dict[str, Any], data_source_id: str, prop_id: str | None = None):
    """A full property definition as the API returns it."""
    kind = property_type(definition, name)
    config = definition.get(kind) or {}
    if not isinstance(config, dict):
        raise validation(f"body failed validation: body.properties.{name}.{kind} should be an object.")
    if kind == "number":
        body: dict[str, Any] = {"format": config.get("format", "number")}
    elif kind in ("select", "multi_select"):
        body = {"options": [_option(o, f"{name}.{kind}.options") for o in config.get("options") or []]}
    elif kind == "relation":
        target = config.get("data_source_id") or data_source_id
        body = {
            "data_source_id": target,
            "database_id": config.get("database_id"),
            "type": "single_property",
            "single_property": {},
        }
    else:
        body = {}
    return {
        "id": "title" if kind == "title" else (prop_id or new_property_id()),
        "name": name,
        "description": definition.get("description"),
        "type": kind,
        kind: body,
    }


def _option(option: Any, path: str) -> dict[str, Any]:
    if not isinstance(option, dict) or not isinstance(option.get("name"), str):
        raise validation(f"body failed validation: body.properties.{path}[].name should be a string.")
    check_option_name(option["name"], path)
    return {
        "id": option.get("id") or new_option_id(),
        "name": option["name"],
        "color": option.get("color") if option.get("color") in OPTION_COLORS else "default",
        "description": option.get("description"),
    }


def check_option_name(name: str, path: str) -> None:
    if "," in name:
        raise validation(f"Invalid select option, commas not allowed: {name}")
    if len(name) > 100:
        raise validation(
            f"body failed validation: body.{path}.name.length should be ≤ `100`, instead was `{len(name)}`."
        )


def build_schema(definitions: dict[str, Any], data_source_id: str) -> dict[str, dict[str, Any]]:
    """The schema for a new data source; exactly one title property (a "Name" title is added if none)."""
    if not isinstance(definitions, dict):
        raise validation("body failed validation: body.properties should be an object.")
    schema = {name: build_property(name, d, data_source_id) for name, d in definitions.items()}
    titles = [n for n, p in schema.items() if p["type"] == "title"]
    if len(titles) > 1:
        raise validation("Cannot create a data source with more than one title property.")
    if not titles:
        schema = {"Name": build_property("Name", {"type": "title"}, data_source_id), **schema}
    return schema


def patch_schema(schema: dict[str, dict[str, Any]], changes: Any, data_source_id: str) -> dict[str, Any]:
    """Apply PATCH /v1/data_sources properties: null removes, "name" renames, a type (re)defines."""
    if not isinstance(changes, dict):
        raise validation("body failed validation: body.properties should be an object.")
    result = dict(schema)
    for key, change in changes.items():
        current_name = find_property_name(result, key)
        if change is None:
            if current_name is None:
                raise validation(f"{key} is not a property that exists.")
            if result[current_name]["type"] == "title":
                raise validation("Cannot delete the title property.")
            del result[current_name]
            continue
        if not isinstance(change, dict):
            raise validation(f"body failed validation: body.properties.{key} should be an object or `null`.")
        new_name = change.get("name") if isinstance(change.get("name"), str) else (current_name or key)
        has_type = change.get("type") in PROPERTY_TYPES or any(k in PROPERTY_TYPES for k in change)
        if current_name is None:
            if not has_type:
                raise validation(f"{key} is not a property that exists.")
            result[new_name] = build_property(new_name, change, data_source_id)
            continue
        existing = result.pop(current_name)
        if has_type:
            kind = property_type(change, key)
            if kind == "title" and existing["type"] != "title":
                raise validation("Cannot change a property to a title property.")
            merged = build_property(new_name, change, data_source_id, prop_id=existing["id"])
            if kind == existing["type"] and kind in ("select", "multi_select") and not change.get(kind):
                merged[kind] = existing[kind]
            existing = merged
        existing["name"] = new_name
        result[new_name] = existing
    return result


def find_property_name(schema: dict[str, dict[str, Any]], key: str) -> str | None:
    """Properties are addressed by name or by id."""
    if key in schema:
        return key
    for name, prop in schema.items():
        if prop["id"] == key:
            return name
    return None


def ensure_option(prop: dict[str, Any], name: str) -> dict[str, Any]:
    """Writing an unknown select option adds it to the schema, as the API does."""
    for option in prop[prop["type"]]["options"]:
        if option["name"] == name:
            return option
    option = {"id": new_option_id(), "name": name, "color": "default", "description": None}
    prop[prop["type"]]["options"].append(option)
    return option


def option_by_id(prop: dict[str, Any], option_id: str) -> dict[str, Any]:
    for option in prop[prop["type"]]["options"]:
        if option["id"] == option_id:
            return option
    raise NotionError(400, "validation_error", f"Select option with id {option_id} does not exist.")
