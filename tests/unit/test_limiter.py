"""The shared GCRA budget: arithmetic with an injected clock, pause, AIMD, and each backend."""

from __future__ import annotations

import threading

import pytest

from sf_notion_sync.notion.limiter import (
    LANE_FAST,
    AdaptivePolicy,
    BudgetState,
    MemoryBackend,
    NotionRateLimiter,
    RedisBackend,
    SqlBackend,
    build_limiter,
    gcra_reserve,
    token_fingerprint,
)

T0 = 1_800_000_000.0
POLICY = AdaptivePolicy(backoff_factor=0.5, floor=0.1, recovery_step=0.25, recovery_period_s=10.0)


def schedule(limiter: NotionRateLimiter, n: int, now: float = T0) -> list[float]:
    """Send times of n reservations taken at `now`."""
    return [now + limiter.reserve(now=now) for _ in range(n)]


def memory_limiter(key: str, rate=2.0, burst=3, policy=POLICY) -> NotionRateLimiter:
    return NotionRateLimiter(MemoryBackend(), key, rate=rate, burst=burst, policy=policy)


# --- arithmetic (backend-independent) --------------------------------------------------------------


def test_burst_then_even_spacing(unique_key):
    times = schedule(memory_limiter(unique_key), 6)
    assert times == pytest.approx([T0, T0, T0, T0 + 0.5, T0 + 1.0, T0 + 1.5])


def test_idle_time_refills_up_to_burst_only(unique_key):
    lim = memory_limiter(unique_key)
    schedule(lim, 3)
    later = T0 + 100
    assert schedule(lim, 4, later) == pytest.approx([later, later, later, later + 0.5])


def test_max_wait_reports_without_taking(unique_key):
    lim = memory_limiter(unique_key, rate=1.0, burst=1)
    assert lim.reserve(now=T0) == 0
    assert lim.reserve(now=T0, max_wait=0.5) == pytest.approx(1.0)  # not taken ...
    assert lim.reserve(now=T0) == pytest.approx(1.0)  # ... so the next caller gets that slot
    assert lim.reserve(now=T0) == pytest.approx(2.0)


def test_reserve_is_pure_arithmetic():
    state, wait = gcra_reserve(BudgetState(), T0, 4.0, 1, AdaptivePolicy(), None)
    assert wait == 0 and state.tat == pytest.approx(T0 + 0.25)


def test_pause_holds_everyone_and_resumes_without_burst(unique_key):
    a = memory_limiter(unique_key)
    b = memory_limiter(unique_key)  # another client on the same token in this process
    until = a.pause(30, "workspace", now=T0)
    assert until == T0 + 30
    first = T0 + b.reserve(now=T0 + 1)
    second = T0 + b.reserve(now=T0 + 1)
    assert first == pytest.approx(T0 + 30)
    assert second - first == pytest.approx(1 / (2.0 * 0.5))  # halved rate, one interval apart
    status = a.status(now=T0 + 5)
    assert status.paused and status.paused_until == T0 + 30 and status.available_tokens == 0
    assert status.last_429_reason == "workspace" and status.last_429_at == T0


def test_backoff_once_per_episode_then_additive_recovery(unique_key):
    lim = memory_limiter(unique_key)
    lim.pause(2, now=T0)
    lim.pause(2, now=T0 + 0.5)  # same episode (still paused): no second cut
    assert lim.status(now=T0 + 1).effective_rate == pytest.approx(1.0)
    lim.pause(1, now=T0 + 3)  # a new episode
    assert lim.status(now=T0 + 3).effective_rate == pytest.approx(0.5)
    assert lim.status(now=T0 + 12.9).effective_rate == pytest.approx(0.5)
    assert lim.status(now=T0 + 13).effective_rate == pytest.approx(1.0)
    assert lim.status(now=T0 + 33).effective_rate == pytest.approx(2.0)
    assert lim.status(now=T0 + 1000).effective_rate == pytest.approx(2.0)  # never above the budget


def test_backoff_floor(unique_key):
    lim = memory_limiter(unique_key)
    for i in range(10):
        lim.pause(0.1, now=T0 + i)
    assert lim.status(now=T0 + 9.5).effective_rate == pytest.approx(2.0 * 0.1)


def test_status_tokens(unique_key):
    lim = memory_limiter(unique_key)
    assert lim.status(now=T0).available_tokens == 3
    schedule(lim, 2)
    assert lim.status(now=T0).available_tokens == pytest.approx(1)
    assert lim.status(now=T0 + 0.25).available_tokens == pytest.approx(1.5)


def lanes_limiter(make, key) -> NotionRateLimiter:
    """10 req/s, burst 2, half reserved: bulk and fast buckets of 5 req/s and burst 1 each."""
    return NotionRateLimiter(make(), key, rate=10.0, burst=2, policy=POLICY, reserved_share=0.5)


def _lanes_contract(make, key):
    """Bulk saturating its share does not delay the fast lane; idle bulk capacity serves the fast lane."""
    bulk, fast = lanes_limiter(make, key), lanes_limiter(make, key)
    assert [bulk.reserve(now=T0) for _ in range(10)] == pytest.approx([i * 0.2 for i in range(10)])
    assert [fast.reserve(now=T0, lane=LANE_FAST) for _ in range(3)] == pytest.approx([0.0, 0.2, 0.4])
    assert bulk.reserve(now=T0) == pytest.approx(2.0)  # the fast lane took nothing from bulk's share
    idle = T0 + 100  # bulk idle: the fast lane gets the whole rate (its bucket and bulk's)
    assert sorted(fast.reserve(now=idle, lane=LANE_FAST) for _ in range(6)) == pytest.approx([0, 0, 0.2, 0.2, 0.4, 0.4])
    fast.pause(5, now=idle + 1)  # one pause per token, for both lanes
    assert fast.reserve(now=idle + 2, lane=LANE_FAST) == pytest.approx(4.0)
    assert bulk.reserve(now=idle + 2) >= 4.0


