"""Data sources (API 2025-09-03): database id -> data_source_id, and a schema preflight.

A database holds one or more data sources; pages are created in and queried from a data source.
The resolution is cached per process (a database's first data source does not move). The preflight
compares the data source's properties with the mapping before any write and reports every problem
in one error, so a misconfigured sync fails at once instead of record by record.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errors import SchemaMismatchError
from .properties import SUPPORTED_TYPES

if TYPE_CHECKING:
    from .client import ThrottledNotionClient

ID_PROPERTY_TYPES = ("rich_text", "title")
_cache: dict[tuple[str, str, str], str] = {}
_cache_lock = threading.Lock()


def resolve_data_source_id(client: ThrottledNotionClient, database_id: str) -> str:
    """The first data source of ``database_id`` (GET /v1/databases/{id}), cached per process."""
    key = (client.base_url, client.fingerprint, database_id)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    database = client.retrieve_database(database_id).data
    sources = database.get("data_sources") or []
    if not sources or not isinstance(sources[0], dict) or not sources[0].get("id"):
        raise SchemaMismatchError(database_id, ["the database has no data source (is the Notion-Version 2025-09-03?)"])
    data_source_id = str(sources[0]["id"])
    with _cache_lock:
        _cache[key] = data_source_id
    return data_source_id


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def check_schema(properties: Mapping[str, Any], mapping: Mapping[str, str], id_property: str) -> list[str]:
    """Every mismatch between the data source's ``properties`` and ``mapping`` ({name: type})."""
    problems: list[str] = []
    actual = {name: (spec or {}).get("type") for name, spec in properties.items()}
    for name, expected in mapping.items():
        if expected not in SUPPORTED_TYPES:
            problems.append(f"property {name!r}: the mapping's type {expected!r} is not supported")
        elif name not in actual:
            problems.append(f"property {name!r} ({expected}) is missing{_similar(name, actual)}")
        elif actual[name] != expected:
            problems.append(f"property {name!r} is {actual[name]}, the mapping needs {expected}")
    if id_property not in actual:
        problems.append(f"the Salesforce Id property {id_property!r} is missing{_similar(id_property, actual)}")
    elif actual[id_property] not in ID_PROPERTY_TYPES:
        problems.append(f"the Salesforce Id property {id_property!r} is {actual[id_property]}, it must be rich_text or title")
    titles = [n for n, t in mapping.items() if t == "title"]
    if len(titles) > 1:
        problems.append(f"the mapping has {len(titles)} title properties ({', '.join(titles)}); Notion allows one")
    return problems


def _similar(name: str, actual: Mapping[str, Any]) -> str:
    folded = {n.casefold().replace(" ", "").replace("_", ""): n for n in actual}
    match = folded.get(name.casefold().replace(" ", "").replace("_", ""))
    return f" (did you mean {match!r}?)" if match else ""


def preflight(
    client: ThrottledNotionClient, data_source_id: str, mapping: Mapping[str, str], id_property: str
) -> dict[str, Any]:
    """Check the target before any write; returns the data source, raises SchemaMismatchError."""
    source = client.retrieve_data_source(data_source_id).data
    problems = check_schema(source.get("properties") or {}, mapping, id_property)
    if problems:
        raise SchemaMismatchError(data_source_id, problems)
    return source
