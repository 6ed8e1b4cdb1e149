"""The limiter and its factory on every backend: one contract, the same answers as the arithmetic."""

from __future__ import annotations

import threading

import pytest

from sf_notion_sync.notion.limiter import (
    LANE_FAST,
    EndpointPaused,
    MemoryBackend,
    NotionRateLimiter,
    RedisBackend,
    SqlBackend,
    TurnGiven,
    build_limiter,
    pause_reason,
    token_fingerprint,
)

T0 = 1_800_000_000.0
PAGES, ME = "POST /v1/pages", "GET /v1/users/me"


def near(expected):
    return pytest.approx(expected, abs=1e-5)  # Redis keeps µs


def small(backend, key, workspace_key=None, **options) -> NotionRateLimiter:
    """6 requests per 1 s window, no slack, burst 2, fast lane capped at half, slots held at any distance:
    round numbers."""
    return NotionRateLimiter(backend, key, requests=6, window_s=1.0, slack_s=0.0, burst=2, fast_lane_cap=0.5,
                             workspace_key=workspace_key, hold_intervals=None, **options)


def held(backend, key) -> NotionRateLimiter:
    """10 requests per 1 s window, no burst, bulk slots held at most one interval (0.1 s) ahead."""
    return NotionRateLimiter(backend, key, requests=10, window_s=1.0, slack_s=0.0, burst=1, fast_lane_cap=0.5,
                             hold_intervals=1.0)


def _turn(limiter, **kwargs) -> float:
    with pytest.raises(TurnGiven) as turn:
        limiter.reserve(**kwargs)
    return turn.value.wait_s


def _contract(make, key) -> list:
    """Every backend gives these answers (asserted for the memory backend, compared for the others)."""
    a, b = small(make(), key, key + ":ws"), small(make(), key, key + ":ws")
    other = small(make(), key + ":other", key + ":ws")  # another connection of the same workspace
    out = [x.reserve(now=T0) for x in (a, b, a, b, a)]  # a burst of 2, then one per 1/6 s
    out.append(b.reserve(now=T0, max_wait=0.1))  # beyond max_wait: reported, not taken
    out.append(a.reserve(now=T0, lane=LANE_FAST))  # right after the slots held, ahead of the pacing
    out.append(b.reserve(now=T0))  # the log: 6 in the window, the 7th waits for the first + 1 s
    out.append(a.pause(2, "connection", now=T0 + 1))
    out.append(b.reserve(now=T0 + 1.5))
    out.append(other.reserve(now=T0 + 1.5))  # a connection pause stays on its connection
    out.append(a.pause(3, "endpoint", now=T0 + 4, endpoint=PAGES))
    with pytest.raises(EndpointPaused) as paused:  # nothing taken: the other endpoints go on
        b.reserve(now=T0 + 4, endpoint=PAGES)
    out += [paused.value.wait_s, b.reserve(now=T0 + 4, endpoint=ME), b.reserve(now=T0 + 4)]
    out.append(b.reserve(now=T0 + 7, endpoint=PAGES))
    out.append(a.pause(5, "workspace", now=T0 + 10))
    out.append(a.pause(5, "workspace", now=T0 + 11))  # the same episode: one cut
    out.append(other.reserve(now=T0 + 12))  # the workspace pause holds every connection of it
    status = b.status(now=T0 + 12)
    out += [status.paused, status.paused_until, status.effective_requests, status.last_429_reason]
    out.append(b.status(now=T0 + 18).effective_requests)  # +5% per window after the pause
    out.append(b.status(now=T0 + 100).effective_requests)
    whole = small(make(), key + ":whole", key + ":ws", follows_cut=False)  # under a bucket: the cut is not its
    out.append(whole.status(now=T0 + 12).effective_requests)
    out += [whole.reserve(now=T0 + 17) for _ in range(3)]  # a burst of 2, then one per 1/6 s (not 1/4)
    based = small(make(), key + ":based", key + ":ws", cut_base=12)  # the cut is a share of 12: 0.75 x 12 = 9
    out += [based.status(now=T0 + 12).effective_requests, *(based.reserve(now=T0 + 12) for _ in range(7))]
    cut = small(make(), key + ":cut", key + ":ws", cut_base=4)  # a share of 4: 3 of its 6
    out += [cut.reserve(now=T0 + 16) for _ in range(4)]  # a burst of 2, then one per 1/3 s; the 4th: the log
    h, g = held(make(), key + ":held"), held(make(), key + ":held")  # turns instead of slots held ahead
    out += [h.reserve(now=T0), g.reserve(now=T0), _turn(h, now=T0), _turn(g, now=T0)]
    out.append(g.reserve(now=T0 + 0.1, queued=True))  # back at its turn: the slot is its own
    out.append(_turn(h, now=T0 + 0.1))  # a newcomer queues behind the turn still out
    out.append(h.reserve(now=T0 + 0.1, lane=LANE_FAST))  # a fast request goes before the holders
    out.append(g.reserve(now=T0 + 0.2, queued=True))  # pushed by it, within twice the hold
    out.append(h.reserve(now=T0 + 0.2, max_wait=0.05))  # a deferring caller: reported, nothing taken
    return out


