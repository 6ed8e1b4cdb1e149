"""State store behaviour on SQLite; tests/integration/test_state_postgres.py runs the same tests on PostgreSQL.

Tests taking the ``store`` fixture are backend-neutral; the module-level helpers at the bottom are
SQLite- or environment-specific.
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from sf_notion_sync.state import db as state_db
from sf_notion_sync.state.db import VERSION_TABLE, make_engine, upgrade
from sf_notion_sync.state.models import Base, SyncLog
from sf_notion_sync.state.rows import Counters, Failure, RecordMapEntry, StagedRecord, UsageDelta
from sf_notion_sync.state.store import IN_CHUNK, StateStore

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    upgrade(engine)
    yield StateStore(engine)
    engine.dispose()


def schema_differences(engine: sa.Engine) -> list:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "include_name": lambda name, type_, _parent: not (type_ == "table" and name == VERSION_TABLE),
            },
        )
        return compare_metadata(context, Base.metadata)


def entry(sf_id: str, page: str = "", *, hash_: str = "h1", object_name: str = "Account") -> RecordMapEntry:
    return RecordMapEntry(
        object_name=object_name,
        sf_id=sf_id,
        notion_page_id=page or f"page-{sf_id}",
        content_hash=hash_,
        system_modstamp=T0,
        synced_at=T0,
        mapping_version="m1",
    )


def failure(sf_id: str, **kwargs) -> Failure:
    values = {
        "run_id": "run-1",
        "object_name": "Account",
        "sf_id": sf_id,
        "operation": "create",
        "error_code": "validation_error",
        "error_message": "bad",
    } | kwargs
    return Failure(**values)


# --- schema -------------------------------------------------------------------------------------


def test_migrated_schema_matches_models(store):
    assert schema_differences(store.engine) == []
    upgrade(store.engine)  # a second upgrade is a no-op
    with store.engine.connect() as conn:
        assert (
            conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar_one() == "0011_realtime_replay"
        )


def test_datetimes_come_back_aware_utc_and_naive_ones_are_refused(store):
    plus_two = timezone(timedelta(hours=2))
    stamped = replace(entry("001A"), system_modstamp=datetime(2026, 5, 1, 14, 0, tzinfo=plus_two))
    store.upsert_record_map([stamped])
    got = store.get_record_map("Account", ["001A"])["001A"]
    assert got.system_modstamp == T0 and got.system_modstamp.utcoffset() == timedelta(0)
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        store.advance_watermark("Account", datetime(2026, 5, 1, 12, 0))


# --- staging ------------------------------------------------------------------------------------


def test_staging_appends_dense_seqs_in_chunks_and_reads_ranges(store):
    records = (
        StagedRecord(
            sf_id=f"001{i:05d}",
            system_modstamp=T0,
            payload={"Id": f"001{i:05d}", "n": i},
            content_hash=f"h{i}",
        )
        for i in range(2_500)
    )
    assert store.append_staging("run-1", "Account", records, chunk_size=1_000) == 2_500
    assert (
        store.append_staging("run-1", "Account", [StagedRecord("001X", None, '{"Id": "001X"}', "hx", True)])
        == 1
    )
    assert store.count_staging("run-1") == 2_501
    assert store.count_staging("run-2") == 0

    window = list(store.iter_staging("run-1", 998, 2_003, chunk_size=300))
    assert [r.seq for r in window] == list(range(998, 2_004))
    assert window[0].payload == {"Id": "00100998", "n": 998}
    last = list(store.iter_staging("run-1", 2_500))
    assert [(r.seq, r.sf_id, r.is_deleted, r.system_modstamp) for r in last] == [(2_500, "001X", True, None)]

    assert store.clear_staging("run-1") == 2_501
    assert store.count_staging("run-1") == 0


def test_staging_keeps_one_row_per_id_with_the_latest_stamp_whatever_the_order(store):
    def staged(sf_id: str, minutes: int | None, tag: str) -> StagedRecord:
        stamp = None if minutes is None else T0 + timedelta(minutes=minutes)
        return StagedRecord(sf_id, stamp, {"Id": sf_id, "tag": tag}, f"h-{tag}")

    first = [staged("001A", 5, "a-new"), staged("001B", 1, "b-old"), staged("001A", 2, "a-old"),
             staged("001C", None, "c-unstamped")]
    assert store.append_staging("run-1", "Account", first, chunk_size=2) == 3  # new Ids, across chunks
    later = [staged("001B", 3, "b-new"), staged("001A", 5, "a-tie"), staged("001C", 0, "c-stamped"),
             staged("001D", 0, "d"), staged("001B", 2, "b-between")]
    assert store.append_staging("run-1", "Account", later) == 1
    rows = list(store.iter_staging("run-1"))
    assert [(r.seq, r.sf_id, r.payload["tag"]) for r in rows] == [
        (0, "001A", "a-new"), (1, "001B", "b-new"), (2, "001C", "c-stamped"), (3, "001D", "d")]
    assert rows[1].system_modstamp == T0 + timedelta(minutes=3) and rows[1].content_hash == "h-b-new"
    assert store.append_staging("run-2", "Account", [staged("001A", 0, "other run")]) == 1


def test_unstaged_map_entries_are_the_reconcile_candidates(store):
    store.upsert_record_map([entry(f"001{i}") for i in range(6)])
    store.mark_trashed("Account", ["0015"])
    store.append_staging("run-1", "Account", [StagedRecord(f"001{i}", T0, {}, "h") for i in (0, 2, 4)])
    missing = [e.sf_id for e in store.iter_unstaged_map_entries("run-1", "Account", chunk_size=1)]
    assert missing == ["0011", "0013"]


# --- record map and intents ---------------------------------------------------------------------


def test_record_map_upsert_get_trash_and_iterate(store):
    ids = [f"001{i:06d}" for i in range(IN_CHUNK + 20)]
    assert store.upsert_record_map(entry(i) for i in ids) == len(ids)
    store.upsert_record_map([entry(ids[0], "page-new", hash_="h2")])
    got = store.get_record_map("Account", [*ids, "001missing"])
    assert len(got) == len(ids)
    assert (got[ids[0]].notion_page_id, got[ids[0]].content_hash) == ("page-new", "h2")
    assert store.get_record_map("Contact", ids) == {}

    assert store.mark_trashed("Account", ids[:3]) == 3
    assert store.count_record_map("Account") == len(ids) - 3
    assert store.count_record_map("Account", include_trashed=True) == len(ids)
    assert list(store.iter_record_ids("Account", chunk_size=100)) == ids[3:]
    assert store.get_record_map("Account", [ids[0]])[ids[0]].trashed is True


def test_intent_is_cleared_with_the_page_it_announced(store):
    store.write_intents("Account", ["001A", "001B"], "run-1")
    store.write_intents("Account", ["001B"], "run-2")  # a re-run takes the intent over
    assert [(i.sf_id, i.run_id) for i in store.open_intents("Account")] == [
        ("001A", "run-1"),
        ("001B", "run-2"),
    ]

    store.record_created_pages([entry("001A", "page-A")])
    assert [i.sf_id for i in store.open_intents()] == ["001B"]
    assert store.get_record_map("Account", ["001A"])["001A"].notion_page_id == "page-A"
    assert store.open_intents("Account", ["001A"]) == []
    assert store.clear_intents("Account", ["001B"]) == 1
    assert store.open_intents() == []


# --- sync_log -----------------------------------------------------------------------------------


def test_failures_of_one_record_share_one_open_row(store):
    first = store.record_failure(failure("001A"), retry_delay=lambda n: 60 * 2 ** (n - 1), now=T0)
    second = store.record_failure(
        failure("001A", run_id="run-2", error_message="worse"),
        retry_delay=lambda n: 60 * 2 ** (n - 1),
        now=T0,
    )
    assert second.id == first.id
    assert (second.attempts, second.run_id, second.error_message) == (2, "run-2", "worse")
    assert second.last_retry_time == T0 and first.last_retry_time is None
    assert second.next_retry_at == T0 + timedelta(seconds=120)
    assert second.created_at == first.created_at

    assert store.record_success("Account", ["001A"]) == 1
    assert store.record_success("Account", ["001A"]) == 0  # nothing open any more
    reopened = store.record_failure(failure("001A"), now=T0)
    assert reopened.id != first.id and reopened.attempts == 1
    assert store.log_status_counts("Account") == {"Success": 1, "Failed": 1}


def test_database_refuses_a_second_open_row(store):
    store.record_failure(failure("001A"))
    row = {
        "run_id": "r",
        "object_name": "Account",
        "sf_id": "001A",
        "operation": "update",
        "status": "Failed",
        "created_at": T0,
        "updated_at": T0,
    }
    with store.engine.begin() as conn, pytest.raises(sa.exc.IntegrityError):
        conn.execute(sa.insert(SyncLog.__table__).values(row))
    with store.engine.begin() as conn:  # a closed (Success) row may sit next to the open one
        conn.execute(sa.insert(SyncLog.__table__).values(row | {"status": "Success"}))


def test_due_for_retry_puts_rate_limited_first_then_oldest(store):
    store.record_failure(failure("001old"), now=T0)
    store.record_failure(failure("001new"), now=T0 + timedelta(minutes=5))
    store.record_failure(failure("001rl", rate_limited=True), now=T0 + timedelta(minutes=9))
    store.record_failure(failure("001fatal", fatal=True), retry_delay=lambda n: 0, now=T0)
    store.record_failure(failure("001later", next_retry_at=T0 + timedelta(hours=2)), now=T0)
    store.record_failure(failure("001other", object_name="Contact"), now=T0)

    due = store.due_for_retry(now=T0 + timedelta(hours=1), object_name="Account")
    assert [e.sf_id for e in due] == ["001rl", "001old", "001new"]
    assert due[0].status == "Rate Limited" and due[1].status == "Failed"
    assert len(store.due_for_retry(now=T0 + timedelta(hours=3))) == 5
    fatal = store.open_failures("Account", ["001fatal"])["001fatal"]
    assert fatal.fatal and fatal.next_retry_at is None and fatal.status == "Dead"  # dead letter at once


def test_attempts_past_the_limit_are_dead_until_the_record_changes(store):
    for _ in range(3):
        last = store.record_failure(
            failure("001A", sf_system_modstamp=T0), retry_delay=lambda n: 1, max_attempts=3
        )
    assert (last.status, last.attempts, last.next_retry_at) == ("Dead", 3, None)
    assert store.due_for_retry(now=T0 + timedelta(days=30)) == []

    changed = store.record_failure(
        failure("001A", sf_system_modstamp=T0 + timedelta(seconds=1)), max_attempts=3
    )
    assert (changed.id, changed.status, changed.attempts) == (last.id, "Failed", 1)
    assert store.mark_dead("Account", ["001A"]) == 1
    assert store.open_failures("Account")["001A"].status == "Dead"


# --- runs, batches, metrics ---------------------------------------------------------------------


def test_batch_counters_add_up_in_the_run_without_double_counting_reruns(store):
    run = store.start_run(
        "run-1", "sf_notion_full_sync__Account", "Account", "full", params={"dry_run": False}
    )
    assert (run.status, run.params, run.processed) == ("running", {"dry_run": False}, 0)
    store.set_run_total("run-1", 300)
    batches = store.plan_batches("run-1", "Account", [(0, 99), (100, 199), (200, 299)])
    assert [(b.batch_index, b.size, b.status) for b in batches] == [
        (0, 100, "pending"),
        (1, 100, "pending"),
        (2, 100, "pending"),
    ]

    store.start_batch("run-1", 0)
    store.finish_batch(
        "run-1", 0, "success", Counters(processed=100, created=90, skipped=10, notion_requests=90), seconds=10
    )
    store.finish_batch(
        "run-1", 1, "failed", Counters(processed=40, created=30, failed=10, rate_limited_429s=2), seconds=8
    )
    rerun = store.finish_batch("run-1", 1, "success", Counters(processed=100, created=100), seconds=20)
    assert (rerun.status, rerun.failed, rerun.records_per_s, rerun.rate_limited_429s) == (
        "success",
        0,
        5.0,
        2,
    )
    store.add_run_counters("run-1", Counters(trashed=5, notion_requests=5))

    run = store.get_run("run-1")
    assert (run.total, run.processed, run.created, run.skipped, run.failed, run.rate_limited_429s) == (
        300,
        200,
        190,
        10,
        0,
        2,
    )
    assert (run.trashed, run.notion_requests) == (5, 95)

    done = store.finish_run("run-1", "partial", {"created": 190}, records_per_s=7.5, achieved_rps=2.9)
    assert (done.status, done.summary, done.achieved_rps) == ("partial", {"created": 190}, 2.9)
    assert done.finished_at is not None and done.finished_at >= done.started_at
    again = store.start_run("run-1", "sf_notion_full_sync__Account", "Account", "full")
    assert (again.status, again.finished_at, again.processed) == ("running", None, 200)
    metrics = store.recent_batch_metrics("Account")
    assert [(m.size, m.records_per_s, m.errors, m.rate_limited_429s) for m in metrics] == [
        (100, 5.0, 0, 0),
        (40, 5.0, 10, 2),
        (100, 10.0, 0, 0),
    ]
    with pytest.raises(KeyError):
        store.finish_batch("run-1", 9, "success", Counters(), seconds=1)


def test_recent_batch_metrics_newest_first_per_object(store):
    for i in range(5):
        store.record_batch_metric("Account", 100 * (i + 1), 10, finished_at=T0 + timedelta(minutes=i))
    store.record_batch_metric("Contact", 7, 1, errors=1, finished_at=T0)
    recent = store.recent_batch_metrics("Account", limit=2)
    assert [(m.size, m.records_per_s) for m in recent] == [(500, 50.0), (400, 40.0)]
    assert [m.errors for m in store.recent_batch_metrics("Contact")] == [1]
    assert [r.run_id for r in store.recent_runs()] == []


# --- watermarks ---------------------------------------------------------------------------------


def test_watermark_moves_forward_only_and_merges_ties(store):
    assert store.get_watermark("Account") is None
    store.advance_watermark("Account", T0, ["001A"])
    assert store.advance_watermark("Account", T0, ["001B"]).ids_at_value == {"001A", "001B"}
    back = store.advance_watermark("Account", T0 - timedelta(hours=1), ["001Z"])
    assert (back.value, back.ids_at_value) == (T0, {"001A", "001B"})
    forward = store.advance_watermark("Account", T0 + timedelta(seconds=1), ["001C"])
    assert (forward.value, forward.ids_at_value) == (T0 + timedelta(seconds=1), {"001C"})
    assert store.get_watermark("Account", kind="full") is None
    assert store.get_watermark("Account").value == T0 + timedelta(seconds=1)


def test_watermark_never_moves_backward_under_concurrent_writers(store):
    values = [T0 + timedelta(seconds=i) for i in range(40)]
    errors: list[BaseException] = []

    def writer(order):
        try:
            for value in order:
                store.advance_watermark("Account", value, [f"id{value.second}"])
                assert store.get_watermark("Account").value >= value
        except BaseException as exc:  # surfaced by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(o,)) for o in (values, list(reversed(values)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    final = store.get_watermark("Account")
    assert final.value == values[-1] and final.ids_at_value == {f"id{values[-1].second}"}


# --- API usage ----------------------------------------------------------------------------------


def test_usage_counters_add_up_under_concurrent_writers(store):
    per_thread, errors = 150, []

    def writer(dag_id):
        try:
            for i in range(per_thread):
                store.add_api_usage(
                    [
                        UsageDelta(
                            T0 + timedelta(minutes=i % 90),
                            "notion",
                            "POST /v1/pages",
                            200,
                            dag_id,
                            latency_ms_sum=10.0,
                            latency_ms_max=float(i),
                        ),
                        UsageDelta(T0, "notion", "POST /v1/pages", 429, "shared", rate_limited=1, errors=1),
                    ]
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(d,)) for d in ("dag_a", "dag_b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []

    by_status = store.usage_rollup(T0, granularity="day", by=("status",))
    assert [(r.bucket_start, r.key, r.requests, r.rate_limited, r.errors) for r in by_status] == [
        (T0.replace(hour=0), (200,), 2 * per_thread, 0, 0),
        (T0.replace(hour=0), (429,), 2 * per_thread, 2 * per_thread, 2 * per_thread),
    ]
    hourly = store.usage_rollup(T0, by=("dag_id",), api="notion", dag_id="dag_a")
    # minutes i % 90: i < 60 and i >= 90 land in the first hour, 60 <= i < 90 in the second
    assert [(r.bucket_start, r.requests) for r in hourly] == [(T0, 120), (T0 + timedelta(hours=1), 30)]
    assert (hourly[0].latency_ms_max, hourly[1].latency_ms_max) == (per_thread - 1, 89)
    assert hourly[0].latency_ms_avg == 10.0


def test_usage_rollup_groups_and_purge(store):
    store.add_api_usage(
        [
            UsageDelta(T0 + timedelta(minutes=59), "salesforce", "GET /query", 200),
            UsageDelta(T0 + timedelta(minutes=1), "salesforce", "GET /query", 200, latency_ms_max=5),
            UsageDelta(T0 - timedelta(days=40), "notion", "PATCH /v1/pages/{id}", 0, errors=1),
        ]
    )
    rollup = store.usage_rollup(T0 - timedelta(days=60))
    assert [(r.key, r.requests) for r in rollup] == [
        (("notion", "PATCH /v1/pages/{id}"), 1),
        (("salesforce", "GET /query"), 2),
    ]
    assert store.purge_api_usage(30, now=T0) == 1
    assert len(store.usage_rollup(T0 - timedelta(days=60))) == 1
    with pytest.raises(ValueError, match="cannot group"):
        store.usage_rollup(T0, by=("token",))


# --- SQLite engine and URL resolution (not repeated on PostgreSQL) ------------------------------


def test_sqlite_engine_uses_wal_busy_timeout_and_foreign_keys(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == state_db.SQLITE_BUSY_TIMEOUT_MS
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_upgrade_accepts_a_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'y.db'}"
    upgrade(url)
    engine = make_engine(url)
    assert schema_differences(engine) == []
    engine.dispose()


def test_default_url_is_a_sqlite_file_under_airflow_home(monkeypatch, tmp_path):
    monkeypatch.delenv(state_db.CONN_ENV, raising=False)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    assert state_db.default_state_url() == f"sqlite:///{tmp_path / 'sf_notion_sync_state.db'}"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("postgres://u:p@db:5432/sync", "postgresql://u:p@db:5432/sync"),
        ("sqlite:////data/state.db", "sqlite:////data/state.db"),
        (
            json.dumps({"conn_type": "generic", "host": "postgresql+psycopg2://u@db/sync"}),
            "postgresql+psycopg2://u@db/sync",
        ),
        (
            json.dumps(
                {
                    "conn_type": "postgres",
                    "host": "db",
                    "login": "u",
                    "password": "p@ss/w",
                    "port": 5433,
                    "schema": "s",
                }
            ),
            "postgresql://u:p%40ss%2Fw@db:5433/s",
        ),
        (json.dumps({"conn_type": "sqlite", "host": "/data/state.db"}), "sqlite:////data/state.db"),
    ],
)
def test_default_url_from_the_connection_env_var(monkeypatch, value, expected):
    monkeypatch.setenv(state_db.CONN_ENV, value)
    assert state_db.default_state_url() == expected


def test_bad_connection_json_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(state_db.CONN_ENV, "{not json")
    with pytest.raises(ValueError, match=state_db.CONN_ENV):
        state_db.default_state_url()
    monkeypatch.setenv(state_db.CONN_ENV, json.dumps({"login": "u"}))
    with pytest.raises(ValueError, match="needs a SQLAlchemy URL in 'host'"):
        state_db.default_state_url()


def test_url_from_airflow_connection_fields():
    assert state_db.url_from_connection_fields("generic", "sqlite:////x/state.db") == "sqlite:////x/state.db"
    assert (
        state_db.url_from_connection_fields("postgres", "db", "u", "p w", 5432, "s")
        == "postgresql://u:p%20w@db:5432/s"
    )
