"""One Notion rate budget shared by every process and host that uses the same token.

Algorithm: GCRA (a token bucket kept as one number, the theoretical arrival time ``tat``), so a
reservation is a single atomic read-modify-write of one small row, and ``reserve()`` answers how
long to wait instead of spinning. A 429/529 sets a shared ``paused_until`` for everyone on the token
and backs the rate off multiplicatively; the rate then recovers additively per quiet period
(AIMD). State lives in a backend keyed by a fingerprint of the token (sha256, never the token):

* ``SqlBackend`` -- the sync state database's ``rate_limit_state`` table; one short transaction per
  reservation (``SELECT ... FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite).
* ``RedisBackend`` -- the same arithmetic in Lua scripts, atomic on the server.
* ``MemoryBackend`` -- per process; used with budget / pool slots when nothing is shared.

Lanes: a share of the budget (``reserved_share``) is kept for the fast lane (single records synced
now). The budget is split into two GCRA buckets whose rates add up to the budget: the bulk bucket
(the key's row, ``1 - reserved_share`` of the rate) and the reserved bucket (row ``<key>|fast``).
Bulk callers use only the bulk bucket; fast-lane callers take the earlier slot of either, so they
use idle bulk capacity and never queue behind bulk reservations, while a saturating bulk load
cannot take the reserved part. Every request takes one slot of one bucket, so all callers together
stay within the rate. The pause and the adaptive factor live in the key's row: one pause per token.

Why not pyrate-limiter (4.x, well kept)? It counts requests in sliding windows (a row or list item
per permit, so SQL writes grow with the rate), and it has no shared pause, no adaptive rate and no
"how long until" answer that a deferrable operator can act on; its SQL buckets own their own table
and raw driver connections rather than our SQLAlchemy engine and ``rate_limit_state`` row. Adding
those on top would mean rewriting most of it; GCRA itself is twenty lines.

Clocks: the caller's ``time.time()`` is used everywhere (also with Redis), so hosts sharing a token
need NTP-synchronised clocks; skew of a few ms is negligible next to a 333 ms interval.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, TypeVar

from .constants import (
    BACKOFF_FACTOR,
    DEFAULT_BURST,
    DEFAULT_RATE,
    RATE_FLOOR,
    RECOVERY_PERIOD_S,
    RECOVERY_STEP,
)

T = TypeVar("T")
REASON_CONNECTION = "connection"
REASON_WORKSPACE = "workspace"
LANE_BULK, LANE_FAST = "bulk", "fast"
LANES = (LANE_BULK, LANE_FAST)
FAST_LANE_SUFFIX = "|fast"


def token_fingerprint(token: str) -> str:
    """The budget key for a token: a sha256 prefix, safe to store and log."""
    return "notion:" + hashlib.sha256(token.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class BudgetState:
    """One row of ``rate_limit_state`` (times are epoch seconds)."""

    tat: float = 0.0
    paused_until: float = 0.0
    rate_factor: float = 1.0
    last_429_at: float | None = None
    last_429_reason: str | None = None
    updated_at: float = 0.0


@dataclass(frozen=True)
class AdaptivePolicy:
    """AIMD: ×backoff_factor per rate-limit episode (not below floor), +recovery_step per quiet period."""

    backoff_factor: float = BACKOFF_FACTOR
    floor: float = RATE_FLOOR
    recovery_step: float = RECOVERY_STEP
    recovery_period_s: float = RECOVERY_PERIOD_S

    def factor(self, state: BudgetState, now: float) -> float:
        if state.rate_factor >= 1.0 or state.last_429_at is None:
            return min(1.0, state.rate_factor)
        periods = math.floor(max(0.0, now - state.last_429_at) / self.recovery_period_s)
        return min(1.0, state.rate_factor + self.recovery_step * periods)


@dataclass(frozen=True)
class LimiterStatus:
    key: str
    backend: str
    rate: float
    effective_rate: float
    burst: int
    available_tokens: float
    paused_until: float
    last_429_at: float | None
    last_429_reason: str | None
    now: float = field(repr=False)
    reserved_share: float = 0.0
    """Of the rate, kept for the fast lane; ``available_tokens`` is what bulk callers may use."""

    @property
    def paused(self) -> bool:
        return self.paused_until > self.now

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["paused"] = self.paused
        return data


# --- the arithmetic (pure; the Redis Lua scripts mirror it) -----------------------------------------


def gcra_reserve(
    state: BudgetState, now: float, rate: float, burst: int, policy: AdaptivePolicy, max_wait: float | None
) -> tuple[BudgetState | None, float]:
    """Take one slot: returns the new state and the wait before sending. If the wait exceeds
    ``max_wait`` nothing is taken (new state None): a deferring caller will come back later."""
    states, wait = gcra_reserve_lanes([state], now, [(rate, burst)], policy, max_wait)
    return (states[0] if states else None), wait


def lane_budgets(rate: float, burst: int, reserved_share: float) -> tuple[tuple[float, int], tuple[float, int]]:
    """(rate, burst) of the bulk bucket and of the reserved bucket. Rates add up to ``rate``; each
    bucket keeps a burst of at least one, so with ``burst`` 1 both lanes may send at one instant."""
    bulk_burst = max(1, math.floor(burst * (1.0 - reserved_share)))
    return (rate * (1.0 - reserved_share), bulk_burst), (rate * reserved_share, max(1, burst - bulk_burst))


def gcra_reserve_lanes(
    states: list[BudgetState], now: float, buckets: list[tuple[float, int]], policy: AdaptivePolicy,
    max_wait: float | None,
) -> tuple[list[BudgetState] | None, float]:
    """Take the earliest slot among the buckets ``(rate, burst)`` whose states are given (the first
    one holds the pause and the adaptive factor; ties go to it). Returns the new states and the wait;
    beyond ``max_wait`` nothing is taken."""
    factor = policy.factor(states[0], now)
    start = max(now, states[0].paused_until)
    slots = []
    for index, (state, (rate, burst)) in enumerate(zip(states, buckets, strict=True)):
        interval = 1.0 / (rate * factor)
        slots.append((max(start, max(state.tat, start) - interval * (burst - 1)), index, interval))
    send, used, interval = min(slots)
    wait = send - now
    if max_wait is not None and wait > max_wait:
        return None, wait
    new = list(states)
    new[used] = replace(states[used], tat=max(states[used].tat, send) + interval, updated_at=now)
    return new, wait


def gcra_pause(
    state: BudgetState, now: float, retry_after: float, reason: str, rate: float, burst: int, policy: AdaptivePolicy
) -> BudgetState:
    """Pause everyone until now + retry_after; back the rate off once per episode (workers that
    see the same 429 burst do not multiply the penalty), and resume without a burst."""
    factor = policy.factor(state, now)
    if now >= state.paused_until:
        factor = max(policy.floor, factor * policy.backoff_factor)
    until = max(state.paused_until, now + max(0.0, retry_after))
    interval = 1.0 / (rate * factor)
    return replace(
        state,
        paused_until=until,
        tat=max(state.tat, until + interval * (burst - 1)),
        rate_factor=factor,
        last_429_at=now,
        last_429_reason=reason,
        updated_at=now,
    )


def gcra_available(state: BudgetState, now: float, rate: float, burst: int, policy: AdaptivePolicy) -> float:
    if state.paused_until > now:
        return 0.0
    interval = 1.0 / (rate * policy.factor(state, now))
    tokens = (now + interval * burst - max(state.tat, now)) / interval
    return max(0.0, min(float(burst), tokens))


# --- backends -------------------------------------------------------------------------------------


class LimiterBackend(ABC):
    name = "abstract"

    @abstractmethod
    def read(self, key: str) -> BudgetState: ...

    @abstractmethod
    def reserve(
        self, key: str, now: float, rate: float, burst: int, policy: AdaptivePolicy, max_wait: float | None,
        fast: tuple[float, int] | None = None,
    ) -> float:
        """``rate``/``burst`` are the key's bucket; ``fast`` the reserved bucket's (row ``key|fast``)
        for a fast-lane caller, which takes the earlier slot of the two."""

    @abstractmethod
    def pause(
        self, key: str, now: float, retry_after: float, reason: str, rate: float, burst: int, policy: AdaptivePolicy
    ) -> BudgetState: ...

    def close(self) -> None:  # noqa: B027 - optional hook; most backends hold nothing
        """Release connections (nothing by default)."""


class _TransactBackend(LimiterBackend):
    """Backends that run the pure functions inside one atomic read-modify-write."""

    @abstractmethod
    def transact(
        self, keys: list[str], fn: Callable[[list[BudgetState]], tuple[list[BudgetState] | None, T]]
    ) -> T:
        """Run ``fn`` on the states of ``keys`` atomically; store what it returns unless None."""

    def reserve(self, key, now, rate, burst, policy, max_wait, fast=None):
        keys, buckets = [key], [(rate, burst)]
        if fast is not None:
            keys.append(key + FAST_LANE_SUFFIX)
            buckets.append(fast)
        return self.transact(keys, lambda s: gcra_reserve_lanes(s, now, buckets, policy, max_wait))

    def pause(self, key, now, retry_after, reason, rate, burst, policy):
        def fn(states: list[BudgetState]) -> tuple[list[BudgetState], BudgetState]:
            new = gcra_pause(states[0], now, retry_after, reason, rate, burst, policy)
            return [new], new

        return self.transact([key], fn)


class MemoryBackend(_TransactBackend):
    """Per-process state, shared by every client in the process (a module-level table)."""

    name = "memory"
    _states: dict[str, BudgetState] = {}
    _lock = threading.Lock()

    def read(self, key: str) -> BudgetState:
        with self._lock:
            return self._states.get(key, BudgetState())

    def transact(self, keys, fn):
        with self._lock:
            new, result = fn([self._states.get(key, BudgetState()) for key in keys])
            if new is not None:
                self._states.update(zip(keys, new, strict=True))
            return result


class SqlBackend(_TransactBackend):
    """State in ``rate_limit_state`` of the sync state database (an SQLAlchemy engine from state.db)."""

    name = "sql"

    def __init__(self, engine: Any) -> None:
        from ..state.models import RateLimitState

        self.engine = engine
        self.table = RateLimitState.__table__
        self._ensured: set[str] = set()

    def _ensure_row(self, key: str) -> None:
        if key in self._ensured:
            return
        from ..state.db import write_connection

        dialect = self.engine.dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        elif dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:  # pragma: no cover - only the two supported databases
            raise ValueError(f"unsupported state database dialect {dialect!r}")
        with write_connection(self.engine) as conn:
            conn.execute(insert(self.table).values(key=key, **_columns(BudgetState())).on_conflict_do_nothing())
        self._ensured.add(key)

    def read(self, key: str) -> BudgetState:
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            row = conn.execute(sa.select(self.table).where(self.table.c.key == key)).mappings().first()
        return _state_from_row(row) if row else BudgetState()

    def transact(self, keys, fn):
        import sqlalchemy as sa

        from ..state.db import write_connection

        for key in keys:
            self._ensure_row(key)
        with write_connection(self.engine) as conn:
            # rows locked in key order, so two lanes' transactions cannot deadlock
            query = sa.select(self.table).where(self.table.c.key.in_(keys)).order_by(self.table.c.key)
            rows = {row["key"]: row for row in conn.execute(query.with_for_update()).mappings()}
            missing = [key for key in keys if key not in rows]
            if missing:  # deleted since we ensured them: recreate on the next call
                self._ensured.difference_update(missing)
                raise RuntimeError(f"rate_limit_state rows {missing} vanished; retry")
            new, result = fn([_state_from_row(rows[key]) for key in keys])
            for key, state in zip(keys, new or (), strict=False):
                conn.execute(sa.update(self.table).where(self.table.c.key == key).values(**_columns(state)))
        return result


def _columns(state: BudgetState) -> dict[str, Any]:
    return asdict(state)


def _state_from_row(row: Any) -> BudgetState:
    return BudgetState(
        tat=float(row["tat"] or 0.0),
        paused_until=float(row["paused_until"] or 0.0),
        rate_factor=float(row["rate_factor"] if row["rate_factor"] is not None else 1.0),
        last_429_at=row["last_429_at"],
        last_429_reason=row["last_429_reason"],
        updated_at=float(row["updated_at"] or 0.0),
    )


_LUA_FACTOR = """
local function factor_at(h, now, step, period)
  local f = tonumber(h[3]) or 1
  local last = tonumber(h[4])
  if f < 1 and last then f = math.min(1, f + step * math.floor(math.max(0, now - last) / period)) end
  return math.min(1, f)
