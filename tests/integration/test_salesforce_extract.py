"""Extraction against the Salesforce emulator through the provider's real SalesforceHook.

REST and Bulk 2.0 must yield the same typed records (Bulk in PK-chunk order, REST in cursor order);
deletes are seen through queryAll and getDeleted; records sharing one SystemModstamp are all re-read
with `>=`; Bulk memory does not grow with N.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import subprocess
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest

from sf_notion_sync.salesforce import soql
from sf_notion_sync.salesforce.extract import DeletedWindowMissed, deleted_since, extract, updated_ids_since
from sf_notion_sync.salesforce.limits import SalesforceBudgetExceeded, check_budget, salesforce_usage
from sf_notion_sync.sandbox.salesforce_emulator import DEFAULT_SESSION_ID, SalesforceEmulator
from tests.integration._salesforce import control

ACCOUNTS = 3000  # more than one 2,000-record REST page
FIELDS = [
    "Name", "Type", "Industry", "Rating", "AnnualRevenue", "NumberOfEmployees", "Phone", "Website",
    "BillingStreet", "BillingCity", "BillingPostalCode", "BillingCountry", "Description", "Regions__c",
    "Is_Strategic__c", "OwnerId", "CreatedDate", "LastModifiedDate",
]
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")
FAST = {"bulk_poll_seconds": 0.05}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    emu = SalesforceEmulator(state_dir=tmp_path_factory.mktemp("sf"), accounts=ACCOUNTS, contacts=10,
                             opportunities=10, seed=11, min_job_seconds=0.05)
    with emu.serve(host="127.0.0.1", port=0) as running:
        yield running
    emu.close()


def _hook_sf(server, monkeypatch):
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    conn = {"conn_type": "salesforce", "extra": {"instance_url": server.url, "session_id": server.session_id}}
    monkeypatch.setenv("AIRFLOW_CONN_SALESFORCE_TEST", json.dumps(conn))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_bundle)
    extras = SalesforceHook.get_connection("salesforce_test").extra_dejson
    # The provider passes session_id only from its constructor; the lead's glue does the same.
    return SalesforceHook(salesforce_conn_id="salesforce_test", session_id=extras["session_id"]).get_conn()


@pytest.fixture
def sf(server, monkeypatch):
    soql.clear_describe_cache()
    client = _hook_sf(server, monkeypatch)
    yield client
    client.session.close()  # idle keep-alive connections would hold the emulator's shutdown


def _as_datetime(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("+0000", "+00:00"))


def _after_this_minute(server) -> datetime:
    """Move the emulator's clock past the current minute (getDeleted/getUpdated cover whole minutes
    only) and return its new "now"."""
    control(server, "PATCH", "config", advance_s=60)
    return datetime.fromisoformat(control(server, "GET", "config")["now"])


def _by_id(records: list[dict]) -> list[dict]:
    return sorted(records, key=lambda r: r["Id"])


def test_rest_and_bulk_yield_the_same_typed_records(sf):
    rest = extract(sf, "Account", FIELDS)
    bulk = extract(sf, "Account", FIELDS, threshold=2000, page_size=700, **FAST)
    assert (rest.stats.mode, bulk.stats.mode) == ("rest", "bulk")
    rest_records, bulk_records = list(rest), list(bulk)
    assert len(rest_records) == rest.stats.total == bulk.stats.yielded > 2000  # other tests may delete a few
    assert bulk.stats.pages == -(-bulk.stats.total // 700)
    assert _by_id(rest_records) == _by_id(bulk_records)

    record = rest_records[0]
    assert list(record) == ["Id", "SystemModstamp", *FIELDS]
    kinds = {name: {type(r[name]) for r in rest_records} for name in record}
    assert kinds["NumberOfEmployees"] <= {int, type(None)} and int in kinds["NumberOfEmployees"]
    assert kinds["AnnualRevenue"] <= {float, type(None)} and float in kinds["AnnualRevenue"]
    assert kinds["Is_Strategic__c"] == {bool}
    assert type(None) in kinds["Description"]  # empty CSV cells come back as None, like REST nulls
    assert all(STAMP.match(r["SystemModstamp"]) and STAMP.match(r["CreatedDate"]) for r in rest_records)
    stamps = [(r["SystemModstamp"], r["Id"]) for r in rest_records]
    assert stamps == sorted(stamps)


def test_where_filter_is_applied_on_both_paths(sf):
    where = "Industry = 'Banking' OR Industry = 'Energy'"
    rest = list(extract(sf, "Account", ["Industry"], where=where))
    bulk = list(extract(sf, "Account", ["Industry"], where=where, mode="bulk", **FAST))
    assert _by_id(rest) == _by_id(bulk) and rest
    assert {r["Industry"] for r in rest} == {"Banking", "Energy"}


def test_deleted_records_via_query_all_and_get_deleted(server, sf):
    start = datetime.now(UTC) - timedelta(minutes=1)
    gone = set(control(server, "POST", "mutate", object="Account", delete=5)["deleted"])
    assert len(gone) == 5

    live_ids = {r["Id"] for r in extract(sf, "Account", [])}
    assert not live_ids & gone
    for mode in ("rest", "bulk"):
        run = extract(sf, "Account", [], where="IsDeleted = true", include_deleted=True, mode=mode, **FAST)
        records = list(run)
        assert gone <= {r["Id"] for r in records}
        assert all(r["IsDeleted"] is True for r in records)

    now = _after_this_minute(server)
    answer = deleted_since(sf, "Account", start, now, now=now)
    assert gone <= {record_id for record_id, _ in answer.records}
    assert all(STAMP.match(date) for _, date in answer.records)
    assert answer.latest_date_covered


def test_get_deleted_window(sf):
    now = datetime.now(UTC)
    with pytest.raises(DeletedWindowMissed, match="reconcile"):
        deleted_since(sf, "Account", now - timedelta(days=16))
    # Our own check passes (a clock an hour behind); Salesforce's answer still reports the miss.
    with pytest.raises(DeletedWindowMissed):
        deleted_since(sf, "Account", now - timedelta(days=15, minutes=30), now=now - timedelta(hours=1))


def test_records_sharing_one_stamp_are_all_reread(server, sf):
    tied = set(control(server, "POST", "mutate", object="Account", update=500, same_timestamp=True)["updated"])
    assert len(tied) == 500
    stamp = sf.query("SELECT SystemModstamp FROM Account ORDER BY SystemModstamp DESC LIMIT 1")["records"][0]
    watermark = _as_datetime(stamp["SystemModstamp"])
    # The watermark sits exactly on the tie: a run that stopped inside the group re-reads all of it.
    for options in ({"mode": "rest", "rest_batch_size": 200}, {"mode": "bulk", "page_size": 150, **FAST}):
        run = extract(sf, "Account", ["Name"], since=watermark, **options)
        records = list(run)
        assert run.stats.pages >= 3  # the tie group spans page boundaries
        ids = [r["Id"] for r in records]
        assert tied <= set(ids) and len(ids) == len(set(ids))
    now = _after_this_minute(server)
    window = updated_ids_since(sf, "Account", watermark - timedelta(minutes=1), now)
    assert tied <= {record_id for record_id, _ in window.records}


def test_overlap_window_rereads_earlier_records_once(server, sf):
    first = set(control(server, "POST", "mutate", object="Account", update=10)["updated"])
    second = set(control(server, "POST", "mutate", object="Account", update=10)["updated"])
    latest = sf.query("SELECT SystemModstamp FROM Account ORDER BY SystemModstamp DESC LIMIT 1")["records"][0]
    watermark = _as_datetime(latest["SystemModstamp"]) + timedelta(seconds=2)
    run = extract(sf, "Account", [], since=watermark, overlap=timedelta(minutes=5))
    ids = [r["Id"] for r in run]
    assert (first | second) <= set(ids) and len(ids) == len(set(ids))
    assert "SystemModstamp >= " in run.stats.soql


def test_budget_guard_reads_the_emulator_limits(server, sf):
    control(server, "PATCH", "config", daily_limit=1000, api_usage=100)
    try:
        sf.query("SELECT COUNT() FROM Account")
        assert check_budget(sf).proceed
        assert salesforce_usage(sf)["limit"] == 1000
        control(server, "PATCH", "config", api_usage=850)
        sf.query("SELECT COUNT() FROM Account")
        with pytest.raises(SalesforceBudgetExceeded, match=r"used 851 of 1000 daily requests, threshold 80%"):
            check_budget(sf)
        assert check_budget(sf, on_exceeded="defer").defer
        report = salesforce_usage(sf)
        assert report["over_threshold"] and report["remaining"] == 1000 - report["used"]
        assert DEFAULT_SESSION_ID not in json.dumps(report)
    finally:
        control(server, "PATCH", "config", daily_limit=100_000, api_usage=0)


# -- memory: a separate emulator process, so tracemalloc sees only the extracting side ------------

BIG = 200_000
SMALL = 10_000
PAGE = 2_000
MEMORY_BOUND = 8_000_000  # bytes; a fixed bound, not a function of N


@pytest.fixture(scope="module")
def big_server(tmp_path_factory):
    state = tmp_path_factory.mktemp("sf-big")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sf_notion_sync.sandbox.salesforce_emulator", "--port", "0",
         "--accounts", str(BIG), "--contacts", "1", "--opportunities", "1", "--state-dir", str(state)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            if not selector.select(timeout=60):
                pytest.fail("the Salesforce emulator process did not report ready within 60 s")
        ready = json.loads(proc.stdout.readline())
        yield type("Server", (), {**ready, "session_id": DEFAULT_SESSION_ID})
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _peak_while_extracting(sf, n: int) -> tuple[int, int, float]:
    started = time.monotonic()
    tracemalloc.start()
    try:
        run = extract(sf, "Account", ["Name"], limit=n, mode="bulk", page_size=PAGE, **FAST)
        count = sum(1 for _ in run)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return count, peak, time.monotonic() - started


def test_bulk_memory_does_not_grow_with_record_count(big_server, monkeypatch):
    soql.clear_describe_cache()
    sf = _hook_sf(big_server, monkeypatch)
    list(extract(sf, "Account", ["Name"], limit=10, mode="bulk", **FAST))  # warm: describe, TLS session
    small, small_peak, small_s = _peak_while_extracting(sf, SMALL)
    big, big_peak, big_s = _peak_while_extracting(sf, BIG)
    print(f"\nBulk tracemalloc peak: {SMALL} records {small_peak / 1e6:.2f} MB ({small_s:.1f} s), "
          f"{BIG} records {big_peak / 1e6:.2f} MB ({big_s:.1f} s), page {PAGE}")
    assert (small, big) == (SMALL, BIG)
    assert big_peak < MEMORY_BOUND
    assert big_peak < small_peak * 1.5 + 1_000_000, "peak memory grows with the number of records"
    sf.session.close()


def test_session_id_is_not_in_errors(sf):
    with pytest.raises(soql.UnknownFieldError) as info:
        list(extract(sf, "Account", ["Nmae"], config_path="objects.Account"))
    assert "did you mean Name" in str(info.value) and "objects.Account.fields[0]" in str(info.value)
    assert os.environ.get("AIRFLOW_CONN_SALESFORCE_TEST") and DEFAULT_SESSION_ID not in str(info.value)
