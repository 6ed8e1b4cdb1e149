"""State in Redis: a hash per key, and the sliding logs as lists; reserve and pause are Lua scripts.

Each script is one atomic round trip and mirrors pacing.py line by line (the backend contract tests
run both on the same cases). It reads two items of a log (LINDEX), never the whole list. Times are the
caller's clock, as with every backend: hosts sharing a token need NTP-synchronised clocks.
"""

from __future__ import annotations

from typing import Any

from ..pacing import LANE_FAST, BudgetState, WindowBudget
from .base import LimiterBackend

_LUA_COMMON = """
local function fmt(x) return string.format('%.6f', x) end
local function us(t) return math.floor(t * 1e6 + 0.5) / 1e6 end
local function factor_at(f, paused_until, now, step, period)
  f = tonumber(f) or 1
  if f >= 1 then return 1 end
  return math.min(1, f + step * math.floor(math.max(0, now - (tonumber(paused_until) or 0)) / period))
end
"""

# KEYS: connection hash, its sent log, its fast log, workspace hash[, endpoint hash]
_LUA_RESERVE = _LUA_COMMON + """
local now, requests, span, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local fast_cap, fast_lane, max_wait = tonumber(ARGV[5]), ARGV[6] == '1', tonumber(ARGV[7])
local step, period, ttl, eps = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]), 1e-9
local hold, queued, not_before = tonumber(ARGV[11]), ARGV[12] == '1', tonumber(ARGV[13])
if ARGV[14] ~= '1' then hold = nil end
local c = redis.call('HMGET', KEYS[1], 'tat', 'paused_until', 'turn')
local w = redis.call('HMGET', KEYS[4], 'paused_until', 'rate_factor')
local n, base = requests, tonumber(ARGV[16])
if ARGV[15] == '1' then
  local f = factor_at(w[2], w[1], now, step, period)
  if base then n = math.min(requests, math.max(1, math.floor(base * f + eps)))
  else n = math.max(1, math.floor(requests * f + eps)) end
end
local interval = span / n
local earliest = math.max(now, not_before, tonumber(c[2]) or 0, tonumber(w[1]) or 0)
local last = redis.call('LINDEX', KEYS[2], -1)
if last then earliest = math.max(earliest, tonumber(last)) end
local function free_after(log, count)
  local old = redis.call('LINDEX', log, -count)
  if old then return tonumber(old) + span end
  return -math.huge
end
local window_free = free_after(KEYS[2], n)
local tat = tonumber(c[1]) or 0
local slot = math.max(earliest, window_free, tat - (burst - 1) * interval)
local fast, cap = false, math.floor(n * fast_cap + eps)
if fast_lane and cap > 0 then
  local fast_slot = math.max(earliest, window_free, free_after(KEYS[3], cap))
  fast, slot = fast_slot <= slot, math.min(slot, fast_slot)
end
local spent = window_free >= slot
slot = math.floor(slot * 1e6) / 1e6
if KEYS[5] then
  local endpoint_until = tonumber(redis.call('HGET', KEYS[5], 'paused_until')) or 0
  if endpoint_until > slot then
    if max_wait and endpoint_until - now > max_wait then return {fmt(endpoint_until - now), 'later'} end
    return {fmt(endpoint_until - now), 'endpoint_paused'}
  end
end
local wait = slot - now
if max_wait and wait > max_wait then return {fmt(wait), 'later'} end
if (not fast) and hold then
  local limit, turn = hold * interval, us(math.max(slot - interval, tonumber(c[3]) or 0))
  if queued then limit = 2 * limit end
  if wait > limit + 1e-6 or ((not queued) and (tonumber(c[3]) or 0) > now) then
    if max_wait and turn - now > max_wait then return {fmt(turn - now), 'later'} end
    redis.call('HSET', KEYS[1], 'turn', fmt(us(turn + interval)), 'updated_at', fmt(now))
    redis.call('EXPIRE', KEYS[1], ttl)
    return {fmt(turn - now), 'turn'}
  end
end
local base = slot
if spent then base = slot + (burst - 1) * interval end
redis.call('RPUSH', KEYS[2], fmt(slot))
redis.call('LTRIM', KEYS[2], -requests, -1)
if fast then
  redis.call('RPUSH', KEYS[3], fmt(slot))
  redis.call('LTRIM', KEYS[3], -math.floor(requests * fast_cap + eps), -1)
  redis.call('EXPIRE', KEYS[3], ttl)
end
redis.call('HSET', KEYS[1], 'tat', fmt(us(math.max(tat, base) + interval)), 'updated_at', fmt(now))
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
return {fmt(wait), 'taken'}
"""

