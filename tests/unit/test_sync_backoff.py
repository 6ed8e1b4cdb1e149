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


def test_first_delay_is_the_base_and_each_next_multiplies_by_the_factor() -> None:
    policy = RetryPolicy(base_seconds=30, factor=3.0, cap_seconds=1e9, max_attempts=5, jitter=0.0)
    delays = schedule(policy)
    assert delays[0] == 30
    assert [b / a for a, b in zip(delays, delays[1:], strict=False)] == [3.0, 3.0, 3.0]


def test_cap_bounds_every_later_attempt_even_with_jitter() -> None:
    capped = [retry_delay(n, POLICY, rand=lambda: 1.0) for n in range(5, 40)]
    assert all(d == pytest.approx(POLICY.cap_seconds * (1 + POLICY.jitter)) for d in capped)


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5, 6, 12])
def test_jitter_bounds_over_random_draws(attempt: int) -> None:
    """Real random draws, never outside +/- jitter of the jitter-free delay (and never negative)."""
    middle = retry_delay(attempt, POLICY, rand=lambda: 0.5)
    draws = [retry_delay(attempt, POLICY) for _ in range(500)]
    low, high = middle * (1 - POLICY.jitter), middle * (1 + POLICY.jitter)
    assert all(low <= d <= high for d in draws)
    assert max(draws) - min(draws) > middle * POLICY.jitter, "jitter should spread the draws"


def test_zero_base_makes_a_failure_due_at_once() -> None:
    """The policy tests use to run retries back to back: no delay, still capped attempts."""
    policy = RetryPolicy(base_seconds=0, factor=2.0, cap_seconds=600, max_attempts=3, jitter=0.1)
    assert next_retry_at(NOW, 1, policy) == NOW and next_retry_at(NOW, 3, policy) is None


def test_the_store_applies_the_schedule_then_the_dead_letter(tmp_path) -> None:
    """Through record_failures as the writer calls it: delays grow per attempt, the last one is Dead."""
    from sf_notion_sync.state.rows import Failure
    from sf_notion_sync.state.store import StateStore

    store = StateStore.from_url(f"sqlite:///{tmp_path / 'state.db'}")
    failure = Failure(run_id="r", object_name="Account", sf_id="001A", operation="create",
                      error_code="service_unavailable", error_message="503")
    delays = []
    for attempt in range(1, POLICY.max_attempts + 1):
        entry = store.record_failure(failure, retry_delay=lambda n: retry_delay(n, POLICY, rand=lambda: 0.5),
                                     max_attempts=POLICY.max_attempts, now=NOW)
        assert entry.attempts == attempt
        delays.append(None if entry.next_retry_at is None else (entry.next_retry_at - NOW).total_seconds())
    assert delays == [*schedule(POLICY), None]
    assert entry.status == "Dead" and store.due_for_retry(NOW + timedelta(days=365)) == []
