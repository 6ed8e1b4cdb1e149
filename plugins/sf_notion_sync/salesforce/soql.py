"""SOQL built only from describe-checked field names and escaped values.

Field names never come from free text: each one is looked up in the object's describe, so a typo in
the mapping config fails at load with a suggestion instead of a MALFORMED_QUERY mid-run. Values are
escaped by `quote()`; the only raw SOQL accepted is the config's WHERE filter, which is checked to be
balanced so that it cannot escape the parentheses it is wrapped in.
"""

from __future__ import annotations

import difflib
import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from simple_salesforce.exceptions import SalesforceResourceNotFound

from .session import SalesforceSession, as_session

CURSOR_FIELD = "SystemModstamp"
# Compound fields come back as nested objects over REST and are refused by Bulk API 2.0 queries.
COMPOUND_TYPES = frozenset({"address", "location"})

_ESCAPES = str.maketrans(
    {
        "\\": "\\\\",
        "'": "\\'",
        '"': '\\"',
        "\n": "\\n",
        "\r": "\\r",
        "\t": "\\t",
        "\b": "\\b",
        "\f": "\\f",
    }
)


class SoqlError(ValueError):
    """A query could not be built from the given names or filter."""


class UnknownObjectError(SoqlError):
    """The object is not in the org's describe."""


class UnknownFieldError(SoqlError):
    """A field is not in the object's describe."""

    def __init__(self, object_name: str, field_name: str, suggestions: Sequence[str], config_path: str | None):
        self.object_name = object_name
        self.field_name = field_name
        self.suggestions = list(suggestions)
        self.config_path = config_path
        where = f" (at {config_path})" if config_path else ""
        hint = f"; did you mean {', '.join(self.suggestions)}?" if self.suggestions else ""
        super().__init__(f"Salesforce object {object_name} has no field {field_name!r}{where}{hint}")


@dataclass(frozen=True)
class ObjectSchema:
    """The part of an object's describe that query building and type conversion need."""

    name: str
    field_types: Mapping[str, str]  # canonical field name -> describe type ('string', 'double', ...)
    _by_lower: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_lower", {n.lower(): n for n in self.field_types})

    @classmethod
    def from_describe(cls, describe: Mapping[str, Any]) -> ObjectSchema:
        return cls(name=describe["name"], field_types={f["name"]: f["type"] for f in describe["fields"]})

    def canonical(self, name: str, config_path: str | None = None) -> str:
        """The describe spelling of `name` (SOQL names are case-insensitive), or UnknownFieldError."""
        found = self._by_lower.get(name.strip().lower())
        if found is None:
            close = difflib.get_close_matches(name.lower(), list(self._by_lower), n=3, cutoff=0.6)
            raise UnknownFieldError(self.name, name, [self._by_lower[c] for c in close], config_path)
        return found

    def select_fields(self, fields: Iterable[str], config_path: str | None = None) -> list[str]:
        """Checked, canonical, de-duplicated field list that always starts with Id and the cursor field."""
        out: list[str] = []
        for index, name in enumerate(["Id", CURSOR_FIELD, *fields]):
            path = f"{config_path}[{index - 2}]" if config_path and index >= 2 else config_path
            canonical = self.canonical(name, path)
            if self.field_types[canonical] in COMPOUND_TYPES:
                raise SoqlError(
                    f"{self.name}.{canonical} is a compound {self.field_types[canonical]} field"
                    f"{f' (at {path})' if path else ''}; list its component fields instead"
                )
            if canonical not in out:
                out.append(canonical)
        return out


_describe_cache: dict[tuple[str, str, str], ObjectSchema] = {}
_describe_lock = threading.Lock()


def describe_object(sf: Any, object_name: str) -> ObjectSchema:
    """Describe `object_name` once per process and org (describes cost API calls and rarely change).

    `sf` is a simple_salesforce client or a SalesforceSession (which logs in again on expiry)."""
    session = as_session(sf)
    client = session.client
    key = (str(getattr(client, "sf_instance", "")), str(getattr(client, "sf_version", "")), object_name.lower())
    with _describe_lock:
        cached = _describe_cache.get(key)
    if cached is not None:
        return cached
    try:
        schema = ObjectSchema.from_describe(session.call(lambda c: getattr(c, object_name).describe()))
    except SalesforceResourceNotFound:
        raise UnknownObjectError(_unknown_object_message(session, object_name)) from None
    with _describe_lock:
        _describe_cache[key] = schema
    return schema


def clear_describe_cache() -> None:
    """Forget cached describes (after a schema change, or between tests)."""
    with _describe_lock:
        _describe_cache.clear()


