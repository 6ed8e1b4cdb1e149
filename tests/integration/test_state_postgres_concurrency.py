"""Eight writers at once on the PostgreSQL state store, as a Celery deployment runs them: the batches of
two objects' full syncs (three each), the fast lane and the retry DAG, all counting into shared rows
(run counters, one api_usage bucket, the same records' sync_log rows). No lock error, no deadlock and no
lost update: every shared count equals the sum of what the writers added."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from sf_notion_sync.state.rows import Counters, Failure, RecordMapEntry, UsageDelta
from sf_notion_sync.state.store import StateStore

pytestmark = pytest.mark.postgres

ROUNDS = 10
BATCHES = {"run-account": "Account", "run-contact": "Contact"}
BATCHES_PER_RUN = 3
RECORDS_PER_ROUND = 5
SHARED = [f"001SHARED{i:09d}" for i in range(8)]
"""Records both the fast lane and the retry DAG fail every round: their sync_log rows are contended."""
NOW = datetime(2026, 12, 1, 12, 30, tzinfo=UTC)
"""One hour bucket for every writer's usage, whatever the clock says."""
WRITERS = len(BATCHES) * BATCHES_PER_RUN + 2


USAGE = [UsageDelta(at=NOW, api="notion", endpoint="pages.create", status=200, requests=3)]
"""The same bucket and key for every writer: one contended upsert row."""


def _batch_writer(url: str, start: threading.Barrier, run_id: str, index: int) -> None:
    """One sync_batch: pages, intents, usage and the batch's counters (finished once per round, as a
    re-run of the batch would: the run's sums move by the difference only)."""
    store = StateStore.from_url(url, migrate=False)
    obj = BATCHES[run_id]
    start.wait()
    total = Counters()
    for round_ in range(ROUNDS):
        ids = [f"{obj[:3]}{index}{round_:02d}{n:012d}" for n in range(RECORDS_PER_ROUND)]
        store.write_intents(obj, ids, run_id)
        store.record_created_pages([RecordMapEntry(obj, i, f"page-{i}", "hash", None, NOW, "v1") for i in ids])
        store.clear_intents(obj, ids)
        store.add_api_usage(USAGE)
        store.add_run_counters(run_id, Counters(notion_requests=1))  # as the client's budget_use does
        total.add(Counters(processed=len(ids), created=len(ids)))
        store.finish_batch(run_id, index, "running", total, seconds=1.0, record_metric=False)
    store.engine.dispose()


def _dag_writer(url: str, start: threading.Barrier, run_id: str) -> None:
    """The fast lane or the retry DAG: its own run's counters, usage, and failures of the shared records."""
    store = StateStore.from_url(url, migrate=False)
    start.wait()
    for _ in range(ROUNDS):
        store.add_run_counters(run_id, Counters(processed=1, failed=1))
        store.add_api_usage(USAGE)
        store.record_failures([Failure(run_id, "Account", sf_id, "update", "rate_limited", "429")
                               for sf_id in SHARED])
    store.engine.dispose()


def test_eight_concurrent_writers_lose_no_update(empty_postgres_url):
    store = StateStore.from_url(empty_postgres_url)
    for run_id, obj in BATCHES.items():
        store.start_run(run_id, f"sf_notion_full_sync__{obj.lower()}", obj, "full")
        store.plan_batches(run_id, obj, [(i * 100, i * 100 + 99) for i in range(BATCHES_PER_RUN)])
    for run_id in ("run-fast", "run-retry"):
        store.start_run(run_id, run_id, "Account", run_id.removeprefix("run-"))
    start = threading.Barrier(WRITERS)
    with ThreadPoolExecutor(WRITERS) as pool:
        futures = [pool.submit(_batch_writer, empty_postgres_url, start, run_id, index)
                   for run_id in BATCHES for index in range(BATCHES_PER_RUN)]
        futures += [pool.submit(_dag_writer, empty_postgres_url, start, run_id) for run_id in ("run-fast", "run-retry")]
        for future in futures:
            future.result(timeout=120)  # a lock error or deadlock raises here

    per_batch = ROUNDS * RECORDS_PER_ROUND
    for run_id, obj in BATCHES.items():
        run = store.get_run(run_id)
        batches = store.list_batches(run_id)
        assert [b.created for b in batches] == [per_batch] * BATCHES_PER_RUN
        assert run.created == sum(b.created for b in batches) == per_batch * BATCHES_PER_RUN
        assert run.notion_requests == ROUNDS * BATCHES_PER_RUN
        assert store.count_record_map(obj) == per_batch * BATCHES_PER_RUN
    for run_id in ("run-fast", "run-retry"):
        assert store.get_run(run_id).failed == ROUNDS
    failures = store.open_failures("Account", SHARED)
    assert {sf_id: entry.attempts for sf_id, entry in failures.items()} == {sf_id: 2 * ROUNDS for sf_id in SHARED}
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT sum(requests) FROM api_usage")).scalar() == 3 * ROUNDS * WRITERS
        assert conn.execute(sa.text("SELECT count(*) FROM sync_intent")).scalar() == 0
    store.engine.dispose()
