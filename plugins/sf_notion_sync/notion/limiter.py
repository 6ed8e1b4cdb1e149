"""One Notion budget shared by every process and host that uses the same token, and its factory.

Notion counts a fixed number of requests per connection in each 60-second window (developers.notion.com,
"Request limits": 180 on Free and Plus, 600 on Business and Enterprise); a separate, unpublished limit
is shared by all connections of a workspace; some endpoints have limits of their own. The limiter
paces by the connection's window budget (pacing.py: no window-length span above it, no idle gap), and a
429 pauses what it concerns: the connection, the whole workspace (and cuts its budget for a while) or
one endpoint. ``reserve()`` says how long to wait instead of spinning, so a long wait can defer.

State lives in a backend (limiter_backends) keyed by a fingerprint of the token (never the token):
``sql`` (the state database), ``redis``, or ``local`` (in-process, each process taking its share).
Times are the caller's ``time.time()`` on every backend, so hosts sharing a token need NTP-synchronised
clocks: skew between them eats into ``slack_s`` (0.6 s of a 60 s window).

Why not pyrate-limiter (4.x)? Its SQL buckets own their table and raw driver connections rather
than our engine and ``rate_limit_state`` row; it has no shared pause, no workspace or endpoint scope
and no "how long until" answer that a deferrable operator can act on.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from . import constants as C
from .limiter_backends import BudgetKeys, LimiterBackend, MemoryBackend, RedisBackend, SqlBackend
from .pacing import (
    ENDPOINT_PAUSED,
    LANE_BULK,
    LANE_FAST,
    LANES,
    TURN,
    BudgetState,
    WindowBudget,
    WorkspacePolicy,
    in_force,
)

__all__ = [
    "LANE_BULK", "LANE_FAST", "REASONS", "EndpointPaused", "LimiterStatus", "MemoryBackend", "NotionRateLimiter",
    "RedisBackend", "SlotNotTaken", "SqlBackend", "TurnGiven", "build_limiter", "pause_reason", "token_fingerprint",
]  # fmt: skip

REASON_CONNECTION, REASON_WORKSPACE, REASON_ENDPOINT = "connection", "workspace", "endpoint"
REASONS = (REASON_CONNECTION, REASON_WORKSPACE, REASON_ENDPOINT)
_NOTION_REASONS = {
    "public_api_request_rate_limit": REASON_CONNECTION,
    "public_api_space_request_rate_limit": REASON_WORKSPACE,
    "public_api_endpoint_rate_limit": REASON_ENDPOINT,
}
_KEY_MAX = 128  # rate_limit_state.key


def token_fingerprint(token: str) -> str:
    """The budget key for a token: a sha256 prefix, safe to store and log."""
    return "notion:" + hashlib.sha256(token.encode()).hexdigest()[:32]


def pause_reason(rate_limit_reason: str | None, status: int) -> str:
    """What a 429 (or 529) pauses, from Notion's ``additional_data.rate_limit_reason``: a 529
    ``service_overload`` counts as a workspace limit; an unknown or missing reason as the connection's.
    (``public_api_request_blocked`` is no pause: the client stops the batch, see errors.BLOCKED_REASON.)"""
    if status == 529:
        return REASON_WORKSPACE
    return _NOTION_REASONS.get(rate_limit_reason or "", REASON_CONNECTION)


class SlotNotTaken(Exception):
    """``reserve()`` took no slot: call again after ``wait_s`` (or defer)."""

    def __init__(self, message: str, wait_s: float) -> None:
        self.wait_s = wait_s
        super().__init__(message)


class EndpointPaused(SlotNotTaken):
    """``reserve(endpoint=...)`` while that endpoint is paused. The other endpoints' requests keep their
    slots meanwhile."""

    def __init__(self, endpoint: str, wait_s: float) -> None:
        self.endpoint = endpoint
        super().__init__(f"Notion endpoint {endpoint} is paused for {wait_s:.1f}s", wait_s)


class TurnGiven(SlotNotTaken):
    """A bulk slot further ahead than ``hold_intervals``: not held, so that a fast request can go first;
    call again with ``queued=True`` after ``wait_s``, the caller's turn (of ``route``, when routes.Routes
    chose a connection: back to that one)."""

    def __init__(self, wait_s: float) -> None:
        self.route: Any = None
        super().__init__(f"no slot held yet: ask again in {wait_s:.3f}s", wait_s)


@dataclass(frozen=True)
class LimiterStatus:
    """The budget as the limiter sees it. ``requests``, ``effective_requests`` and ``rate`` are the
    token's, on every backend; with the local backend ``used`` and ``available_tokens`` count this
    process's share (``requests // processes``), the only part it can see."""

    key: str
    backend: str
    workspace_key: str
    requests: int
    window_s: float
    processes: int
    effective_requests: int
    """``requests`` after the workspace reduction."""
    budget_factor: float
    used: int
    """Slots in the window ending now."""
    available_tokens: int
    burst: int
    fast_lane_cap: float
    paused_until: float
    """The later of the connection's and the workspace's pause (an endpoint's pause holds that one only)."""
    last_429_at: float | None
    last_429_reason: str | None
    now: float = field(repr=False)

    @property
    def rate(self) -> float:
        return self.requests / self.window_s

    @property
    def effective_rate(self) -> float:
        return self.effective_requests / self.window_s

    @property
    def paused(self) -> bool:
        return self.paused_until > self.now

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rate": self.rate, "effective_rate": self.effective_rate, "paused": self.paused}