end
local h = redis.call('HMGET', KEYS[1], 'tat', 'paused_until', 'rate_factor', 'last_429_at')
local tat = tonumber(h[1]) or 0
local paused = tonumber(h[2]) or 0
"""

_LUA_RESERVE = (
    _LUA_FACTOR
    + """
local now, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local step, period, max_wait, ttl = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local fast_rate, fast_burst = tonumber(ARGV[8]), tonumber(ARGV[9])
local f = factor_at(h, now, step, period)
local start = math.max(now, paused)
local function earliest(t, iv, b) return math.max(start, math.max(t, start) - iv * (b - 1)) end
local interval = 1 / (rate * f)
local send, key, ktat = earliest(tat, interval, burst), KEYS[1], tat
if fast_rate > 0 then
  local ftat = tonumber(redis.call('HGET', KEYS[2], 'tat')) or 0
  local fiv = 1 / (fast_rate * f)
  local fsend = earliest(ftat, fiv, fast_burst)
  if fsend < send then send, key, ktat, interval = fsend, KEYS[2], ftat, fiv end
end
local wait = send - now
if max_wait >= 0 and wait > max_wait then return string.format('%.6f', wait) end
redis.call('HSET', key, 'tat', string.format('%.6f', math.max(ktat, send) + interval), 'updated_at', string.format('%.6f', now))
redis.call('EXPIRE', key, ttl)
return string.format('%.6f', wait)
"""
)

_LUA_PAUSE = (
    _LUA_FACTOR
    + """