EXPECTED = [
    0.0, 0.0, 1 / 6, 2 / 6, 3 / 6, 4 / 6, 3 / 6, 1.0,
    T0 + 3, 1.5, 0.0,
    T0 + 7, 3.0, 0.0, 0.0, 0.0,
    T0 + 15, T0 + 16, 4.0,
    True, T0 + 16, 4, "workspace", 5, 6,
    6, 0.0, 0.0, 1 / 6,
    6, 4.0, 4.0, 4 + 1 / 6, 4 + 2 / 6, 4 + 3 / 6, 4 + 4 / 6, 5.0,
    0.0, 0.0, 1 / 3, 1.0,
    0.0, 0.1, 0.1, 0.2, 0.1, 0.2, 0.1, 0.2, 0.3,
]  # fmt: skip


def test_contract_memory(unique_key):
    assert _contract(MemoryBackend, unique_key) == [near(x) if isinstance(x, float) else x for x in EXPECTED]


def _same_as_memory(make, key):
    assert _contract(make, key) == [near(x) if isinstance(x, float) else x for x in _contract(MemoryBackend, key + "-m")]


def _concurrent_reservations(make, key, threads=8, each=20):
    """Threads asking at one instant get exactly the slots one caller would, none twice."""
    waits: list[float] = []
    lock = threading.Lock()

    def worker():
        lim = NotionRateLimiter(make(), key, requests=40, window_s=1.0, slack_s=0.0, burst=4, hold_intervals=None)
        got = [lim.reserve(now=T0) for _ in range(each)]
        with lock:
            waits.extend(got)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=60)
    alone = NotionRateLimiter(MemoryBackend(), key + "-alone", requests=40, window_s=1.0, slack_s=0.0, burst=4,
                              hold_intervals=None)
    assert sorted(waits) == [near(w) for w in sorted(alone.reserve(now=T0) for _ in range(threads * each))]


def _fast_behind_bulk_callers(make, key, callers=8):
    """Issue 11: ``callers`` bulk threads ask at one instant; two slots are taken (the next is within the
    hold of one interval), the rest get turns, so a fast request waits one interval, not ``callers``."""
    outcomes: list[str] = []
    lock = threading.Lock()

    def bulk():
        try:
            held(make(), key).reserve(now=T0)
            outcome = "taken"
        except TurnGiven:
            outcome = "turn"
        with lock:
            outcomes.append(outcome)

    pool = [threading.Thread(target=bulk) for _ in range(callers)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=60)
    assert sorted(outcomes) == ["taken"] * 2 + ["turn"] * (callers - 2)
    assert held(make(), key).reserve(now=T0, lane=LANE_FAST) == near(0.1)


def test_a_fast_request_waits_one_interval_behind_eight_bulk_callers(unique_key):
    _fast_behind_bulk_callers(MemoryBackend, unique_key)
    holding = NotionRateLimiter(MemoryBackend(), unique_key + "-old", requests=10, window_s=1.0, slack_s=0.0,
                                burst=1, hold_intervals=None)
    for _ in range(8):
        holding.reserve(now=T0)
    assert holding.reserve(now=T0, lane=LANE_FAST) == near(0.7)  # slots held at any distance: behind all 8


# --- the limiter -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("reason", "status", "expected"), [
    ("public_api_request_rate_limit", 429, "connection"),
    ("public_api_space_request_rate_limit", 429, "workspace"),
    ("public_api_endpoint_rate_limit", 429, "endpoint"),
    (None, 429, "connection"),
    ("something_new", 429, "connection"),
    (None, 529, "workspace"),  # service_overload
])  # fmt: skip
def test_pause_reason_maps_notions_reasons(reason, status, expected):
    assert pause_reason(reason, status) == expected


def test_arguments_are_checked():
    lim = NotionRateLimiter(MemoryBackend(), "k")
    with pytest.raises(ValueError, match="lane"):
        lim.reserve(lane="express")
    with pytest.raises(ValueError, match="reason"):
        lim.pause(1, "planet")
    with pytest.raises(ValueError, match="fast_lane_cap"):
        NotionRateLimiter(MemoryBackend(), "k", fast_lane_cap=1.5)
    with pytest.raises(ValueError, match="workspace_key"):
        NotionRateLimiter(MemoryBackend(), "k", workspace_key="k")


