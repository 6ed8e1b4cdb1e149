"""Retry-After matrix: delta-seconds, HTTP dates, missing, invalid, negative, capped."""

from email.utils import formatdate

import pytest

from sf_notion_sync.notion.constants import RETRY_AFTER_FALLBACK_S, RETRY_AFTER_MAX_S
from sf_notion_sync.notion.retry_after import parse_retry_after

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),
        ("1", 1.0),
        ("30", 30.0),
        (" 7 ", 7.0),
        ("2.5", 2.5),
        (formatdate(NOW + 42, usegmt=True), 42.0),
        (formatdate(NOW + 42, usegmt=False).replace("+0000", "-0000"), 42.0),
        (formatdate(NOW - 100, usegmt=True), 0.0),  # a date already past: go now
        (None, RETRY_AFTER_FALLBACK_S),
        ("", RETRY_AFTER_FALLBACK_S),
        ("soon", RETRY_AFTER_FALLBACK_S),
        ("nan", RETRY_AFTER_FALLBACK_S),
        ("inf", RETRY_AFTER_FALLBACK_S),
        ("Mon, 99 Foo 2026 25:00:00 GMT", RETRY_AFTER_FALLBACK_S),
        ("-5", RETRY_AFTER_FALLBACK_S),
        ("86400", RETRY_AFTER_MAX_S),
        (formatdate(NOW + 86_400, usegmt=True), RETRY_AFTER_MAX_S),
    ],
)
def test_matrix(value, expected):
    assert parse_retry_after(value, now=NOW) == pytest.approx(expected, abs=1e-6)


def test_fallback_and_cap_are_parameters():
    assert parse_retry_after(None, now=NOW, fallback=9) == 9
    assert parse_retry_after("-1", now=NOW, fallback=3) == 3
    assert parse_retry_after("100", now=NOW, maximum=60) == 60
    assert parse_retry_after(None, now=NOW, fallback=100, maximum=60) == 60
