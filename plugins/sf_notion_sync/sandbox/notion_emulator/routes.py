"""The /v1 endpoints: path matching, dispatch to the workspace, and each answer in the version's shape
(no HTTP or fault concerns here)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import property_items, versions
from .errors import NotionError, validation
from .validation import is_uuid
from .workspace import Workspace


@dataclass(frozen=True)
class Call:
    """One request as the handlers see it."""

    args: dict[str, str]
    body: Any
    token: str
    version: str
    query: dict[str, list[str]]
    url: str
    """The request's URL without its query string (next_url is built from it)."""
    workspace: str
    """The name of the workspace the token's integration belongs to."""


Handler = Callable[[Workspace, Call], dict[str, Any]]
_ID = r"(?P<{}>[^/]+)"


def _page(page: dict[str, Any], call: Call) -> dict[str, Any]:
    return versions.shape(property_items.truncate_relations(page), call.version)


def _me(ws: Workspace, call: Call) -> dict[str, Any]:
    return ws.me(call.token, call.workspace)


def _get_database(ws: Workspace, call: Call) -> dict[str, Any]:
    return versions.shape(ws.get_database(call.args["database_id"]), call.version)


def _get_data_source(ws: Workspace, call: Call) -> dict[str, Any]:
    return versions.shape(ws.get_data_source(call.args["data_source_id"]), call.version)


def _update_data_source(ws: Workspace, call: Call) -> dict[str, Any]:
    return versions.shape(ws.update_data_source(call.args["data_source_id"], _object(call)), call.version)


def _query(ws: Workspace, call: Call) -> dict[str, Any]:
    result = ws.query(call.args["data_source_id"], _object(call))
    wanted = versions.requested_properties(call.query)
    pages = [versions.project(_page(p, call), call.version, wanted) for p in result["results"]]
    return {**result, "results": pages}


def _create_page(ws: Workspace, call: Call) -> dict[str, Any]:
    return _page(ws.create_page(_object(call), call.token), call)


def _get_page(ws: Workspace, call: Call) -> dict[str, Any]:
    return _page(ws.get_page(call.args["page_id"]), call)


def _update_page(ws: Workspace, call: Call) -> dict[str, Any]:
    return _page(ws.update_page(call.args["page_id"], _object(call), call.token), call)


def _get_page_property(ws: Workspace, call: Call) -> dict[str, Any]:
    property_id = call.args["property_id"]
    prop = property_items.find_property(ws.get_page(call.args["page_id"]), property_id)
    if prop is None:
        raise NotionError(404, "object_not_found", f"Could not find property with ID: {property_id}.")
    return property_items.property_item(prop, call.query, call.url)


def _object(call: Call) -> dict[str, Any]:
    body = call.body
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise validation("body failed validation: body should be an object.")
    versions.check_body(body, call.version)
    return body


_TABLE: list[tuple[str, re.Pattern[str], Handler]] = [
    ("GET", re.compile(r"^/v1/users/me$"), _me),
    ("GET", re.compile(rf"^/v1/databases/{_ID.format('database_id')}$"), _get_database),
    ("GET", re.compile(rf"^/v1/data_sources/{_ID.format('data_source_id')}$"), _get_data_source),
    ("PATCH", re.compile(rf"^/v1/data_sources/{_ID.format('data_source_id')}$"), _update_data_source),
    ("POST", re.compile(rf"^/v1/data_sources/{_ID.format('data_source_id')}/query$"), _query),
    ("POST", re.compile(r"^/v1/pages/?$"), _create_page),
    ("GET", re.compile(rf"^/v1/pages/{_ID.format('page_id')}$"), _get_page),
    ("PATCH", re.compile(rf"^/v1/pages/{_ID.format('page_id')}$"), _update_page),
    (
        "GET",
        re.compile(rf"^/v1/pages/{_ID.format('page_id')}/properties/(?P<property_id>[^/]+)$"),
        _get_page_property,
    ),
]
_UUID_ARGS = ("database_id", "data_source_id", "page_id")


def resolve(method: str, raw_path: str) -> tuple[Handler, dict[str, str]]:
    """The handler and path arguments, or the API's errors for an unknown URL or a malformed id.

    Matched on the path as sent (not URL-decoded), so a property id keeps its encoding, `%2F` included.
    """
    for verb, pattern, handler in _TABLE:
        match = pattern.match(raw_path)
        if match and verb == method:
            args = match.groupdict()
            for name in _UUID_ARGS:
                if name in args and not is_uuid(args[name]):
                    raise validation(
                        f'path failed validation: path.{name} should be a valid uuid, instead was `"{args[name]}"`.'
                    )
            return handler, args
    raise NotionError(400, "invalid_request_url", "Invalid request URL.")
