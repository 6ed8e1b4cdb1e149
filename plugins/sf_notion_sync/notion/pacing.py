"""The pacing arithmetic of the Notion budget: pure functions on plain state values, no I/O, no clock.

Notion counts each connection's requests in 60-second windows, a fixed budget per window set by the
workspace's plan (developers.notion.com, "Request limits"). Where its windows start is not known, so
the promise kept here is stronger: no span of ``window_s`` holds more than the budget, whatever the
alignment -- hence no connection-limit 429 -- and, while there is demand, every window gets all of it.

* Sliding log: a state keeps the slots of its latest reservations (``sent``, ascending). A new slot is
  never before ``sent[-n] + window_s + slack_s`` (n the budget in force), so any n + 1 consecutive sends
  span more than a window. ``slack_s`` absorbs arrival jitter: a request reserved at t reaches Notion a
  little later. Slots never go back in time, so the log stays sorted and a reservation reads two of
  its items (the Redis script mirrors this without loading the list). Times are kept to the µs.
* Shape (GCRA over the log, ``tat``): at most ``burst`` sends back to back, the rest one per
  ``(window_s + slack_s) / n``. Once a slot had to wait for the log (the window's budget is spent),
  the next window is paced evenly from its start instead of opening with another burst; idle time
  earns the burst back. The shape only orders sends: with demand, each window still sends n.
* Fast lane: a fast reservation skips the shaping and takes the next slot the log allows, right after
  the slots bulk callers already hold (each holds at most one), so bulk callers not yet served queue
  behind it. A second log caps fast sends at ``fast_lane_cap`` of any window; nothing is kept idle.
* Pauses: ``paused_until`` of the connection's, the workspace's or an endpoint's state. A workspace
  pause also cuts the workspace's ``factor`` (the share of the budget in force), which recovers by steps.
  A request for a paused endpoint takes no slot until the pause ends, so the other endpoints go on.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field, replace

from . import constants as C

LANE_BULK, LANE_FAST = "bulk", "fast"
LANES = (LANE_BULK, LANE_FAST)
_EPS = 1e-9  # float slack in floor(): 180 x 0.2 must be 36, not 35.999...


@dataclass(frozen=True)
class BudgetState:
    """One key's shared state, times in epoch seconds. A connection key uses all of it; a workspace key
    only the pause, ``factor`` and the 429 record; an endpoint key only the pause and the record."""

    sent: tuple[float, ...] = ()
    """Slots of the latest reservations, ascending, future ones included: the sliding log."""
    fast: tuple[float, ...] = ()
    """The fast lane's slots among them: the log its cap is checked against."""
    tat: float = 0.0
    """GCRA's theoretical arrival time; it shapes bursts, the log alone keeps the guarantee."""
    paused_until: float = 0.0
    factor: float = 1.0
    """Share of the budget in force: below 1 on a workspace key after a workspace 429, recovering."""
    last_429_at: float | None = None
    last_429_reason: str | None = None
    updated_at: float = 0.0


@dataclass(frozen=True)
class WorkspacePolicy:
    """The reduction after a workspace 429 (its cap is unknown and shared with other integrations):
    ×``cut`` once per episode, never below ``floor``, then +``step`` per ``period_s`` after the pause."""

    cut: float = C.WORKSPACE_CUT
    floor: float = C.WORKSPACE_FLOOR
    step: float = C.WORKSPACE_RECOVERY_STEP
    period_s: float = C.DEFAULT_WINDOW_S

    def factor(self, state: BudgetState, now: float) -> float:
        if state.factor >= 1.0:
            return 1.0
        periods = math.floor(max(0.0, now - state.paused_until) / self.period_s)
        return min(1.0, state.factor + self.step * periods)


