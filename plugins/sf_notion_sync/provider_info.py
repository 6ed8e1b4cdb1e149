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
    "budget_rate": {
        "label": "Budget (requests/s)",
        "description": "Average requests per second shared by every worker using this token (Notion: ~3).",
        "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
    },
    "budget_burst": {
        "label": "Budget burst",
        "description": "Requests that may be sent back to back before the average rate applies (keep it below Notion's).",
        "schema": {"type": ["integer", "null"], "minimum": 1},
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
        "label": "Fast-lane share",
        "description": "Part of the budget bulk work leaves to the fast lane (single records synced now); default 0.2.",
        "schema": {"type": ["number", "null"], "minimum": 0, "exclusiveMaximum": 1},
    },
}


def get_provider_info() -> dict:
    return {
        "package-name": "sf-notion-sync",
        "name": "Salesforce to Notion sync",
        "description": "Notion hook with a shared rate budget, and DAGs that sync Salesforce objects to Notion.",
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
