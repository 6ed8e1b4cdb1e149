"""Worker process for the shared-budget acceptance test; a light module, so spawn starts it fast."""

from __future__ import annotations

import time
from typing import Any

TOKEN = "secret_sandbox"


def run(
    base_url: str, db_url: str, data_source_id: str, rate: float, burst: int, run_s: float, barrier: Any, results: Any
) -> None:
    """Wait at the barrier with everyone, then read as fast as the shared SQL limiter allows.
    Puts ``(calls, attempts)``: a 429 or a timeout retried inside one call is one more attempt."""
    from sf_notion_sync.notion.client import ThrottledNotionClient
    from sf_notion_sync.notion.limiter import build_limiter
    from sf_notion_sync.notion.usage import UsageRecorder, sql_usage_sink
    from sf_notion_sync.state.db import make_engine

    engine = make_engine(db_url)
    limiter = build_limiter(TOKEN, rate=rate, burst=burst, backend="sql", engine=engine)
    usage = UsageRecorder(sql_usage_sink(engine), dag_id="acceptance", flush_every=50, flush_interval_s=5)
    client = ThrottledNotionClient(TOKEN, base_url=base_url, limiter=limiter, usage=usage)
    sent = 0
    try:
        barrier.wait(timeout=120)
        stop_at = time.time() + run_s
        while time.time() < stop_at and sent < 100_000:
            client.retrieve_data_source(data_source_id)
            sent += 1
    finally:
        client.close()
        engine.dispose()
        results.put((sent, client.totals.attempts))
