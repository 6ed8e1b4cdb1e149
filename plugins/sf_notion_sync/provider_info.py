"""Registers this package as an Airflow provider so the `notion` connection type appears in the UI."""

from __future__ import annotations

from sf_notion_sync import __version__


def get_provider_info() -> dict:
    return {
        "package-name": "sf-notion-sync",
        "name": "Salesforce to Notion sync",
        "description": "Notion hook with a shared rate budget, and DAGs that sync Salesforce objects to Notion.",
        "versions": [__version__],
        "connection-types": [
            {
                "connection-type": "notion",
                "hook-class-name": "sf_notion_sync.airflow.hooks.NotionHook",
            }
        ],
        "integrations": [
            {
                "integration-name": "Notion",
                "external-doc-url": "https://developers.notion.com/reference/intro",
                "tags": ["software"],
            }
        ],
    }
