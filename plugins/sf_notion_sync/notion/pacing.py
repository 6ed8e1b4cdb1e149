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
* Fast lane by priority: a fast reservation skips the shaping and takes the next slot the log allows,
  right after the slots already held. Bulk callers hold none more than ``hold_intervals`` intervals
  ahead: a later bulk slot is not taken; the caller gets a *turn* instead, a time to ask again one
  interval before that slot. ``turn``, a dispenser, spaces the turns of waiting callers an interval
  apart, so they come back one by one, not as a herd; while turns are out, a new bulk caller queues
  behind them instead of taking the slot their holders come back for. A caller back at its turn
  (``queued``) takes its slot if it is within twice the hold (fast requests went first); further (a
  pause began meanwhile) it gets a new turn at the back of the line, as every other holder will. A fast
  request therefore waits at most 2 × ``hold_intervals`` + 1 intervals behind any number of bulk
  callers (outside the gap after an opening burst). A second log caps fast sends at ``fast_lane_cap``
  of any window; nothing is kept idle. Turns take no slot: the guarantee rests on the log alone.
* Pauses: ``paused_until`` of the connection's, the workspace's or an endpoint's state. A workspace
  pause also cuts the workspace's ``factor`` (the share of the budget in force), which recovers by steps;
  a budget that does not ``follows_cut`` (a connection under a workspace bucket) keeps its size.
  A request for a paused endpoint takes no slot until the pause ends, so the other endpoints go on.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from . import constants as C

LANE_BULK, LANE_FAST = "bulk", "fast"
LANES = (LANE_BULK, LANE_FAST)
TAKEN, TURN, ENDPOINT_PAUSED, LATER = "taken", "turn", "endpoint_paused", "later"
"""A reservation's outcome: the slot is taken; a turn is given (ask again at it); the endpoint is
paused (ask again when it ends); the wait is beyond ``max_wait`` (nothing taken: defer)."""
OUTCOMES = (TAKEN, TURN, ENDPOINT_PAUSED, LATER)
_EPS = 1e-9  # float slack in floor(): 180 x 0.2 must be 36, not 35.999...
_US = 1e-6


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
    turn: float = 0.0
    """The turn dispenser: the earliest turn the next bulk caller held back may get."""
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


class Reservation(NamedTuple):
    """What ``WindowBudget.reserve`` decided: the connection's new state (None: unchanged), the wait
    (to the slot, to the turn, to the endpoint's pause end, or beyond ``max_wait``) and the outcome."""

    state: BudgetState | None
    wait: float
    outcome: str


