"""Salesforce values -> Notion property values, within Notion's limits.

Limits are enforced here, before a request, so a record fails with a clear reason instead of a
400 from Notion. What is shortened is reported as a ``PropertyWarning`` in the result (the engine
counts it per batch and keeps the lossy ones per record, state/run_metrics.py); what cannot be sent raises ``PropertyValueError`` unless the policy
``on_invalid="null"`` asks to clear that property instead (also reported). Values themselves are
never put in messages: they may be personal data.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from urllib.parse import urlsplit

from .constants import (
    MAX_EMAIL,
    MAX_MULTI_SELECT,
    MAX_PAYLOAD_BYTES,
    MAX_PHONE,
    MAX_RELATIONS,
    MAX_RICH_TEXT_ITEMS,
    MAX_SELECT_NAME,
    MAX_TEXT_CONTENT,
    MAX_URL,
)
from .errors import PropertyValueError

OnInvalid = Literal["fail", "null"]
TRUNCATION_MARKER = " … [truncated]"
SUPPORTED_TYPES = (
    "title", "rich_text", "number", "select", "multi_select", "status", "date", "checkbox",
    "email", "phone_number", "url", "relation",
)  # fmt: skip

_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
_PHONE = re.compile(r"^[0-9+()\-.\s/x#*extEXT]+$")


KIND_TRUNCATED = "text_truncated"
KIND_OPTIONS_CAPPED = "options_capped"
KIND_RELATIONS_CAPPED = "relations_capped"
KIND_CLEARED = "invalid_cleared"
"""A value Notion would reject, cleared under ``on_invalid="null"`` (made by the engine from ``nulled``)."""
KIND_URL_SCHEME = "url_scheme_added"


@dataclass(frozen=True)
class PropertyWarning:
    """A value changed on its way to Notion, of a ``kind`` (the KIND_* above) the sync counts by.
    ``lossy``: data was cut (truncated, capped), not only normalised (a scheme added), so the sync
    keeps it per record for the dashboard rather than only counting it."""

    record_id: str | None
    property_name: str
    message: str
    lossy: bool = True
    kind: str = KIND_TRUNCATED

    def __str__(self) -> str:
        return f"record {self.record_id or '?'}, property {self.property_name!r}: {self.message}"


@dataclass
class BuildResult:
    """Notion ``properties`` for one page, plus what was shortened or cleared on the way."""

    properties: dict[str, Any]
    warnings: list[PropertyWarning] = field(default_factory=list)
    nulled: list[PropertyValueError] = field(default_factory=list)


class _Ctx:
    def __init__(self, record_id: str | None, name: str, ptype: str, warnings: list[PropertyWarning]) -> None:
        self.record_id, self.name, self.ptype, self.warnings = record_id, name, ptype, warnings

    def warn(self, kind: str, message: str) -> None:
        self.warnings.append(PropertyWarning(self.record_id, self.name, message, kind=kind))

    def note(self, kind: str, message: str) -> None:
        self.warnings.append(PropertyWarning(self.record_id, self.name, message, lossy=False, kind=kind))

    def invalid(self, problem: str, limit: str | None = None) -> PropertyValueError:
        return PropertyValueError(
            problem, record_id=self.record_id, property_name=self.name, property_type=self.ptype, limit=limit
        )


# --- text -----------------------------------------------------------------------------------------


def _utf16_len(text: str) -> int:
    """Notion counts text limits in UTF-16 code units (JavaScript string length)."""
    return len(text.encode("utf-16-le")) // 2


def _split_text(text: str, size: int) -> list[str]:
    if _utf16_len(text) == len(text):  # no astral characters: code points == UTF-16 units
        return [text[i : i + size] for i in range(0, len(text), size)]
    chunks, current, units = [], [], 0
    for ch in text:
        width = 2 if ord(ch) > 0xFFFF else 1
        if units + width > size:
            chunks.append("".join(current))
            current, units = [], 0
        current.append(ch)
        units += width
    if current:
        chunks.append("".join(current))
    return chunks


def _rich_text(value: Any, ctx: _Ctx) -> list[dict[str, Any]]:
    if value is None:
        return []
    text = value if isinstance(value, str) else _scalar_text(value)
    if text == "":
        return []
    chunks = _split_text(text, MAX_TEXT_CONTENT)
    if len(chunks) > MAX_RICH_TEXT_ITEMS:
        kept = chunks[:MAX_RICH_TEXT_ITEMS]
        kept[-1] = _split_text(kept[-1], MAX_TEXT_CONTENT - len(TRUNCATION_MARKER))[0] + TRUNCATION_MARKER
        limit = MAX_TEXT_CONTENT * MAX_RICH_TEXT_ITEMS
        ctx.warn(KIND_TRUNCATED, f"text of {_utf16_len(text)} characters truncated to {limit} (limit {MAX_RICH_TEXT_ITEMS} x {MAX_TEXT_CONTENT})")
        chunks = kept
    return [{"type": "text", "text": {"content": chunk}} for chunk in chunks]


def _scalar_text(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def build_title(value: Any, ctx: _Ctx) -> dict[str, Any]:
    return {"title": _rich_text(value, ctx)}


def build_rich_text(value: Any, ctx: _Ctx) -> dict[str, Any]:
    return {"rich_text": _rich_text(value, ctx)}


# --- scalars --------------------------------------------------------------------------------------


def build_number(value: Any, ctx: _Ctx) -> dict[str, Any]:
    if value is None or value == "":
        return {"number": None}
    if isinstance(value, bool):
        raise ctx.invalid("a boolean is not a number")
    if isinstance(value, int):
        return {"number": value}
    try:
        number = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise ctx.invalid("value is not a number") from None
    if not number.is_finite():
        raise ctx.invalid("value is not a finite number")
    as_float = float(number)
    if math.isinf(as_float):
        raise ctx.invalid("value is out of the range of a double")
    return {"number": int(number) if number == number.to_integral_value() and abs(number) < 2**53 else as_float}


def build_checkbox(value: Any, ctx: _Ctx) -> dict[str, Any]:
    if value is None or value == "":
        return {"checkbox": False}
    if isinstance(value, bool):
        return {"checkbox": value}
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return {"checkbox": True}
    if text in ("false", "0", "no"):
        return {"checkbox": False}
    raise ctx.invalid("value is not a boolean")


def _option_name(value: Any, ctx: _Ctx) -> str:
    name = str(value).strip()
    if "," in name:
        raise ctx.invalid("option name contains a comma, which Notion does not allow in select options")
    if len(name) > MAX_SELECT_NAME:
        raise ctx.invalid(f"option name is {len(name)} characters", limit=f"{MAX_SELECT_NAME} characters")
    return name


def build_select(value: Any, ctx: _Ctx) -> dict[str, Any]:
    if value is None or str(value).strip() == "":
        return {"select": None}
    return {"select": {"name": _option_name(value, ctx)}}


def build_status(value: Any, ctx: _Ctx) -> dict[str, Any]:
    if value is None or str(value).strip() == "":
        return {"status": None}
    return {"status": {"name": _option_name(value, ctx)}}


def build_multi_select(value: Any, ctx: _Ctx) -> dict[str, Any]:
    """Salesforce multi-picklists arrive as 'A;B;C'."""
    items = value.split(";") if isinstance(value, str) else list(value or [])
    names = list(dict.fromkeys(n for n in (str(i).strip() for i in items) if n))
    if len(names) > MAX_MULTI_SELECT:
        ctx.warn(KIND_OPTIONS_CAPPED, f"{len(names)} options capped to {MAX_MULTI_SELECT} (limit {MAX_MULTI_SELECT} items)")
        names = names[:MAX_MULTI_SELECT]
    return {"multi_select": [{"name": _option_name(n, ctx)} for n in names]}


def build_relation(value: Any, ctx: _Ctx) -> dict[str, Any]:
    """Notion page ids (already resolved from Salesforce references by the engine)."""
    items = value.split(";") if isinstance(value, str) else list(value or [])
    ids = list(dict.fromkeys(i for i in (str(v).strip() for v in items) if i))
    if len(ids) > MAX_RELATIONS:
        ctx.warn(KIND_RELATIONS_CAPPED, f"{len(ids)} relations capped to {MAX_RELATIONS} (limit {MAX_RELATIONS} items)")
        ids = ids[:MAX_RELATIONS]
    return {"relation": [{"id": i} for i in ids]}


def build_date(value: Any, ctx: _Ctx) -> dict[str, Any]:
    """Salesforce dates ('2024-01-31') stay dates; datetimes become ISO 8601 with an offset (UTC if none)."""
    if value is None or value == "":
        return {"date": None}
    if isinstance(value, datetime):
        moment: datetime | date = value
    elif isinstance(value, date):
        moment = value
    else:
        text = str(value).strip()
        try:
            moment = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError:
            raise ctx.invalid("value is not an ISO 8601 date or date-time") from None
    if isinstance(moment, datetime) and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return {"date": {"start": moment.isoformat()}}


def build_email(value: Any, ctx: _Ctx) -> dict[str, Any]:
    if value is None or str(value).strip() == "":
        return {"email": None}
    email = str(value).strip()
    if len(email) > MAX_EMAIL:
        raise ctx.invalid(f"email is {len(email)} characters", limit=f"{MAX_EMAIL} characters")
    if not _EMAIL.match(email):
        raise ctx.invalid("value is not an email address (name@domain.tld)")
    return {"email": email}


def build_phone_number(value: Any, ctx: _Ctx) -> dict[str, Any]:
    if value is None or str(value).strip() == "":
        return {"phone_number": None}
    phone = str(value).strip()
    if len(phone) > MAX_PHONE:
        raise ctx.invalid(f"phone number is {len(phone)} characters", limit=f"{MAX_PHONE} characters")
    if not _PHONE.match(phone) or not any(c.isdigit() for c in phone):
        raise ctx.invalid("value is not a phone number (digits, spaces, + ( ) - . / x)")
    return {"phone_number": phone}


def build_url(value: Any, ctx: _Ctx) -> dict[str, Any]:
    """Salesforce URL fields often omit the scheme ('www.example.com'): https:// is added, with a warning."""
    if value is None or str(value).strip() == "":
        return {"url": None}
    url = str(value).strip()
    if "://" not in url and not url.lower().startswith("mailto:"):
        url = "https://" + url
        ctx.note(KIND_URL_SCHEME, "URL had no scheme; https:// added")
    if len(url) > MAX_URL:
        raise ctx.invalid(f"URL is {len(url)} characters", limit=f"{MAX_URL} characters")
    parts = urlsplit(url)
    if any(c.isspace() for c in url) or parts.scheme.lower() not in ("http", "https", "mailto", "ftp"):
        raise ctx.invalid("value is not a URL (http, https, mailto or ftp)")
    if parts.scheme.lower() != "mailto" and "." not in (parts.hostname or "") and parts.hostname != "localhost":
        raise ctx.invalid("URL has no valid host")
    return {"url": url}


