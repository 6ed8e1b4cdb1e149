"""Retry-After parsing: delta-seconds or an HTTP date, always a bounded number of seconds."""

from __future__ import annotations

import math
import time
from datetime import UTC
from email.utils import parsedate_to_datetime

from .constants import RETRY_AFTER_FALLBACK_S, RETRY_AFTER_MAX_S


def parse_retry_after(
    value: str | None,
    *,
    now: float | None = None,
    fallback: float = RETRY_AFTER_FALLBACK_S,
    maximum: float = RETRY_AFTER_MAX_S,
) -> float:
    """Seconds to wait. Missing, invalid or negative values give ``fallback``; a date already
    past gives 0; every result is capped at ``maximum`` so a bad header cannot stall a sync."""
    seconds = _parse(value, time.time() if now is None else now)
    if seconds is None:
        seconds = fallback
    return max(0.0, min(seconds, maximum))


def _parse(value: str | None, now: float) -> float | None:
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000": UTC by RFC 5322
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)
