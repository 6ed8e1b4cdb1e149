"""Worker process for the shared-budget acceptance tests; a light module, so spawn starts it fast."""

from __future__ import annotations

import time
from typing import Any


class RecordingLimiter:
    """The limiter, noting the slot of every reservation it hands out (its clock + the wait)."""

    def __init__(self, limiter: Any) -> None:
        self.limiter = limiter
        self.slots: list[float] = []

    def reserve(self, now: float | None = None, **kwargs: Any) -> float:
        now = self.limiter.clock() if now is None else now
        wait = self.limiter.reserve(now, **kwargs)
        self.slots.append(now + wait)
        return wait

    def __getattr__(self, name: str) -> Any:
        return getattr(self.limiter, name)


def run(base_url: str, token: str, db_url: str, backend: str, redis_url: str | None, data_source_id: str,
        requests: int, window_s: float, slack_s: float, run_s: float, dag_id: str, barrier: Any, results: Any) -> None:
    """Wait at the barrier with everyone, then read as fast as the shared limiter (``sql`` on ``db_url``,
    or ``redis``) allows. Puts ``(calls, attempts, slots)``: a 429 retried inside one call is one more
    attempt; ``slots`` are the reservations' send times."""
    from sf_notion_sync.notion.client import ThrottledNotionClient
    from sf_notion_sync.notion.limiter import build_limiter
    from sf_notion_sync.notion.usage import UsageRecorder, sql_usage_sink
    from sf_notion_sync.state.db import make_engine

    engine = make_engine(db_url)
    limiter = RecordingLimiter(build_limiter(token, requests=requests, window_s=window_s, slack_s=slack_s,
                                             backend=backend, engine=engine, redis_url=redis_url))
    usage = UsageRecorder(sql_usage_sink(engine), dag_id=dag_id, flush_every=50, flush_interval_s=5)
    client = ThrottledNotionClient(token, base_url=base_url, limiter=limiter, usage=usage)
    sent = 0
    try:
        barrier.wait(timeout=120)
        stop_at = time.time() + run_s
        while time.time() < stop_at and sent < 100_000:
            client.retrieve_data_source(data_source_id)
            sent += 1
    finally:
        client.close()
        limiter.close()
        engine.dispose()
        results.put((sent, client.totals.attempts, limiter.slots))