def _unknown_object_message(session: SalesforceSession, object_name: str) -> str:
    message = f"Salesforce has no object {object_name!r}"
    try:
        names = [o["name"] for o in session.call(lambda c: c.describe())["sobjects"]]
    except Exception:  # the suggestion is a courtesy; the error stands without it
        return message
    close = difflib.get_close_matches(object_name, names, n=3, cutoff=0.6)
    return f"{message}; did you mean {', '.join(close)}?" if close else message


def quote(value: Any) -> str:
    """A SOQL literal for `value`: escaped strings, unquoted UTC datetimes, booleans, null, lists for IN."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value.translate(_ESCAPES) + "'"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        if isinstance(value, float) and not math.isfinite(value):
            raise SoqlError(f"SOQL has no literal for {value!r}")
        return format(value, "f") if isinstance(value, Decimal) else repr(value)
    if isinstance(value, datetime):
        return datetime_literal(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        if not value:
            raise SoqlError("SOQL IN needs at least one value")
        return "(" + ", ".join(quote(v) for v in value) + ")"
    raise SoqlError(f"SOQL has no literal for values of type {type(value).__name__}")


def datetime_literal(value: datetime) -> str:
    """`YYYY-MM-DDThh:mm:ssZ` in UTC; sub-seconds are floored, which only widens a `>=` window."""
    if value.tzinfo is None:
        raise SoqlError("naive datetime in a SOQL filter; pass a timezone-aware (UTC) datetime")
    return value.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_filter(where: str, config_path: str | None = None) -> str:
    """Refuse a WHERE filter whose quotes or parentheses do not balance, so it stays inside its own parentheses."""
    depth, in_string, escaped = 0, False, False
    for char in where:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == "'":
                in_string = False
        elif char == "'":
            in_string = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                break
    if in_string or depth != 0:
        where_at = f" at {config_path}" if config_path else ""
        raise SoqlError(f"WHERE filter{where_at} has unbalanced quotes or parentheses: {where!r}")
    return where.strip()


def build_where(
    where: str | None = None,
    since: datetime | None = None,
    overlap: timedelta = timedelta(0),
    config_path: str | None = None,
    until: datetime | None = None,
) -> str:
    """`(user filter) AND SystemModstamp >= since - overlap AND SystemModstamp < until`, each part
    optional; '' when none. `until` is exclusive and rounded up to the second: stamps are whole seconds."""
    parts = []
    if where and where.strip():
        parts.append(f"({check_filter(where, config_path)})")
    if since is not None:
        parts.append(f"{CURSOR_FIELD} >= {datetime_literal(since - overlap)}")
    if until is not None:
        ceiling = until.replace(microsecond=0) + timedelta(seconds=1) if until.microsecond else until
        parts.append(f"{CURSOR_FIELD} < {datetime_literal(ceiling)}")
    return " AND ".join(parts)


def build_query(
    schema: ObjectSchema,
    fields: Iterable[str],
    where: str | None = None,
    since: datetime | None = None,
    overlap: timedelta = timedelta(0),
    limit: int | None = None,
    config_path: str | None = None,
    until: datetime | None = None,
    *,
    ordered: bool = True,
) -> str:
    """SELECT of checked fields, filtered and, when `ordered`, ordered by the cursor (SystemModstamp, Id).

    Bulk API 2.0 queries pass `ordered=False` and no `limit`: ORDER BY and LIMIT disable its PK chunking."""
    fields_path = f"{config_path}.fields" if config_path else None
    where_path = f"{config_path}.where" if config_path else None
    soql = f"SELECT {', '.join(schema.select_fields(fields, fields_path))} FROM {schema.name}"
    condition = build_where(where, since, overlap, where_path, until)
    if condition:
        soql += f" WHERE {condition}"
    if ordered:
        soql += f" ORDER BY {CURSOR_FIELD}, Id"
    if limit is not None:
        if limit < 1:
            raise SoqlError(f"LIMIT must be positive, got {limit}")
        soql += f" LIMIT {int(limit)}"
    return soql


def build_count(
    schema: ObjectSchema,
    where: str | None = None,
    since: datetime | None = None,
    overlap: timedelta = timedelta(0),
    config_path: str | None = None,
    until: datetime | None = None,
) -> str:
    """`SELECT COUNT()` over the same filter as `build_query`, to choose between REST and Bulk."""
    condition = build_where(where, since, overlap, f"{config_path}.where" if config_path else None, until)
    return f"SELECT COUNT() FROM {schema.name}" + (f" WHERE {condition}" if condition else "")
