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

from sf_notion_sync.config import ConfigError, SyncConfig, load_config
from sf_notion_sync.state.store import StateStore, utcnow
from sf_notion_sync.ui import config_view, queries, run_view

HERE = Path(__file__).parent
TEMPLATE = HERE / "dashboard.html"
CONFIG_TEMPLATE = HERE / "config.html"
STYLE, COMMON_JS = HERE / "style.css", HERE / "common.js"
"""Inlined into both pages (at __STYLE__ and __COMMON_JS__): one stylesheet, one set of helpers, no extra requests."""
POLL_SECONDS = 5
T = TypeVar("T")

authorize = requires_access_dag("GET", DagAccessEntity.RUN)


def _default_store() -> StateStore:
    from sf_notion_sync.airflow.hooks import SyncStateHook

    return SyncStateHook().get_store()


def _render(template: Path, request: Request, data: dict[str, Any]) -> HTMLResponse:
    """A page with its first data inlined, so it shows data before any poll, and the API's base path."""
    root = request.scope.get("root_path", "").rstrip("/")
    config = {"api": root + "/api/", "root": root + "/", "poll_ms": POLL_SECONDS * 1000}
    # "<" escaped so that no text from the database can close the script element
    inline = json.dumps({**data, **config}, default=str).replace("<", "\\u003c")
    html = template.read_text(encoding="utf-8")
    html = html.replace("__STYLE__", f"<style>\n{STYLE.read_text(encoding='utf-8')}</style>")
    html = html.replace("__COMMON_JS__", COMMON_JS.read_text(encoding="utf-8"))
    return HTMLResponse(html.replace("__INITIAL_DATA__", inline))


def create_app(store_factory: Callable[[], StateStore] = _default_store,
               config_loader: Callable[[], SyncConfig] = load_config) -> FastAPI:
    """The app; ``store_factory`` is called once, on the first request (tests pass a temp store);
    ``config_loader`` on every configuration request, so the page shows sync.yaml as it is now."""
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

    def configuration(object_name: str) -> dict:
        try:
            config = config_loader()
        except ConfigError as exc:
            raise queries.StateUnavailable(f"The sync configuration cannot be read: {exc}") from exc
        return read(config_view.object_config, config=config, object_name=object_name)

    @app.exception_handler(config_view.UnknownObject)
    async def _unknown(_request: Request, exc: config_view.UnknownObject) -> JSONResponse:
        return JSONResponse({"detail": exc.args[0]}, status_code=404)

    @app.get("/", response_class=HTMLResponse)
    def page(request: Request) -> HTMLResponse:
        try:
            initial = {"overview": read(queries.overview)}
        except queries.StateUnavailable as exc:
            initial = {"detail": str(exc)}
        return _render(TEMPLATE, request, initial)

    @app.get("/config/{object_name}", response_class=HTMLResponse)
    def config_page(request: Request, object_name: str) -> HTMLResponse:
        """One object's configuration, its mapping beside the data source's schema from the last preflight."""
        try:
            initial: dict[str, Any] = {"config": configuration(object_name)}
        except (queries.StateUnavailable, config_view.UnknownObject) as exc:
            initial = {"detail": exc.args[0]}
        return _render(CONFIG_TEMPLATE, request, initial)

    @app.get("/api/config/{object_name}")
    def config_api(object_name: str) -> dict:
        return configuration(object_name)

    @app.get("/api/overview")
    def overview() -> dict:
        return read(queries.overview)

    @app.get("/api/runs")
    def runs(per_object: int = Query(queries.RUNS_PER_OBJECT, ge=1, le=50)) -> dict:
        return read(queries.runs, per_object=per_object)

    @app.get("/api/failures")
    def failures(limit: int = Query(queries.LATEST_FAILURES, ge=1, le=queries.MAX_FAILURES)) -> dict:
        return read(queries.failures, limit=limit)

    @app.get("/api/budget-use")
    def budget_use(hours: int = Query(run_view.BUDGET_HOURS, ge=1, le=run_view.MAX_BUDGET_HOURS)) -> dict:
        return read(run_view.budget_use, now=utcnow(), hours=hours)

    @app.get("/api/usage")
    def usage(hours: int = Query(queries.USAGE_HOURS, ge=1, le=queries.MAX_USAGE_HOURS)) -> dict:
        return read(queries.usage, hours=hours)

    @app.get("/api/budget")
    def budget(salesforce: bool = False) -> dict:
        return queries.budget(salesforce=salesforce)

    return app
