"""Salesforce datetimes <-> aware UTC datetimes (the state store only takes aware UTC)."""

from __future__ import annotations

from datetime import UTC, datetime

from sf_notion_sync.salesforce.extract import canonical_datetime


def parse_sf_datetime(value: str | None) -> datetime | None:
    """'2024-05-01T12:00:00.000+0000' (REST) or '...Z' (Bulk) -> aware UTC datetime."""
    if not value:
        return None
    text = canonical_datetime(value)
    if text.endswith(("+0000", "-0000")):
        text = text[:-5] + "+00:00"
    parsed = datetime.fromisoformat(text)
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