local now, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local step, period, retry_after, reason = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local backoff, floor, ttl = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local f = factor_at(h, now, step, period)
if now >= paused then f = math.max(floor, f * backoff) end
local untl = math.max(paused, now + math.max(0, retry_after))
local interval = 1 / (rate * f)
tat = math.max(tat, untl + interval * (burst - 1))
redis.call('HSET', KEYS[1], 'tat', string.format('%.6f', tat), 'paused_until', string.format('%.6f', untl),
  'rate_factor', string.format('%.6f', f), 'last_429_at', string.format('%.6f', now),
  'last_429_reason', reason, 'updated_at', string.format('%.6f', now))
redis.call('EXPIRE', KEYS[1], ttl)
return 1
"""
)


class RedisBackend(LimiterBackend):
    """State in a Redis hash; reserve and pause are Lua scripts, so each is one atomic round trip."""

    name = "redis"
    TTL_S = 86_400

    def __init__(self, client_or_url: Any, prefix: str = "sf_notion_sync:ratelimit:") -> None:
        import redis

        self.redis = redis.Redis.from_url(client_or_url) if isinstance(client_or_url, str) else client_or_url
        self._owns = isinstance(client_or_url, str)
        self.prefix = prefix
        self._reserve = self.redis.register_script(_LUA_RESERVE)
        self._pause = self.redis.register_script(_LUA_PAUSE)

    def read(self, key: str) -> BudgetState:
        raw = {k.decode(): v.decode() for k, v in self.redis.hgetall(self.prefix + key).items()}
        if not raw:
            return BudgetState()
        return BudgetState(
            tat=float(raw.get("tat", 0)),
            paused_until=float(raw.get("paused_until", 0)),
            rate_factor=float(raw.get("rate_factor", 1)),
            last_429_at=float(raw["last_429_at"]) if "last_429_at" in raw else None,
            last_429_reason=raw.get("last_429_reason"),
            updated_at=float(raw.get("updated_at", 0)),
        )

    def reserve(self, key, now, rate, burst, policy, max_wait, fast=None):
        args = [now, rate, burst, policy.recovery_step, policy.recovery_period_s, -1 if max_wait is None else max_wait,
                self.TTL_S, *(fast or (-1, -1))]
        keys = [self.prefix + key] + ([] if fast is None else [self.prefix + key + FAST_LANE_SUFFIX])
        return float(self._reserve(keys=keys, args=[repr(float(a)) for a in args]))

    def pause(self, key, now, retry_after, reason, rate, burst, policy):
        args = [
            repr(float(now)), repr(float(rate)), str(burst), repr(policy.recovery_step),
            repr(policy.recovery_period_s), repr(float(retry_after)), reason,
            repr(policy.backoff_factor), repr(policy.floor), str(self.TTL_S),
        ]  # fmt: skip
        self._pause(keys=[self.prefix + key], args=args)
        return self.read(key)

    def close(self) -> None:
        if self._owns:
            self.redis.close()


# --- the limiter ----------------------------------------------------------------------------------


class NotionRateLimiter:
    """The budget of one token. ``reserve()`` takes a slot and says how long to wait before sending.

    ``reserved_share`` (0 <= share < 1) of the rate is kept for ``reserve(lane="fast")``; bulk
    callers (the default lane) get the rest. Every process sharing the token must use the same share.
    """

    def __init__(
        self,
        backend: LimiterBackend,
        key: str,
        *,
        rate: float = DEFAULT_RATE,
        burst: int = DEFAULT_BURST,
        policy: AdaptivePolicy | None = None,
        reserved_share: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        if not 0.0 <= reserved_share < 1.0:
            raise ValueError(f"reserved_share must be >= 0 and < 1, got {reserved_share!r}")
        self.reserved_share = float(reserved_share)
        self.backend = backend
        self.key = key
        self.rate = float(rate)
        self.burst = int(burst)
        self._bulk, self._fast = lane_budgets(self.rate, self.burst, self.reserved_share)
        self.policy = policy or AdaptivePolicy()
        self.clock = clock

    def __repr__(self) -> str:
        return (f"NotionRateLimiter(key={self.key!r}, backend={self.backend.name}, rate={self.rate:g}/s, "
                f"burst={self.burst}, reserved_share={self.reserved_share:g})")

    def reserve(self, now: float | None = None, *, max_wait: float | None = None, lane: str = LANE_BULK) -> float:
        """Seconds to wait before sending (0 = send now); the slot is taken. With ``max_wait``, a
        longer wait takes nothing and is only reported (for a caller that defers instead)."""
        if lane not in LANES:
            raise ValueError(f"lane must be one of {LANES}, got {lane!r}")
        now = self.clock() if now is None else now
        fast = self._fast if lane == LANE_FAST and self.reserved_share > 0 else None
        rate, burst = self._bulk
        return max(0.0, self.backend.reserve(self.key, now, rate, burst, self.policy, max_wait, fast))

    def pause(self, retry_after: float, reason: str | None = None, now: float | None = None) -> float:
        """Pause everyone on this token for ``retry_after`` seconds; returns paused_until (epoch)."""
        now = self.clock() if now is None else now
        state = self.backend.pause(
            self.key, now, retry_after, reason or REASON_CONNECTION, *self._bulk, self.policy
        )
        return state.paused_until

    def status(self, now: float | None = None) -> LimiterStatus:
        now = self.clock() if now is None else now
        state = self.backend.read(self.key)
        factor = self.policy.factor(state, now)
        return LimiterStatus(
            key=self.key,
            backend=self.backend.name,
            rate=self.rate,
            effective_rate=self.rate * factor,
            burst=self.burst,
            available_tokens=gcra_available(state, now, *self._bulk, self.policy),
            paused_until=state.paused_until,
            last_429_at=state.last_429_at,
            last_429_reason=state.last_429_reason,
            reserved_share=self.reserved_share,
            now=now,
        )

    def close(self) -> None:
        self.backend.close()


def build_limiter(
    token: str,
    *,
    rate: float = DEFAULT_RATE,
    burst: int = DEFAULT_BURST,
    backend: str = "sql",
    engine: Any = None,
    redis_url: str | None = None,
    pool_slots: int = 1,
    policy: AdaptivePolicy | None = None,
    reserved_share: float = 0.0,
    clock: Callable[[], float] = time.time,
) -> NotionRateLimiter:
    """A limiter for ``token``: ``sql`` (needs ``engine``), ``redis`` (needs ``redis_url``), or
    ``local``, which shares nothing and so gives each process budget / pool_slots."""
    key = token_fingerprint(token)
    if backend == "sql":
        if engine is None:
            raise ValueError("the sql limiter backend needs the state database engine")
        chosen: LimiterBackend = SqlBackend(engine)
    elif backend == "redis":
        if not redis_url:
            raise ValueError("the redis limiter backend needs redis_url")
        chosen = RedisBackend(redis_url)
    elif backend == "local":
        slots = max(1, int(pool_slots))
        chosen, rate, burst = MemoryBackend(), rate / slots, max(1, burst // slots)
    else:
        raise ValueError(f"unknown limiter backend {backend!r} (sql, redis, local)")
    return NotionRateLimiter(chosen, key, rate=rate, burst=burst, policy=policy, reserved_share=reserved_share,
                             clock=clock)
