"""Per-record retry schedule: exponential backoff with jitter, then a dead letter.

The delay formula is the config's ``RetryPolicy.delay`` (base * factor^(n-1), capped, +/- jitter);
this module adds what the engine decides with it, as pure functions: when a failed record is due
again (a Notion Retry-After only ever pushes that later: retrying earlier would earn another 429)
and when it has run out of attempts.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta

from sf_notion_sync.config import RetryPolicy


def retry_delay(
    attempts: int,
    policy: RetryPolicy,
    *,
    retry_after_s: float | None = None,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after ``attempts`` failed attempts (1-based), at least ``retry_after_s``."""
    if attempts < 1:
        raise ValueError(f"attempts is 1-based, got {attempts}")
    delay = policy.delay(attempts, rand)
    return delay if retry_after_s is None else max(delay, retry_after_s)


def is_exhausted(attempts: int, policy: RetryPolicy) -> bool:
    """True when ``attempts`` failed attempts leave no retry: the record goes Dead."""
    return attempts >= policy.max_attempts


def next_retry_at(
    now: datetime,
    attempts: int,
    policy: RetryPolicy,
    *,
    retry_after_s: float | None = None,
    rand: Callable[[], float] = random.random,
) -> datetime | None:
    """When to retry after ``attempts`` failures, or None when the record is dead."""
    if is_exhausted(attempts, policy):
        return None
    return now + timedelta(seconds=retry_delay(attempts, policy, retry_after_s=retry_after_s, rand=rand))


def schedule(policy: RetryPolicy) -> list[float]:
    """The jitter-free delay before each retry (attempts 1 .. max_attempts-1), for docs and tests."""
    return [policy.delay(n, rand=lambda: 0.5) for n in range(1, policy.max_attempts)]
