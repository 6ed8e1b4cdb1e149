"""Registers the sync dashboard with Airflow: a FastAPI app and a nav entry that opens it in the UI.

Loaded through the ``airflow.plugins`` entry point (plugins/.airflowignore keeps the package out of
the plugins-folder scan). Every Airflow process loads plugins, but only the API server serves apps:
the app, and Airflow's API security module it imports (about 2 s), are built on first access there.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/sf-notion-sync"


class SyncDashboardPlugin(AirflowPlugin):
    name = "sf_notion_sync"
    external_views = [
        {
            "name": "SF Sync",  # a nav label: about 8 characters fit, longer ones are cut
            "href": URL_PREFIX.lstrip("/") + "/",  # relative to Airflow's base URL (works behind a proxy)
            "url_route": "sf-notion-sync",  # shown inside the UI at /plugin/sf-notion-sync
            "destination": "nav",
            "nav_top_level": True,
        }
    ]

    @cached_property
    def fastapi_apps(self) -> list[dict[str, Any]]:  # type: ignore[override]
        from sf_notion_sync.ui.app import create_app

        return [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "Salesforce → Notion sync dashboard"}]