class NotionRateLimiter:
    """The budget of one token: ``requests`` per ``window_s`` (Notion's plan), shared through ``backend``.

    ``fast_lane_cap`` (0..1): the most of any window ``reserve(lane="fast")`` may take; fast requests go
    ahead of bulk ones, and bulk may use everything the fast lane does not. ``hold_intervals``: bulk
    callers hold no slot further ahead than that many intervals (None: any; see pacing). ``burst``: sends back to
    back at most (default ``BURST_SHARE`` of the budget); ``slack_s``: added to the window when spacing
    sends (default ``SLACK_SHARE`` of it). ``workspace_key``: shared by every connection of one Notion
    workspace, so a workspace limit pauses all of them (default: this token alone). ``processes``: that
    many processes split the budget without sharing state (the local backend); each paces at its share.
    ``follows_cut=False``: a workspace cut leaves this budget whole (a connection under a workspace bucket,
    which carries the cut); ``cut_base``: what the cut is a share of (pacing.WindowBudget). Every process
    sharing the key must use the same figures.
    """

    def __init__(
        self,
        backend: LimiterBackend,
        key: str,
        *,
        requests: int = C.DEFAULT_REQUESTS,
        window_s: float = C.DEFAULT_WINDOW_S,
        fast_lane_cap: float = C.FAST_LANE_CAP,
        burst: int | None = None,
        slack_s: float | None = None,
        workspace_key: str | None = None,
        policy: WorkspacePolicy | None = None,
        processes: int = 1,
        hold_intervals: float | None = C.HOLD_INTERVALS,
        follows_cut: bool = True,
        cut_base: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if requests < 1:
            raise ValueError(f"requests must be >= 1, got {requests!r}")
        self.backend = backend
        self.key = key
        self.workspace_key = workspace_key or f"{key}|workspace"
        if self.workspace_key == key:
            raise ValueError("workspace_key must differ from the connection's key")
        self.requests = int(requests)
        self.window_s = float(window_s)
        self.processes = max(1, int(processes))
        share = max(1, self.requests // self.processes)
        burst = math.ceil(self.requests * C.BURST_SHARE) if burst is None else int(burst)
        self.budget = WindowBudget(
            requests=share,
            window_s=self.window_s,
            slack_s=self.window_s * C.SLACK_SHARE if slack_s is None else float(slack_s),
            burst=min(share, max(1, burst // self.processes)),
            fast_lane_cap=float(fast_lane_cap),
            policy=policy or WorkspacePolicy(period_s=self.window_s),
            hold_intervals=hold_intervals,
            follows_cut=follows_cut,
            cut_base=cut_base,
        )
        self.clock = clock

    @property
    def rate(self) -> float:
        """The token's budget in requests per second."""
        return self.requests / self.window_s

    def __repr__(self) -> str:
        return (f"NotionRateLimiter(key={self.key!r}, backend={self.backend.name}, requests={self.requests} "
                f"per {self.window_s:g}s, processes={self.processes}, "
                f"fast_lane_cap={self.budget.fast_lane_cap:g})")

    def _endpoint_key(self, endpoint: str) -> str:
        key = f"{self.key}|endpoint:{endpoint}"
        if len(key) <= _KEY_MAX:
            return key
        return f"{self.key}|endpoint:{hashlib.sha256(endpoint.encode()).hexdigest()[:32]}"

    def _keys(self, endpoint: str | None) -> BudgetKeys:
        return BudgetKeys(self.key, self.workspace_key, self._endpoint_key(endpoint) if endpoint else None)

    def next_slot(self, states: tuple[BudgetState, BudgetState, BudgetState | None], now: float,
                  lane: str = LANE_BULK) -> float:
        """When a reservation made now would send, from ``states`` (connection, workspace, endpoint, as
        ``backend.read_many`` gives them for ``state_keys``): a hint for choosing between budgets, nothing taken."""
        conn, workspace, endpoint = states
        _, wait, _ = self.budget.reserve(conn, workspace, endpoint.paused_until if endpoint else 0.0, now, lane,
                                         max_wait=-1.0)
        if lane == LANE_BULK and self.budget.hold_intervals is not None:  # bulk callers queue behind its turns
            return max(now + wait, conn.turn)
        return now + wait

    def state_keys(self, endpoint: str | None = None) -> list[str]:
        """The keys ``next_slot`` reads, in its order."""
        return [k for k in self._keys(endpoint) if k]

    def reserve(
        self, now: float | None = None, *, max_wait: float | None = None, lane: str = LANE_BULK,
        endpoint: str | None = None, queued: bool = False, not_before: float = 0.0, hold: bool = True,
    ) -> float:
        """Seconds to wait before sending (0 = send now); the slot is taken. With ``max_wait``, a longer
        wait takes nothing and is only reported (for a caller that defers instead). Otherwise, when no
        slot is taken, SlotNotTaken says how long to wait before calling again: EndpointPaused while
        ``endpoint`` (a template such as ``POST /v1/pages``) is paused, TurnGiven for a bulk slot too far
        ahead (call again with ``queued=True``). ``not_before`` and ``hold`` as for pacing.WindowBudget.reserve."""
        if lane not in LANES:
            raise ValueError(f"lane must be one of {LANES}, got {lane!r}")
        now = self.clock() if now is None else now
        wait, outcome = self.backend.reserve(self._keys(endpoint), self.budget, now, lane, max_wait, queued,
                                             not_before, hold)
        if outcome == ENDPOINT_PAUSED:
            raise EndpointPaused(endpoint or "", wait)
        if outcome == TURN:
            raise TurnGiven(wait)
        return wait if wait >= 1e-6 else 0.0  # less is the rounding of times to the µs

    def pause(
        self, retry_after: float, reason: str | None = None, now: float | None = None, *,
        endpoint: str | None = None, factor_cap: float | None = None,
    ) -> float:
        """A 429/529 answered: pause what ``reason`` names for ``retry_after`` s; returns its paused_until.

        ``connection`` (the default): this token, then its full budget again (the window was reset).
        ``workspace``: every connection sharing ``workspace_key``, and the budget is cut for a while.
        ``endpoint``: only ``endpoint`` (without one, the connection). ``factor_cap``: a workspace cut
        goes down to this share of the budget (a measured level) instead of the blind × cut."""
        reason = reason or REASON_CONNECTION
        if reason not in REASONS:
            raise ValueError(f"reason must be one of {REASONS}, got {reason!r}")
        now = self.clock() if now is None else now
        key = self.key
        if reason == REASON_WORKSPACE:
            key = self.workspace_key
        elif reason == REASON_ENDPOINT and endpoint:
            key = self._endpoint_key(endpoint)
        state = self.backend.pause(key, self.budget, now, retry_after, reason, reason == REASON_WORKSPACE,
                                   factor_cap if reason == REASON_WORKSPACE else None)
        return state.paused_until

    def used(self, now: float | None = None) -> int:
        """Slots of this key in the window ending now (every process's, on a shared backend)."""
        now = self.clock() if now is None else now
        return self.budget.used(self.backend.read(self.key), now)

    def status(self, now: float | None = None) -> LimiterStatus:
        now = self.clock() if now is None else now
        conn, workspace = self.backend.read(self.key), self.backend.read(self.workspace_key)
        factor = self.budget.factor(workspace, now)
        latest = max((conn, workspace), key=lambda s: s.last_429_at or 0.0)
        return LimiterStatus(
            key=self.key,
            backend=self.backend.name,
            workspace_key=self.workspace_key,
            requests=self.requests,
            window_s=self.window_s,
            processes=self.processes,
            effective_requests=in_force(self.requests, factor, self.budget.cut_base),
            budget_factor=factor,
            used=self.budget.used(conn, now),
            available_tokens=self.budget.available(conn, workspace, now),
            burst=self.budget.burst,
            fast_lane_cap=self.budget.fast_lane_cap,
            paused_until=max(conn.paused_until, workspace.paused_until),
            last_429_at=latest.last_429_at,
            last_429_reason=latest.last_429_reason,
            now=now,
        )

    def close(self) -> None:
        self.backend.close()


def build_limiter(
    token: str,
    *,
    requests: int = C.DEFAULT_REQUESTS,
    window_s: float = C.DEFAULT_WINDOW_S,
    backend: str = "sql",
    engine: Any = None,
    redis_url: str | None = None,
    pool_slots: int = 1,
    fast_lane_cap: float = C.FAST_LANE_CAP,
    burst: int | None = None,
    workspace_key: str | None = None,
    clock: Callable[[], float] = time.time,
    shared: LimiterBackend | None = None,
    recovery_step: float | None = None,
    slack_s: float | None = None,
    follows_cut: bool = True,
) -> NotionRateLimiter:
    """A limiter for ``token``: ``sql`` (needs ``engine``), ``redis`` (needs ``redis_url``), or ``local``,
    which shares nothing, so each process paces at the token's budget ÷ ``pool_slots``; its status
    still reports the token's budget. ``shared``: an open backend of that kind to use (the connections
    of one workspace share one, so that one read sees all their states). ``recovery_step``: the share of the
    budget a workspace cut gets back per window (default WORKSPACE_RECOVERY_STEP). ``slack_s``, ``follows_cut``:
    see NotionRateLimiter (a scaled-down window needs an absolute slack: arrival jitter does not scale)."""
    processes = 1
    if shared is not None:
        if shared.name != {"local": "memory"}.get(backend, backend):
            raise ValueError(f"the shared limiter backend is {shared.name!r}, the connection names {backend!r}")
        chosen, processes = shared, max(1, int(pool_slots)) if backend == "local" else 1
    elif backend == "sql":
        if engine is None:
            raise ValueError("the sql limiter backend needs the state database engine")
        chosen: LimiterBackend = SqlBackend(engine)
    elif backend == "redis":
        if not redis_url:
            raise ValueError("the redis limiter backend needs redis_url")
        chosen = RedisBackend(redis_url)
    elif backend == "local":
        chosen, processes = MemoryBackend(), max(1, int(pool_slots))
    else:
        raise ValueError(f"unknown limiter backend {backend!r} (sql, redis, local)")
    policy = None if recovery_step is None else WorkspacePolicy(step=recovery_step, period_s=window_s)
    return NotionRateLimiter(chosen, token_fingerprint(token), requests=requests, window_s=window_s,
                             fast_lane_cap=fast_lane_cap, burst=burst, slack_s=slack_s,
                             workspace_key=workspace_key, policy=policy, processes=processes,
                             follows_cut=follows_cut, clock=clock)