def test_defaults_are_notions_free_plan(unique_key):
    lim = NotionRateLimiter(MemoryBackend(), unique_key)
    assert (lim.requests, lim.window_s, lim.rate) == (180, 60.0, 3.0)
    assert (lim.budget.burst, lim.budget.slack_s, lim.budget.fast_lane_cap) == (18, pytest.approx(0.6), 0.2)


def test_status_reports_the_budget(unique_key):
    lim = NotionRateLimiter(MemoryBackend(), unique_key, requests=10, window_s=2.0, burst=10)
    for _ in range(3):
        lim.reserve(now=T0)
    status = lim.status(now=T0 + 1)
    assert (status.requests, status.window_s, status.used, status.available_tokens) == (10, 2.0, 3, 7)
    assert (status.rate, status.effective_rate, status.paused, status.last_429_at) == (5.0, 5.0, False, None)
    data = status.as_dict()
    for name in ("key", "backend", "rate", "effective_rate", "available_tokens", "burst", "paused",
                 "paused_until", "last_429_at", "last_429_reason", "budget_factor", "fast_lane_cap"):
        assert name in data


def test_local_backend_paces_at_its_share_and_reports_the_tokens_budget():
    lim = build_limiter("secret_local", requests=180, window_s=60.0, backend="local", pool_slots=3)
    assert (lim.budget.requests, lim.budget.burst) == (60, 6)
    status = lim.status()
    assert (status.requests, status.rate, status.processes, status.backend) == (180, 3.0, 3, "memory")


def test_key_and_repr_never_hold_the_token():
    lim = build_limiter("secret_tok3n", backend="local")
    assert lim.key == token_fingerprint("secret_tok3n") and "secret_tok3n" not in lim.key + repr(lim)


def test_long_endpoint_templates_fit_the_key_column(unique_key):
    lim = small(MemoryBackend(), unique_key)
    endpoint = "GET /v1/pages/{id}/properties/" + "x" * 200
    until = lim.pause(3, "endpoint", now=T0, endpoint=endpoint)
    assert len(lim._endpoint_key(endpoint)) <= 128 and until == T0 + 3
    with pytest.raises(EndpointPaused, match="paused for 3.0s"):
        lim.reserve(now=T0, endpoint=endpoint)


def test_an_endpoint_pause_without_endpoint_pauses_the_connection(unique_key):
    lim = small(MemoryBackend(), unique_key)
    lim.pause(2, "endpoint", now=T0)
    assert lim.reserve(now=T0) == near(2.0)


def test_max_wait_beyond_an_endpoint_pause_reports_the_wait(unique_key):
    lim = small(MemoryBackend(), unique_key)
    lim.pause(20, "endpoint", now=T0, endpoint=PAGES)
    assert lim.reserve(now=T0, endpoint=PAGES, max_wait=10) == near(20.0)  # for a caller that defers
    assert lim.status(now=T0).used == 0


# --- backends ---------------------------------------------------------------------------------------------


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


def test_sql_backend_sqlite(sqlite_engine, unique_key):
    _same_as_memory(lambda: SqlBackend(sqlite_engine), unique_key)
    _concurrent_reservations(lambda: SqlBackend(sqlite_engine), unique_key + "-c")
    _fast_behind_bulk_callers(lambda: SqlBackend(sqlite_engine), unique_key + "-f")


def test_sql_row_holds_fingerprint_not_token(sqlite_engine):
    import sqlalchemy as sa

    build_limiter("secret_in_db", engine=sqlite_engine).reserve()
    with sqlite_engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT key, window_log FROM rate_limit_state")).all()
    assert [key for key, _ in rows] == [token_fingerprint("secret_in_db")] and "secret_in_db" not in rows[0][0]
    assert '"sent": [' in rows[0][1]


@pytest.mark.postgres
def test_sql_backend_postgres(postgres_url, unique_key):
    engine = _sql_engine(postgres_url)
    try:
        _same_as_memory(lambda: SqlBackend(engine), unique_key)
        _concurrent_reservations(lambda: SqlBackend(engine), unique_key + "-c")
        _fast_behind_bulk_callers(lambda: SqlBackend(engine), unique_key + "-f")
    finally:
        engine.dispose()


@pytest.mark.redis
def test_redis_backend(redis_url, unique_key):
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        _same_as_memory(lambda: RedisBackend(client, prefix=unique_key + ":"), "k")
        _concurrent_reservations(lambda: RedisBackend(client, prefix=unique_key + ":"), "c")
        _fast_behind_bulk_callers(lambda: RedisBackend(client, prefix=unique_key + ":"), "f")
        for name in ("k", "k|sent", "k|fast", "k:ws", f"k|endpoint:{PAGES}"):
            assert 0 < client.ttl(f"{unique_key}:{name}") <= RedisBackend.TTL_S, name
    finally:
        client.delete(*client.keys(unique_key + ":*"))
        client.close()
