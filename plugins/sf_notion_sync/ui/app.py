"""The dashboard's FastAPI app: one page and the JSON it polls, behind Airflow's authentication.

The plugin mounts it inside Airflow's API server. A plugin app is open to anyone who can reach the
server unless it adds Airflow's auth dependency, so every route here requires what Airflow's own
run lists require: a user allowed to read DAG runs (token from the UI's cookie or a bearer header).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import requires_access_dag
from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from sf_notion_sync.state.store import StateStore
from sf_notion_sync.ui import queries

TEMPLATE = Path(__file__).with_name("dashboard.html")
POLL_SECONDS = 5
T = TypeVar("T")

authorize = requires_access_dag("GET", DagAccessEntity.RUN)


def _default_store() -> StateStore:
    from sf_notion_sync.airflow.hooks import SyncStateHook

    return SyncStateHook().get_store()


def create_app(store_factory: Callable[[], StateStore] = _default_store) -> FastAPI:
    """The app; ``store_factory`` is called once, on the first request (tests pass a temp store)."""
    get_store = cache(store_factory)  # one engine, hence one connection pool, per app

    def read(query: Callable[..., T], **kwargs: Any) -> T:
        """Run a query on the state database; its errors (only its: Airflow's own database is not
        ours to explain) become StateUnavailable."""
        store = get_store()
        queries.check_ready(store)
        try:
            return query(store, **kwargs)
        except SQLAlchemyError as exc:
            raise queries.unreadable(exc) from exc

    app = FastAPI(
        title="Salesforce → Notion sync dashboard",
        dependencies=[Depends(authorize)],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @app.exception_handler(queries.StateUnavailable)
    async def _unavailable(_request: Request, exc: queries.StateUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.get("/", response_class=HTMLResponse)
    def page(request: Request) -> HTMLResponse:
        """Server-rendered with the first overview inlined, so it shows data before any poll."""
        try:
            initial = {"overview": read(queries.overview)}
        except queries.StateUnavailable as exc:
            initial = {"detail": str(exc)}
        config = {"api": request.scope.get("root_path", "").rstrip("/") + "/api/", "poll_ms": POLL_SECONDS * 1000}
        # "<" escaped so that no text from the database can close the script element
        inline = json.dumps({**initial, **config}, default=str).replace("<", "\\u003c")
        return HTMLResponse(TEMPLATE.read_text(encoding="utf-8").replace("__INITIAL_DATA__", inline))

    @app.get("/api/overview")
    def overview() -> dict:
        return read(queries.overview)

    @app.get("/api/runs")
    def runs(per_object: int = Query(queries.RUNS_PER_OBJECT, ge=1, le=50)) -> dict:
        return read(queries.runs, per_object=per_object)

    @app.get("/api/failures")
    def failures(limit: int = Query(queries.LATEST_FAILURES, ge=1, le=queries.MAX_FAILURES)) -> dict:
        return read(queries.failures, limit=limit)

    @app.get("/api/usage")
    def usage(hours: int = Query(queries.USAGE_HOURS, ge=1, le=queries.MAX_USAGE_HOURS)) -> dict:
        return read(queries.usage, hours=hours)

    @app.get("/api/budget")
    def budget(salesforce: bool = False) -> dict:
        return queries.budget(salesforce=salesforce)

    return app