BUILDERS: dict[str, Callable[[Any, _Ctx], dict[str, Any]]] = {
    "title": build_title,
    "rich_text": build_rich_text,
    "number": build_number,
    "select": build_select,
    "status": build_status,
    "multi_select": build_multi_select,
    "date": build_date,
    "checkbox": build_checkbox,
    "email": build_email,
    "phone_number": build_phone_number,
    "url": build_url,
    "relation": build_relation,
}
_EMPTY = {
    "title": {"title": []},
    "rich_text": {"rich_text": []},
    "number": {"number": None},
    "select": {"select": None},
    "status": {"status": None},
    "multi_select": {"multi_select": []},
    "date": {"date": None},
    "checkbox": {"checkbox": False},
    "email": {"email": None},
    "phone_number": {"phone_number": None},
    "url": {"url": None},
    "relation": {"relation": []},
}


def build_property(
    notion_type: str,
    value: Any,
    *,
    property_name: str,
    record_id: str | None = None,
    warnings: list[PropertyWarning] | None = None,
) -> dict[str, Any]:
    """One property value; raises PropertyValueError for a value Notion would reject."""
    builder = BUILDERS.get(notion_type)
    if builder is None:
        raise PropertyValueError(
            f"Notion property type {notion_type!r} is not supported (supported: {', '.join(SUPPORTED_TYPES)})",
            record_id=record_id,
            property_name=property_name,
        )
    return builder(value, _Ctx(record_id, property_name, notion_type, warnings if warnings is not None else []))


