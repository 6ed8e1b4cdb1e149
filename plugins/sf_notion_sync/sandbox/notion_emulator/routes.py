"""The /v1 endpoints: path matching and dispatch to the workspace (no HTTP or fault concerns here)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .errors import NotionError, validation
from .validation import is_uuid
from .workspace import Workspace

Handler = Callable[[Workspace, dict[str, str], Any, str], dict[str, Any]]
_ID = r"(?P<{}>[^/]+)"


def _me(ws: Workspace, args: dict[str, str], body: Any, fp: str) -> dict[str, Any]:
    return ws.me(fp)


def _get_database(ws: Workspace, args: dict[str, str], body: Any, fp: str) -> dict[str, Any]:
    return ws.get_database(args["database_id"])


def _get_data_source(ws: Workspace, args: dict[str, str], body: Any, fp: str) -> dict[str, Any]:
    return ws.get_data_source(args["data_source_id"])


def _update_data_source(ws: Workspace, args: dict[str, str], body: Any, fp: str) -> dict[str, Any]:
    return ws.update_data_source(args["data_source_id"], _object(body))


def _query(ws: Workspace, args: dict[str, str], body: Any, fp: str) -> dict[str, Any]:
    return ws.query(args["data_source_id"], _object(body))


def _create_page(ws: Workspace, args: dict[str, str], body: Any, fp: str) -> dict[str, Any]:
    return ws.create_page(_object(body), fp)


def _get_page(ws: Workspace, args: dict[str, str], body: Any, fp: str) -> dict[str, Any]:
    return ws.get_page(args["page_id"])


def _update_page(ws: Workspace, args: dict[str, str], body: Any, fp: str) -> dict[str, Any]:
    return ws.update_page(args["page_id"], _object(body), fp)


def _object(body: Any) -> dict[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise validation("body failed validation: body should be an object.")
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
]


def resolve(method: str, path: str) -> tuple[Handler, dict[str, str]]:
    """The handler and path arguments, or the API's errors for an unknown URL or a malformed id."""
    for verb, pattern, handler in _TABLE:
        match = pattern.match(path)
        if match and verb == method:
            args = match.groupdict()
            for name, value in args.items():
                if not is_uuid(value):
                    raise validation(
                        f'path failed validation: path.{name} should be a valid uuid, instead was `"{value}"`.'
                    )
            return handler, args
    raise NotionError(400, "invalid_request_url", "Invalid request URL.")