@dataclass(frozen=True)
class WindowBudget:
    """``requests`` per ``window_s`` for one key, and how they are paced (see the module docstring)."""

    requests: int
    window_s: float
    slack_s: float
    burst: int
    fast_lane_cap: float
    policy: WorkspacePolicy = field(default_factory=WorkspacePolicy)
    hold_intervals: float | None = None
    """How far ahead, in intervals, a bulk caller may hold a slot (None: any distance)."""
    follows_cut: bool = True
    """Whether a workspace cut (``factor``) shrinks this budget. A connection under a workspace bucket does
    not: the bucket carries the cut, and the connection keeps its own limit, so that after the workspace's
    pause it is not held back by the shape of the burst its log remembers (routes.py)."""
    cut_base: int | None = None
    """What the workspace's ``factor`` is a share of (default: ``requests``). A workspace bucket's is
    the connections' budgets together: every process of a run then reads one cut alike, whether its
    bucket was sized before the limit was learned (at that sum) or after (at the learned level)."""

    def __post_init__(self) -> None:
        if self.requests < 1 or self.window_s <= 0 or self.slack_s < 0:
            raise ValueError(f"need requests >= 1, window_s > 0, slack_s >= 0; got {self.requests}, "
                             f"{self.window_s}, {self.slack_s}")
        if not 1 <= self.burst <= self.requests:
            raise ValueError(f"burst must be between 1 and requests ({self.requests}), got {self.burst}")
        if not 0.0 <= self.fast_lane_cap <= 1.0:
            raise ValueError(f"fast_lane_cap must be between 0 and 1, got {self.fast_lane_cap!r}")
        if self.hold_intervals is not None and self.hold_intervals < 1:
            raise ValueError(f"hold_intervals must be >= 1 (or None), got {self.hold_intervals!r}")

    @property
    def span_s(self) -> float:
        """The window plus the slack: the least time between a send and the n-th send after it."""
        return self.window_s + self.slack_s

    def factor(self, workspace: BudgetState, now: float) -> float:
        """The share of ``requests`` in force: the workspace's reduction, unless a bucket carries it."""
        return self.policy.factor(workspace, now) if self.follows_cut else 1.0

    def effective(self, workspace: BudgetState, now: float) -> int:
        """The budget in force: ``requests`` after the workspace's reduction."""
        return in_force(self.requests, self.factor(workspace, now), self.cut_base)

    def fast_slots(self, requests: int) -> int:
        """How many of ``requests`` the fast lane may take per window."""
        return math.floor(requests * self.fast_lane_cap + _EPS)

    def reserve(
        self, conn: BudgetState, workspace: BudgetState, endpoint_paused_until: float, now: float,
        lane: str = LANE_BULK, max_wait: float | None = None, queued: bool = False,
        not_before: float = 0.0, hold: bool = True,
    ) -> Reservation:
        """Take the next slot, or give a turn (see the module docstring). Nothing is taken when the wait
        is beyond ``max_wait`` (a deferring caller comes back later), nor while the endpoint is paused
        past the slot: the wait is then to the pause's end, and the slots stay free for the other
        endpoints (a slot held that far ahead would hold up every later one). ``queued``: the caller is
        back at the turn it was given. ``not_before``: no slot before it (the slot a second budget, the
        workspace's, gave this send). ``hold=False``: take the slot however far ahead (no turn): the
        caller holds a slot of that other budget already."""
        n = self.effective(workspace, now)
        interval = self.span_s / n
        earliest = max(now, not_before, conn.paused_until, workspace.paused_until, *conn.sent[-1:])
        window_free = _free_after(conn.sent, n, self.span_s)
        slot = max(earliest, window_free, conn.tat - (self.burst - 1) * interval)
        fast = False
        if lane == LANE_FAST and (cap := self.fast_slots(n)) > 0:
            fast_slot = max(earliest, window_free, _free_after(conn.fast, cap, self.span_s))
            fast, slot = fast_slot <= slot, min(slot, fast_slot)
        spent = window_free >= slot  # waited for the log: no burst left, pace the next window evenly
        slot = math.floor(slot * 1e6) / 1e6  # to the µs, down: a slot due now waits for nothing
        if endpoint_paused_until > slot:
            wait = endpoint_paused_until - now
            return Reservation(None, wait, LATER if max_wait is not None and wait > max_wait else ENDPOINT_PAUSED)
        wait = slot - now
        if max_wait is not None and wait > max_wait:
            return Reservation(None, wait, LATER)
        if hold and not fast and self.hold_intervals is not None:
            hold = self.hold_intervals * interval * (2 if queued else 1)
            if wait > hold + _US or (not queued and conn.turn > now):  # a µs: the rounding of times
                return self._turn(conn, slot - interval, interval, now, max_wait)
        tat = _us(max(conn.tat, slot + (self.burst - 1) * interval if spent else slot) + interval)
        horizon = now - self.span_s  # older slots bind nothing any more
        new = replace(
            conn,
            sent=_append(conn.sent, slot, horizon, self.requests),
            fast=_append(conn.fast, slot, horizon, self.fast_slots(self.requests)) if fast else conn.fast,
            tat=tat,
            updated_at=now,
        )
        return Reservation(new, wait, TAKEN)

    def _turn(self, conn: BudgetState, due: float, interval: float, now: float, max_wait: float | None) -> Reservation:
        """A turn at ``due`` (one interval before the slot) or after the turns already given."""
        turn = _us(max(due, conn.turn))
        if max_wait is not None and turn - now > max_wait:
            return Reservation(None, turn - now, LATER)
        return Reservation(replace(conn, turn=_us(turn + interval), updated_at=now), turn - now, TURN)

    def pause(
        self, state: BudgetState, now: float, retry_after: float, reason: str, adaptive: bool,
        factor_cap: float | None = None,
    ) -> BudgetState:
        """Pause the key until now + Retry-After. ``adaptive`` (workspace): cut the budget once per episode,
        so that workers answered 429 in the same burst do not multiply the cut: × ``policy.cut``, or, given
        ``factor_cap`` (what was sent when the limit answered: a measure, not a guess), down to it instead
        -- a blind × cut on top would sink the level by a quarter at every episode of a probe."""
        factor = state.factor
        if adaptive:
            factor = self.policy.factor(state, now)
            if now >= state.paused_until:  # the episode's first 429: later ones saw the pause's quiet
                cut = factor * self.policy.cut if factor_cap is None else min(factor, factor_cap)
                factor = max(self.policy.floor, cut)
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


def in_force(requests: int, factor: float, base: int | None = None) -> int:
    """``requests`` times a budget factor, at least one; with ``base``, ``base`` times it, at most ``requests``."""
    if base is None:
        return max(1, math.floor(requests * factor + _EPS))
    return min(requests, max(1, math.floor(base * factor + _EPS)))


def _us(t: float) -> float:
    """To the nearest µs, as every backend stores times (so that all of them give equal answers)."""
    return math.floor(t * 1e6 + 0.5) / 1e6


def _free_after(log: tuple[float, ...], count: int, span_s: float) -> float:
    """The earliest time the log lets one more send in, if ``count`` may fall in any span (-inf: any)."""
    return log[-count] + span_s if len(log) >= count else -math.inf


def _append(log: tuple[float, ...], slot: float, horizon: float, keep: int) -> tuple[float, ...]:
    return (*log[bisect.bisect_right(log, horizon):], slot)[-keep:]
