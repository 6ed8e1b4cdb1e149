"""Per-record retry schedule: exponential backoff with jitter, then a dead letter.

Pure functions over a policy so the schedule is unit-testable and the same everywhere: a failed
write's ``next_retry_at`` comes from here, and a Retry-After from Notion only ever pushes it later.
Jitter spreads records that failed together (one 429 burst) over a window instead of retrying them
in one thundering herd at the next retry run.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

DEFAULT_BASE_S = 300.0
DEFAULT_FACTOR = 2.0
DEFAULT_CAP_S = 6 * 3600.0
DEFAULT_MAX_ATTEMPTS = 6
DEFAULT_JITTER = 0.25


@dataclass(frozen=True)
class BackoffPolicy:
    """attempt n waits ``min(cap, base * factor**(n-1))``, minus up to ``jitter`` of it at random."""

    base_s: float = DEFAULT_BASE_S
    factor: float = DEFAULT_FACTOR
    cap_s: float = DEFAULT_CAP_S
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    jitter: float = DEFAULT_JITTER

    def __post_init__(self) -> None:
        if self.base_s < 0 or self.cap_s < self.base_s:
            raise ValueError(f"backoff needs 0 <= base ({self.base_s}) <= cap ({self.cap_s})")
        if self.factor < 1:
            raise ValueError(f"backoff factor must be >= 1, got {self.factor}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be in [0, 1], got {self.jitter}")

    @classmethod
    def from_config(cls, retry: Any) -> BackoffPolicy:
        """Read base/factor/cap/max_attempts/jitter from a config object, keeping defaults for gaps."""
        if retry is None:
            return cls()
        names = {
            "base_s": ("base_s", "base_seconds", "base"),
            "factor": ("factor",),
            "cap_s": ("cap_s", "cap_seconds", "cap", "max_delay_s"),
            "max_attempts": ("max_attempts",),
            "jitter": ("jitter",),
        }
        values: dict[str, Any] = {}
        for field_name, candidates in names.items():
            for candidate in candidates:
                value = retry.get(candidate) if isinstance(retry, dict) else getattr(retry, candidate, None)
                if value is not None:
                    values[field_name] = value.total_seconds() if isinstance(value, timedelta) else value
                    break
        return cls(**values)


def backoff_delay(attempt: int, policy: BackoffPolicy, rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
    if attempt < 1:
        raise ValueError(f"attempt is 1-based, got {attempt}")
    exponent = min(attempt - 1, 64)  # beyond this the cap has long won; avoids float overflow
    ceiling = min(policy.cap_s, policy.base_s * policy.factor**exponent)
    return ceiling * (1.0 - policy.jitter * rand())


def is_exhausted(attempts: int, policy: BackoffPolicy) -> bool:
    """True when ``attempts`` failed attempts leave no retry: the record goes Dead."""
    return attempts >= policy.max_attempts


def next_retry_at(
    now: datetime,
    attempts: int,
    policy: BackoffPolicy,
    *,
    retry_after_s: float | None = None,
    rand: Callable[[], float] = random.random,
) -> datetime | None:
    """When to retry after ``attempts`` failures, or None when the record is dead.

    A Retry-After (rate limit) is a floor: retrying earlier would only earn another 429.
    """
    if is_exhausted(attempts, policy):
        return None
    delay = backoff_delay(attempts, policy, rand)
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return now + timedelta(seconds=delay)


def schedule(policy: BackoffPolicy) -> list[float]:
    """The jitter-free delays of every retry, for docs and tests."""
    return [backoff_delay(n, policy, rand=lambda: 0.0) for n in range(1, policy.max_attempts)]