def test_lanes_arithmetic(unique_key):
    _lanes_contract(MemoryBackend, unique_key)


def test_lanes_together_stay_within_the_budget(unique_key):
    """Any mix of bulk and fast callers: at most rate x window + burst sends in any window."""
    lim = lanes_limiter(MemoryBackend, unique_key)
    sends = sorted(T0 + i * 0.01 + lim.reserve(now=T0 + i * 0.01, lane=LANE_FAST if i % 3 else "bulk")
                   for i in range(300))
    for i, start in enumerate(sends):
        in_window = sum(1 for t in sends[i:] if t < start + 1.0 - 1e-9)
        assert in_window <= 10 + 2


def test_lane_and_share_are_checked():
    with pytest.raises(ValueError, match="reserved_share"):
        NotionRateLimiter(MemoryBackend(), "k", reserved_share=1.0)
    with pytest.raises(ValueError, match="lane"):
        NotionRateLimiter(MemoryBackend(), "k").reserve(lane="express")


def test_local_fallback_divides_budget_by_pool_slots():
    lim = build_limiter("secret_local", rate=3.0, burst=6, backend="local", pool_slots=3)
    assert (lim.rate, lim.burst) == (1.0, 2)


def test_key_and_repr_never_hold_the_token():
    lim = build_limiter("secret_tok3n", backend="local")
    assert lim.key == token_fingerprint("secret_tok3n") and "secret_tok3n" not in lim.key + repr(lim)


# --- backends -----------------------------------------------------------------------------------------


def _sql_engine(url):
    from sf_notion_sync.state.db import make_engine, upgrade

    engine = make_engine(url)
    upgrade(engine)
    return engine


@pytest.fixture
def sqlite_engine(tmp_path):
    engine = _sql_engine(f"sqlite:///{tmp_path / 'state.db'}")
    yield engine
    engine.dispose()


def _backend_contract(make, key):
    """What every shared backend must do: same answers as the arithmetic, state visible to all."""
    a = NotionRateLimiter(make(), key, rate=2.0, burst=3, policy=POLICY)
    b = NotionRateLimiter(make(), key, rate=2.0, burst=3, policy=POLICY)
    assert [T0 + x.reserve(now=T0) for x in (a, b, a, b, a)] == pytest.approx([T0, T0, T0, T0 + 0.5, T0 + 1.0])
    assert b.reserve(now=T0, max_wait=0.1) == pytest.approx(1.5)
    assert a.reserve(now=T0) == pytest.approx(1.5)
    a.pause(20, "connection", now=T0 + 1)
    assert b.reserve(now=T0 + 2) == pytest.approx(19.0)
    status = b.status(now=T0 + 2)
    assert status.paused_until == pytest.approx(T0 + 21) and status.last_429_reason == "connection"
    assert status.effective_rate == pytest.approx(1.0) and status.available_tokens == 0
    assert b.status(now=T0 + 1000).effective_rate == pytest.approx(2.0)


def _concurrent_reservations(make, key, threads=8, each=25):
    """Many threads at the same instant: the slots handed out are exactly the GCRA schedule."""
    waits: list[float] = []
    lock = threading.Lock()

    def worker():
        lim = NotionRateLimiter(make(), key, rate=10.0, burst=1)
        got = [lim.reserve(now=T0) for _ in range(each)]
        with lock:
            waits.extend(got)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=60)
    assert sorted(waits) == pytest.approx([i * 0.1 for i in range(threads * each)])


def test_sql_backend_sqlite(sqlite_engine, unique_key):
    _backend_contract(lambda: SqlBackend(sqlite_engine), unique_key)
    _concurrent_reservations(lambda: SqlBackend(sqlite_engine), unique_key + "-c")
    _lanes_contract(lambda: SqlBackend(sqlite_engine), unique_key + "-l")


def test_sql_row_holds_fingerprint_not_token(sqlite_engine):
    import sqlalchemy as sa

    build_limiter("secret_in_db", engine=sqlite_engine).reserve()
    with sqlite_engine.connect() as conn:
        keys = conn.execute(sa.text("SELECT key FROM rate_limit_state")).scalars().all()
    assert keys == [token_fingerprint("secret_in_db")] and "secret_in_db" not in keys[0]


@pytest.mark.postgres
def test_sql_backend_postgres(postgres_url, unique_key):
    engine = _sql_engine(postgres_url)
    try:
        _backend_contract(lambda: SqlBackend(engine), unique_key)
        _concurrent_reservations(lambda: SqlBackend(engine), unique_key + "-c")
        _lanes_contract(lambda: SqlBackend(engine), unique_key + "-l")
    finally:
        engine.dispose()


@pytest.mark.redis
def test_redis_backend(redis_url, unique_key):
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        _backend_contract(lambda: RedisBackend(client, prefix=unique_key + ":"), "k")
        _concurrent_reservations(lambda: RedisBackend(client, prefix=unique_key + ":"), "c")
        _lanes_contract(lambda: RedisBackend(client, prefix=unique_key + ":"), "l")
        assert 0 < client.ttl(unique_key + ":k") <= RedisBackend.TTL_S
        assert 0 < client.ttl(unique_key + ":l|fast") <= RedisBackend.TTL_S
    finally:
        client.delete(unique_key + ":k", unique_key + ":c", unique_key + ":l", unique_key + ":l|fast")
        client.close()
