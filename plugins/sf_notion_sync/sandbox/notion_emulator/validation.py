"""Page property values: checked against the data source schema and Notion's size limits, then
turned into the read shape the API returns."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sf_notion_sync.notion.constants import PROPERTY_TYPES

from . import schema as schema_mod
from .errors import body_failed, too_long, validation

TEXT_CONTENT_LIMIT = 2000
ARRAY_LIMIT = 100
EMAIL_PHONE_LIMIT = 200
URL_LIMIT = 2000
PAYLOAD_LIMIT = 500 * 1024

_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")


def empty_value(kind: str) -> Any:
    return {"title": [], "rich_text": [], "multi_select": [], "relation": [], "checkbox": False}.get(kind)


def read_property(prop: dict[str, Any], value: Any) -> dict[str, Any]:
    out = {"id": prop["id"], "type": prop["type"], prop["type"]: value}
    if prop["type"] == "relation":
        out["has_more"] = False
    return out


def apply_properties(
    schema: dict[str, dict[str, Any]],
    given: Any,
    current: dict[str, dict[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """The page's full read-shape properties after writing `given` over `current` (None on create).

    Unknown select options are added to `schema`, as the API does.
    """
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise body_failed("properties", "should be an object, instead was `" + type(given).__name__ + "`")
    previous = current or {}
    values = {
        name: previous.get(name, {}).get(p["type"], empty_value(p["type"])) for name, p in schema.items()
    }
    for key, raw in given.items():
        name = schema_mod.find_property_name(schema, key)
        if name is None:
            raise validation(f"{key} is not a property that exists.")
        prop = schema[name]
        values[name] = _convert(prop, key, raw)
    return {name: read_property(schema[name], values[name]) for name in schema}


def _convert(prop: dict[str, Any], key: str, raw: Any) -> Any:
    kind = prop["type"]
    if isinstance(raw, dict) and "type" not in raw and kind not in raw:
        other = next((k for k in raw if k in PROPERTY_TYPES), None)
        if other is not None:
            raise validation(f"{key} is expected to be {kind}.")
    value = raw.get(kind) if isinstance(raw, dict) and kind in raw else raw
    if isinstance(raw, dict) and raw.get("type") not in (None, kind):
        raise validation(f"{key} is expected to be {kind}.")
    path = f"properties.{key}.{kind}"
    converter = _CONVERTERS[kind]
    return converter(prop, path, value)


def _array(path: str, value: Any) -> list[Any]:
    """An array value within Notion's item limit; null clears the property."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise body_failed(path, "should be an array")
    if len(value) > ARRAY_LIMIT:
        raise too_long(path, ARRAY_LIMIT, len(value))
    return value


def _rich_text(prop: dict[str, Any], path: str, value: Any) -> list[dict[str, Any]]:
    out = []
    for index, item in enumerate(_array(path, value)):
        item_path = f"{path}[{index}]"
        if (
            not isinstance(item, dict)
            or item.get("type", "text") != "text"
            or not isinstance(item.get("text"), dict)
        ):
            raise body_failed(f"{item_path}.text", "should be defined, instead was `undefined`")
        content = item["text"].get("content")
        if not isinstance(content, str):
            raise body_failed(f"{item_path}.text.content", "should be a string")
        if len(content) > TEXT_CONTENT_LIMIT:
            raise too_long(f"{item_path}.text.content", TEXT_CONTENT_LIMIT, len(content))
        link = item["text"].get("link")
        if link is not None and not (isinstance(link, dict) and isinstance(link.get("url"), str)):
            raise body_failed(f"{item_path}.text.link.url", "should be a string")
        given = item.get("annotations")
        if isinstance(given, dict):
            given = {k: v for k, v in given.items() if k in schema_mod.ANNOTATIONS}
        else:
            given = None
        out.append(schema_mod.text_item(content, link, given))
    return out


def _number(prop: dict[str, Any], path: str, value: Any) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise body_failed(path, f"should be a number or `null`, instead was `{_show(value)}`")
    return value


def _select(prop: dict[str, Any], path: str, value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    return _one_option(prop, path, value)


def _one_option(prop: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise body_failed(path, "should be an object")
    if isinstance(value.get("name"), str):
        schema_mod.check_option_name(value["name"], path)
        option = schema_mod.ensure_option(prop, value["name"])
    elif isinstance(value.get("id"), str):
        option = schema_mod.option_by_id(prop, value["id"])
    else:
        raise body_failed(f"{path}.name", "should be defined, instead was `undefined`")
    return {"id": option["id"], "name": option["name"], "color": option["color"]}


def _multi_select(prop: dict[str, Any], path: str, value: Any) -> list[dict[str, Any]]:
    return [_one_option(prop, f"{path}[{i}]", item) for i, item in enumerate(_array(path, value))]


def _date(prop: dict[str, Any], path: str, value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise body_failed(path, "should be an object or `null`")
    start = value.get("start")
    if parse_date(start) is None:
        raise body_failed(
            f"{path}.start", f"should be a valid ISO 8601 date string, instead was `{_show(start)}`"
        )
    end = value.get("end")
    if end is not None and parse_date(end) is None:
        raise body_failed(
            f"{path}.end", f"should be a valid ISO 8601 date string, instead was `{_show(end)}`"
        )
    time_zone = value.get("time_zone")
    if time_zone is not None and not isinstance(time_zone, str):
        raise body_failed(f"{path}.time_zone", "should be a string")
    return {"start": start, "end": end, "time_zone": time_zone}


def _checkbox(prop: dict[str, Any], path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise body_failed(path, f"should be a boolean, instead was `{_show(value)}`")
    return value


def _limited_string(limit: int):
    def convert(prop: dict[str, Any], path: str, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise body_failed(path, f"should be a string or `null`, instead was `{_show(value)}`")
        if len(value) > limit:
            raise too_long(path, limit, len(value))
        return value

    return convert


def _relation(prop: dict[str, Any], path: str, value: Any) -> list[dict[str, str]]:
    out = []
    for index, item in enumerate(_array(path, value)):
        page_id = item.get("id") if isinstance(item, dict) else None
        if not isinstance(page_id, str) or not _UUID.match(page_id):
            raise body_failed(
                f"{path}[{index}].id", f"should be a valid uuid, instead was `{_show(page_id)}`"
            )
        out.append({"id": normalize_id(page_id)})
    return out


_CONVERTERS = {
    "title": _rich_text,
    "rich_text": _rich_text,
    "number": _number,
    "select": _select,
    "multi_select": _multi_select,
    "date": _date,
    "checkbox": _checkbox,
    "email": _limited_string(EMAIL_PHONE_LIMIT),
    "phone_number": _limited_string(EMAIL_PHONE_LIMIT),
    "url": _limited_string(URL_LIMIT),
    "relation": _relation,
}


def parse_date(value: Any) -> datetime | None:
    """An ISO 8601 date or date-time as an aware UTC datetime (date-only means midnight UTC)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def normalize_id(value: str) -> str:
    """Notion accepts ids with or without dashes and answers with dashes."""
    raw = value.replace("-", "").lower()
    if len(raw) != 32:
        return value
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"


def is_uuid(value: str) -> bool:
    return bool(_UUID.match(value))


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else f'"{value}"'
    return text if len(text) <= 50 else text[:47] + "..."
