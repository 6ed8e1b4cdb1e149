"""The /_sandbox/ control API: no auth, no limits, no faults; JSON in and out."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs

from .config import EmulatorConfig
from .errors import NotionError
from .faults import FaultInjector, parse_script
from .store import Store
from .workspace import Workspace

_PAGES = re.compile(r"^/_sandbox/data_sources/(?P<id>[^/]+)/pages$")


def _bad(message: str) -> tuple[int, dict[str, Any]]:
    return 400, {"object": "error", "status": 400, "code": "validation_error", "message": message}


class ControlApi:
    def __init__(self, workspace: Workspace, store: Store, config: EmulatorConfig, injector: FaultInjector):
        self.workspace = workspace
        self.store = store
        self.config = config
        self.injector = injector

    def handle(self, method: str, path: str, query_string: bytes, raw: bytes) -> tuple[int, Any]:
        query = {k: v[-1] for k, v in parse_qs(query_string.decode("latin-1")).items()}
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            return _bad(f"invalid JSON: {exc}")
        try:
            return self._dispatch(method, path.rstrip("/"), query, body)
        except NotionError as error:
            return error.status, error.body("sandbox")
        except ValueError as exc:
            return _bad(str(exc))

    def _dispatch(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        if (method, path) == ("POST", "/_sandbox/reset"):
            self.workspace.reset()
            return 200, {"ok": True}
        if (method, path) == ("POST", "/_sandbox/databases"):
            if not isinstance(body, dict):
                raise ValueError("body must be an object")
            database, source = self.workspace.create_database(
                body.get("title", ""), body.get("properties") or {},
                database_id=body.get("database_id"), data_source_id=body.get("data_source_id"),
            )
            return 200, {"database_id": database["id"], "data_source_id": source["id"]}
        match = _PAGES.match(path)
        if method == "GET" and match:
            pages = self.workspace.pages_of(match["id"])
            if query.get("include_trashed", "0").lower() not in ("1", "true", "yes"):
                pages = [p for p in pages if not p["in_trash"]]
            return 200, {"count": len(pages), "pages": pages}
        if method == "POST" and match:  # pages made outside the sync, e.g. duplicates for a sweep test
            if not isinstance(body, dict) or not isinstance(body.get("properties"), list):
                raise ValueError("body must be an object with a list `properties` (one page's properties each)")
            return 200, {"created": self.workspace.seed_pages(match["id"], body["properties"])}
        if (method, path) == ("GET", "/_sandbox/requests"):
            try:
                since = float(query.get("since", "0"))
            except ValueError:
                raise ValueError("since must be an epoch number") from None
            return 200, self.store.requests_since(since)
        if path == "/_sandbox/config" and method in ("GET", "PATCH"):
            if method == "PATCH":
                if not isinstance(body, dict):
                    raise ValueError("body must be an object")
                self.config.patch(body)
            return 200, self.config.to_dict()
        if (method, path) == ("POST", "/_sandbox/script"):
            if not isinstance(body, dict):
                raise ValueError("body must be an object")
            if body.get("clear"):
                self.injector.clear_script()
            self.injector.add_script(parse_script(body.get("responses", [])))
            return 200, {"pending": self.injector.pending_script()}
        return 404, {
            "object": "error",
            "status": 404,
            "code": "invalid_request_url",
            "message": f"no {method} {path}",
        }