@dataclass(frozen=True)
class WindowBudget:
    """``requests`` per ``window_s`` for one key, and how they are paced (see the module docstring)."""

    requests: int
    window_s: float
    slack_s: float
    burst: int
    fast_lane_cap: float
    policy: WorkspacePolicy = field(default_factory=WorkspacePolicy)

    def __post_init__(self) -> None:
        if self.requests < 1 or self.window_s <= 0 or self.slack_s < 0:
            raise ValueError(f"need requests >= 1, window_s > 0, slack_s >= 0; got {self.requests}, "
                             f"{self.window_s}, {self.slack_s}")
        if not 1 <= self.burst <= self.requests:
            raise ValueError(f"burst must be between 1 and requests ({self.requests}), got {self.burst}")
        if not 0.0 <= self.fast_lane_cap <= 1.0:
            raise ValueError(f"fast_lane_cap must be between 0 and 1, got {self.fast_lane_cap!r}")

    @property
    def span_s(self) -> float:
        """The window plus the slack: the least time between a send and the n-th send after it."""
        return self.window_s + self.slack_s

    def effective(self, workspace: BudgetState, now: float) -> int:
        """The budget in force: ``requests`` after the workspace's reduction."""
        return in_force(self.requests, self.policy.factor(workspace, now))

    def fast_slots(self, requests: int) -> int:
        """How many of ``requests`` the fast lane may take per window."""
        return math.floor(requests * self.fast_lane_cap + _EPS)

    def reserve(
        self, conn: BudgetState, workspace: BudgetState, endpoint_paused_until: float, now: float,
        lane: str = LANE_BULK, max_wait: float | None = None,
    ) -> tuple[BudgetState | None, float]:
        """Take the next slot: the connection's new state and the wait before sending. Nothing is taken
        (state None) when the wait is beyond ``max_wait`` (a deferring caller comes back later), nor
        while the endpoint is paused past the slot: the wait is then to the pause's end, and the slots
        stay free for the other endpoints (a slot held that far ahead would hold up every later one)."""
        n = self.effective(workspace, now)
        interval = self.span_s / n
        earliest = max(now, conn.paused_until, workspace.paused_until, *conn.sent[-1:])
        window_free = _free_after(conn.sent, n, self.span_s)
        slot = max(earliest, window_free, conn.tat - (self.burst - 1) * interval)
        fast = False
        if lane == LANE_FAST and (cap := self.fast_slots(n)) > 0:
            fast_slot = max(earliest, window_free, _free_after(conn.fast, cap, self.span_s))
            fast, slot = fast_slot <= slot, min(slot, fast_slot)
        spent = window_free >= slot  # waited for the log: no burst left, pace the next window evenly
        slot = math.floor(slot * 1e6) / 1e6  # to the µs, down: a slot due now waits for nothing
        if endpoint_paused_until > slot:
            return None, endpoint_paused_until - now
        wait = slot - now
        if max_wait is not None and wait > max_wait:
            return None, wait
        tat = _us(max(conn.tat, slot + (self.burst - 1) * interval if spent else slot) + interval)
        horizon = now - self.span_s  # older slots bind nothing any more
        new = replace(
            conn,
            sent=_append(conn.sent, slot, horizon, self.requests),
            fast=_append(conn.fast, slot, horizon, self.fast_slots(self.requests)) if fast else conn.fast,
            tat=tat,
            updated_at=now,
        )
        return new, wait

    def pause(
        self, state: BudgetState, now: float, retry_after: float, reason: str, adaptive: bool
    ) -> BudgetState:
        """Pause the key until now + Retry-After. ``adaptive`` (workspace): cut the budget once per episode,
        so that workers answered 429 in the same burst do not multiply the cut."""
        factor = state.factor
        if adaptive:
            factor = self.policy.factor(state, now)
            if now >= state.paused_until:
                factor = max(self.policy.floor, factor * self.policy.cut)
        until = max(state.paused_until, now + max(0.0, retry_after))
        return replace(state, paused_until=until, factor=factor, last_429_at=now, last_429_reason=reason,
                       updated_at=now)

    def used(self, conn: BudgetState, now: float) -> int:
        """Slots in the window ending now."""
        return bisect.bisect_right(conn.sent, now) - bisect.bisect_right(conn.sent, now - self.window_s)

    def available(self, conn: BudgetState, workspace: BudgetState, now: float) -> int:
        """Slots of the budget in force that neither the last span nor reservations ahead hold (0 if paused)."""
        if max(conn.paused_until, workspace.paused_until) > now:
            return 0
        taken = len(conn.sent) - bisect.bisect_right(conn.sent, now - self.span_s)
        return max(0, self.effective(workspace, now) - taken)


def in_force(requests: int, factor: float) -> int:
    """``requests`` times a budget factor, at least one."""
    return max(1, math.floor(requests * factor + _EPS))


def _us(t: float) -> float:
    """To the nearest µs, as every backend stores times (so that all of them give equal answers)."""
    return math.floor(t * 1e6 + 0.5) / 1e6


def _free_after(log: tuple[float, ...], count: int, span_s: float) -> float:
    """The earliest time the log lets one more send in, if ``count`` may fall in any span (-inf: any)."""
    return log[-count] + span_s if len(log) >= count else -math.inf


def _append(log: tuple[float, ...], slot: float, horizon: float, keep: int) -> tuple[float, ...]:
    return (*log[bisect.bisect_right(log, horizon):], slot)[-keep:]