_LUA_PAUSE = _LUA_COMMON + """
local now, retry_after, reason, adaptive = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4] == '1'
local cut, floor, step = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local period, ttl, cap = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local h = redis.call('HMGET', KEYS[1], 'paused_until', 'rate_factor')
local paused, f = tonumber(h[1]) or 0, tonumber(h[2]) or 1
if adaptive then
  f = factor_at(h[2], h[1], now, step, period)
  if now >= paused then
    if cap then f = math.max(floor, math.min(f, cap)) else f = math.max(floor, f * cut) end
  end
end
redis.call('HSET', KEYS[1], 'paused_until', fmt(math.max(paused, now + math.max(0, retry_after))),
  'rate_factor', fmt(f), 'last_429_at', fmt(now), 'last_429_reason', reason, 'updated_at', fmt(now))
redis.call('EXPIRE', KEYS[1], ttl)
return 1
"""


class RedisBackend(LimiterBackend):
    """``client_or_url``: a redis.Redis client (kept open) or a URL (the backend owns that client)."""

    name = "redis"
    TTL_S = 86_400

    def __init__(self, client_or_url: Any, prefix: str = "sf_notion_sync:ratelimit:") -> None:
        import redis

        self._owns = isinstance(client_or_url, str)
        self.redis = redis.Redis.from_url(client_or_url) if self._owns else client_or_url
        self.prefix = prefix
        self._reserve = self.redis.register_script(_LUA_RESERVE)
        self._pause = self.redis.register_script(_LUA_PAUSE)

    def read(self, key: str) -> BudgetState:
        name = self.prefix + key
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(name).lrange(name + "|sent", 0, -1).lrange(name + "|fast", 0, -1)
            raw, sent, fast = pipe.execute()
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        return BudgetState(
            sent=tuple(float(t) for t in sent),
            fast=tuple(float(t) for t in fast),
            tat=float(fields.get("tat", 0)),
            turn=float(fields.get("turn", 0)),
            paused_until=float(fields.get("paused_until", 0)),
            factor=float(fields.get("rate_factor", 1)),
            last_429_at=float(fields["last_429_at"]) if "last_429_at" in fields else None,
            last_429_reason=fields.get("last_429_reason"),
            updated_at=float(fields.get("updated_at", 0)),
        )

    def reserve(self, keys, budget: WindowBudget, now, lane, max_wait, queued=False, not_before=0.0, hold=True):
        conn = self.prefix + keys.connection
        names = [conn, conn + "|sent", conn + "|fast", self.prefix + keys.workspace]
        if keys.endpoint:
            names.append(self.prefix + keys.endpoint)
        policy = budget.policy
        args = [
            repr(float(now)), str(budget.requests), repr(budget.span_s), str(budget.burst),
            repr(budget.fast_lane_cap), "1" if lane == LANE_FAST else "0",
            "" if max_wait is None else repr(float(max_wait)),
            repr(policy.step), repr(policy.period_s), str(self.TTL_S),
            "" if budget.hold_intervals is None else repr(float(budget.hold_intervals)), "1" if queued else "0",
            repr(float(not_before)), "1" if hold else "0", "1" if budget.follows_cut else "0",
            "" if budget.cut_base is None else str(budget.cut_base),
        ]  # fmt: skip
        wait, outcome = self._reserve(keys=names, args=args)
        return float(wait), outcome.decode()

    def pause(self, key, budget: WindowBudget, now, retry_after, reason, adaptive, factor_cap=None):
        policy = budget.policy
        args = [
            repr(float(now)), repr(float(retry_after)), reason, "1" if adaptive else "0",
            repr(policy.cut), repr(policy.floor), repr(policy.step), repr(policy.period_s), str(self.TTL_S),
            "" if factor_cap is None else repr(float(factor_cap)),
        ]  # fmt: skip
        self._pause(keys=[self.prefix + key], args=args)
        return self.read(key)

    def close(self) -> None:
        if self._owns:
            self.redis.close()
