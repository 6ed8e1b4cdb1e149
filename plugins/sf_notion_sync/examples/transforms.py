"""The example's property transform: a helpdesk's priority code -> the Notion select option."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PRIORITY_LABELS = {"1": "Urgent", "2": "High", "3": "Normal", "4": "Low"}


def priority_label(record: Mapping[str, Any]) -> str | None:
    """An unknown code raises: that ticket fails into sync_log with this message, the others sync."""
    code = record.get("priority")
    if code in (None, ""):
        return None
    try:
        return PRIORITY_LABELS[str(code).strip()]
    except KeyError:
        raise ValueError(f"unknown priority code {code!r} (known: {', '.join(PRIORITY_LABELS)})") from None


priority_label.__version__ = "1"  # bump when the labels change: every ticket's page is rewritten
