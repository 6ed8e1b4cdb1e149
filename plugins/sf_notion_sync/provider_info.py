"""Registers this package as an Airflow provider so the `notion` connection type appears in the UI.

Airflow 3 renders connection forms from the `conn-fields` JSON schemas declared here; the values
land in the connection's extras under the same names.
"""

from __future__ import annotations

from sf_notion_sync import __version__

NOTION_CONN_FIELDS = {
    "notion_version": {
        "label": "Notion-Version",
        "description": "API version header sent with every request: 2025-09-03, 2026-03-11 or 2026-12-01 (default).",
        "schema": {"type": ["string", "null"], "enum": ["2025-09-03", "2026-03-11", "2026-12-01", None]},
    },
    "budget_requests": {
        "label": "Budget (requests per window)",
        "description": "Requests per window shared by every worker using this token, as Notion counts them: "
                       "180 on the Free and Plus plans (the default); set 600 on Business and Enterprise.",
        "schema": {"type": ["integer", "null"], "minimum": 1},
    },
    "budget_window_s": {
        "label": "Budget window (seconds)",
        "description": "Length of the window the budget counts (Notion: 60 s, the default).",
        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
    },
    "budget_rate": {
        "label": "Budget (requests/s), deprecated",
        "description": "Deprecated: set the budget per window instead. Read as budget_requests = rate x window "
                       "when budget_requests is empty.",
        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
    },
    "budget_burst": {
        "label": "Budget burst, deprecated",
        "description": "Deprecated: the limiter shapes bursts itself. Requests sent back to back at most.",
        "schema": {"type": ["integer", "null"], "minimum": 1},
    },
    "workspace": {
        "label": "Notion workspace",
        "description": "Optional: one name for every connection of the same Notion workspace, so that a "
                       "workspace-limit 429 pauses all of them (leave empty if this is its only connection).",
        "schema": {"type": ["string", "null"], "maxLength": 64},
    },
    "limiter_backend": {
        "label": "Budget shared through",
        "description": "sql: the sync state database (default); redis: a Redis connection; local: each worker takes budget / pool slots.",
        "schema": {"type": ["string", "null"], "enum": ["sql", "redis", "local", None]},
    },
    "redis_conn_id": {
        "label": "Redis connection id",
        "description": "With limiter_backend redis: the Airflow connection of the Redis server (default redis_default).",
        "schema": {"type": ["string", "null"]},
    },
    "fast_lane_share": {
        "label": "Fast-lane cap",
        "description": "At most this share of the budget (0 to 1; default 0.2) may go to the fast lane "
                       "(single records synced now), which goes ahead of bulk work; nothing is kept idle.",
        "schema": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
    },
}


def get_provider_info() -> dict:
    return {
        "package-name": "sf-notion-sync",
        "name": "Salesforce to Notion sync",
        "description": "Notion hook with a shared window budget, and DAGs that sync Salesforce objects to Notion.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Notion",
                "external-doc-url": "https://developers.notion.com/reference/intro",
                "tags": ["software"],
            }
        ],
        "connection-types": [
            {
                "connection-type": "notion",
                "hook-class-name": "sf_notion_sync.airflow.hooks.NotionHook",
                "hook-name": "Notion",
                "conn-fields": NOTION_CONN_FIELDS,
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "login", "extra"],
                    "relabeling": {"password": "Integration token", "host": "API base URL"},
                    "placeholders": {"host": "https://api.notion.com (leave empty for the real API)"},
                },
            }
        ],
    }
