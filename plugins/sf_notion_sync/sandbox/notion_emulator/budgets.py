"""The pacing arithmetic of the emulator's limits, apart from which limit applies (ratelimit.py).

Each budget is a frozen value with two pure functions of a key's stored state: `wait` (seconds until
one more request fits; 0 = it fits now) and `spend` (the state after admitting one). The limiter
keeps the states, so a refused request changes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_SLACK = 1e-9  # float slack: exactly on time is on time


@dataclass(frozen=True)
class WindowState:
    start: float
    count: int = 0


@dataclass(frozen=True)
class Window:
    """`requests` per `seconds`, spendable evenly or in one burst; the count starts over at the reset.

    "Request limits" (developers.notion.com): each connection has a fixed budget per 60-second window.
    Notion does not say where a window starts: `aligned` windows start at multiples of `seconds` since
    the epoch (a client's first burst can meet a reset at any moment), otherwise at the key's first
    request after the previous window ended.
    """

    requests: int
    seconds: float
    aligned: bool = True

    def current(self, state: WindowState | None, now: float) -> WindowState:
        if state is not None and now < state.start + self.seconds:
            return state
        start = math.floor(now / self.seconds) * self.seconds if self.aligned else now
        return WindowState(start)

    def wait(self, state: WindowState | None, now: float) -> float:
        window = self.current(state, now)
        return 0.0 if window.count < self.requests else window.start + self.seconds - now

    def spend(self, state: WindowState | None, now: float) -> WindowState:
        window = self.current(state, now)
        return WindowState(window.start, window.count + 1)


@dataclass(frozen=True)
class Gcra:
    """The older model ("an average of three requests per second, some bursts allowed"): GCRA with
    `rate` requests/s and room for `burst` at once; the state is the theoretical arrival time."""

    rate: float
    burst: int

    def wait(self, tat: float | None, now: float) -> float:
        interval = 1.0 / self.rate
        wait = max(now if tat is None else tat, now) + interval - self.burst * interval - now
        return wait if wait > _SLACK else 0.0

    def spend(self, tat: float | None, now: float) -> float:
        return max(now if tat is None else tat, now) + 1.0 / self.rate


def retry_after(wait: float) -> int:
    """Retry-After is whole seconds ("Request limits"); at least 1, so a client never retries at once."""
    return max(1, math.ceil(wait - _SLACK))
