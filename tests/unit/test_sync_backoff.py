"""Per-record retry schedule: exponential, capped, jittered, Retry-After as a floor, then Dead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sf_notion_sync.config import RetryPolicy
from sf_notion_sync.sync.backoff import is_exhausted, next_retry_at, retry_delay, schedule

POLICY = RetryPolicy(base_seconds=60, factor=2.0, cap_seconds=600, max_attempts=6, jitter=0.1)
NOW = datetime(2025, 1, 1, tzinfo=UTC)


def test_schedule_doubles_until_the_cap() -> None:
    assert schedule(POLICY) == [60, 120, 240, 480, 600]


def test_jitter_stays_within_its_share() -> None:
    assert retry_delay(2, POLICY, rand=lambda: 0.0) == pytest.approx(108)
    assert retry_delay(2, POLICY, rand=lambda: 1.0) == pytest.approx(132)
    assert retry_delay(9, POLICY, rand=lambda: 1.0) == pytest.approx(660)


def test_retry_after_is_a_floor() -> None:
    assert retry_delay(1, POLICY, retry_after_s=300, rand=lambda: 0.5) == 300
    assert retry_delay(3, POLICY, retry_after_s=5, rand=lambda: 0.5) == 240


def test_dead_after_max_attempts() -> None:
    assert next_retry_at(NOW, 5, POLICY, rand=lambda: 0.5) == NOW + timedelta(seconds=600)
    assert is_exhausted(6, POLICY) and next_retry_at(NOW, 6, POLICY) is None


def test_attempts_are_one_based() -> None:
    with pytest.raises(ValueError):
        retry_delay(0, POLICY)