def build_properties(
    values: Mapping[str, Any],
    types: Mapping[str, str],
    *,
    record_id: str | None = None,
    on_invalid: OnInvalid = "fail",
) -> BuildResult:
    """All properties of one page: ``values`` and ``types`` are keyed by Notion property name.

    ``on_invalid="fail"`` raises the first PropertyValueError; ``"null"`` clears that property
    and lists the error in ``nulled``. The payload size is checked at the end either way.
    """
    result = BuildResult(properties={})
    for name, ptype in types.items():
        try:
            result.properties[name] = build_property(
                ptype, values.get(name), property_name=name, record_id=record_id, warnings=result.warnings
            )
        except PropertyValueError as exc:
            if on_invalid != "null" or ptype not in _EMPTY:
                raise
            result.properties[name] = dict(_EMPTY[ptype])
            result.nulled.append(exc)
    check_payload_size({"properties": result.properties}, record_id=record_id)
    return result


def payload_size(payload: Mapping[str, Any]) -> int:
    return len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode())


def check_payload_size(payload: Mapping[str, Any], *, record_id: str | None = None, extra_bytes: int = 1024) -> int:
    """Raise if the request body would exceed Notion's 500 KB (``extra_bytes`` leaves room for the parent)."""
    size = payload_size(payload)
    if size + extra_bytes > MAX_PAYLOAD_BYTES:
        raise PropertyValueError(
            f"request payload is {size + extra_bytes} bytes",
            record_id=record_id,
            property_name="(whole page)",
            limit=f"{MAX_PAYLOAD_BYTES} bytes",
        )
    return size


def content_hash(properties: Mapping[str, Any], extra: Iterable[Any] = ()) -> str:
    """A stable sha256 of what would be written: key order and JSON spacing do not matter."""
    canonical = json.dumps([properties, list(extra)], sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
