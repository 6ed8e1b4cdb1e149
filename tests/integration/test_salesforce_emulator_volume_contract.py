"""Contract: the emulator behaves as Salesforce does at volume and over time, seen through the real simple-salesforce.

Bulk API 2.0 serves PK chunks, not sorted results, and fails ORDER BY/LIMIT jobs past a size with a
query timeout; sessions and OAuth tokens expire for every API; getDeleted/getUpdated read to the
minute, report latestDateCovered and lose purged deletes; the API counter is a rolling 24 h; REST
batches can be short. Time-dependent cases freeze the emulator's clock on chosen instants, so no
test depends on where the real clock falls.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceOperationError,
)

from sf_notion_sync.sandbox.salesforce_emulator import SalesforceEmulator
from tests.integration._salesforce import control

ACCOUNTS = 2300
T0 = datetime(2026, 6, 1, 12, 0, 20, tzinfo=UTC)  # 20 s into a minute, on purpose


@pytest.fixture
def server(tmp_path, monkeypatch):
    emu = SalesforceEmulator(state_dir=tmp_path / "sf", accounts=ACCOUNTS, contacts=20, opportunities=20, seed=5,
                             min_job_seconds=0.05)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", emu.tls.ca_bundle.as_posix())
    with emu.serve() as running:
        yield running
    emu.close()


@pytest.fixture
def sf(server):
    client = Salesforce(instance_url=server.url, session_id=server.session_id, version=server.api_version)
    yield client
    client.session.close()  # idle keep-alive connections would hold the emulator's shutdown


def bulk_job(server, query: str, operation: str = "query") -> requests.Response:
    return requests.post(f"{server.url}/services/data/v{server.api_version}/jobs/query", timeout=10,
                         headers={"Authorization": f"Bearer {server.session_id}"},
                         json={"operation": operation, "query": query}, verify=server.ca_bundle)


def bulk_rows(sf: Salesforce, query: str) -> list[dict]:
    pages = sf.bulk2.Account.query(query, max_records=1000, wait=0.05)
    return [row for page in pages for row in csv.DictReader(io.StringIO(page))]


# --- Bulk API 2.0 -----------------------------------------------------------------------------


def test_bulk_results_come_in_pk_chunks_not_sorted(server, sf):
    control(server, "PATCH", "config", pk_chunk_size=460)  # five chunks of 460
    updated = set(control(server, "POST", "mutate", object="Account", update=30)["updated"])
    rows = bulk_rows(sf, "SELECT Id, SystemModstamp FROM Account")
    ids = [r["Id"] for r in rows]
    assert len(ids) == ACCOUNTS == len(set(ids))
    assert ids != sorted(ids)  # chunks finish in any order
    chunks = [ids[i:i + 460] for i in range(0, ACCOUNTS, 460)]
    assert all(chunk == sorted(chunk) for chunk in chunks)  # Id order within a PK chunk
    stamps = [r["SystemModstamp"] for r in rows]
    assert stamps != sorted(stamps) and updated <= set(ids)  # updated records sit at their Id, not at the end
    again = [r["Id"] for r in bulk_rows(sf, "SELECT Id FROM Account")]
    assert sorted(again) == sorted(ids)


def test_order_by_or_limit_past_the_limit_fails_the_job_with_a_query_timeout(server, sf):
    control(server, "PATCH", "config", bulk_order_limit=1000)
    for query in ("SELECT Id FROM Account ORDER BY SystemModstamp, Id", "SELECT Id FROM Account LIMIT 5"):
        with pytest.raises(SalesforceOperationError, match="QUERY_TIMEOUT"):
            list(sf.bulk2.Account.query(query, wait=0.05))
    job = bulk_job(server, "SELECT Id FROM Account ORDER BY Id").json()
    url = f"{server.url}/services/data/v{server.api_version}/jobs/query/{job['id']}"
    info = {"state": job["state"]}
    for _ in range(200):  # bounded poll: the job fails once it has counted its records
        info = requests.get(url, headers={"Authorization": f"Bearer {server.session_id}"},
                            verify=server.ca_bundle, timeout=10).json()
        if info["state"] not in ("UploadComplete", "InProgress"):
            break
        sf.query("SELECT COUNT() FROM Contact")  # one round trip to the emulator between polls
    assert info["state"] == "Failed" and "Your query request was running for too long" in info["errorMessage"]
    small = bulk_rows(sf, "SELECT Id FROM Account WHERE Industry = 'Banking' ORDER BY Id")  # under the limit
    assert small and [r["Id"] for r in small] == sorted(r["Id"] for r in small)


def test_offset_is_refused_by_bulk(server):
    answer = bulk_job(server, "SELECT Id FROM Account ORDER BY Id LIMIT 10 OFFSET 5")
    assert answer.status_code == 400 and answer.json()[0]["errorCode"] == "INVALIDJOB"
    assert "OFFSET is not supported" in answer.json()[0]["message"]


# --- sessions -----------------------------------------------------------------------------------


def _oauth_token(server) -> str:
    return requests.post(f"{server.url}/services/oauth2/token", verify=server.ca_bundle, timeout=10, data={
        "grant_type": "password", "client_id": "sandbox-client", "client_secret": "sandbox-secret",
        "username": "sandbox@example.com", "password": "sandbox"}).json()["access_token"]


def _every_api(server, sf: Salesforce) -> dict:
    """One call of each API extraction uses, each answering 401 INVALID_SESSION_ID once expired."""
    now = datetime.fromisoformat(control(server, "GET", "config")["now"])
    return {
        "rest": lambda: sf.query("SELECT COUNT() FROM Account"),
        "describe": lambda: sf.Account.describe(),
        "getDeleted": lambda: sf.Account.deleted(now - timedelta(hours=1), now),
        "getUpdated": lambda: sf.Account.updated(now - timedelta(hours=1), now),
        "bulk": lambda: list(sf.bulk2.Account.query("SELECT Id FROM Account", wait=0.05)),
        "limits": lambda: sf.limits(),
    }


def test_sessions_and_oauth_tokens_expire_after_the_timeout(server, sf):
    control(server, "PATCH", "config", now=T0.isoformat(), session_timeout_s=None)
    control(server, "POST", "reset")  # the configured session id is issued again, now (T0)
    token = _oauth_token(server)
    oauth = Salesforce(instance_url=server.url, session_id=token, version=server.api_version)
    for client in (sf, oauth):
        for name, call in _every_api(server, client).items():
            assert call(), name
    control(server, "PATCH", "config", session_timeout_s=7200, advance_s=7199)
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == ACCOUNTS  # still inside the timeout
    control(server, "PATCH", "config", advance_s=1)
    for client in (sf, oauth):
        for name, call in _every_api(server, client).items():
            with pytest.raises(SalesforceExpiredSession) as err:
                call()
            assert err.value.content == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], name
    fresh = Salesforce(instance_url=server.url, session_id=_oauth_token(server), version=server.api_version)
    assert fresh.query("SELECT COUNT() FROM Account")["totalSize"] == ACCOUNTS  # a new login works
    oauth.session.close()
    fresh.session.close()


def test_expire_sessions_ends_every_session_now(server, sf):
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == ACCOUNTS
    assert control(server, "POST", "expire_sessions")["expired"] >= 1
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT COUNT() FROM Account")


# --- replication (getDeleted / getUpdated) --------------------------------------------------------


def _iso(at: datetime) -> str:
    return at.isoformat()


def _deleted_at(server, sf, at: datetime, n: int = 1) -> list[str]:
    control(server, "PATCH", "config", now=_iso(at))
    return control(server, "POST", "mutate", object="Account", delete=n)["deleted"]


def test_get_deleted_reads_start_and_end_to_the_minute(server, sf):
    gone = _deleted_at(server, sf, T0)  # deleted at 12:00:20
    control(server, "PATCH", "config", now=_iso(T0 + timedelta(minutes=10)))
    listed = sf.Account.deleted(T0 + timedelta(seconds=20), T0 + timedelta(minutes=5, seconds=10))
    assert [d["id"] for d in listed["deletedRecords"]] == gone  # a start of 12:00:40 is read as 12:00:00
    assert listed["latestDateCovered"] == "2026-06-01T12:05:00.000+0000"
    before = sf.Account.deleted(T0 - timedelta(minutes=10), T0 + timedelta(seconds=30))
    assert before["deletedRecords"] == []  # an end of 12:00:50 is read as 12:00:00, before the delete
    assert before["latestDateCovered"] == "2026-06-01T12:00:00.000+0000"
    with pytest.raises(SalesforceMalformedRequest) as err:  # 12:00:25 .. 12:00:55 is no span at all
        sf.Account.deleted(T0 + timedelta(seconds=5), T0 + timedelta(seconds=35))
    assert err.value.content[0]["errorCode"] == "INVALID_REPLICATION_DATE"
    updated = sf.Account.updated(T0 - timedelta(minutes=10), T0 + timedelta(seconds=30))
    assert updated["latestDateCovered"] == "2026-06-01T12:00:00.000+0000"


def test_latest_date_covered_stops_before_transactions_still_open(server, sf):
    control(server, "PATCH", "config", open_transaction_s=300)
    gone = _deleted_at(server, sf, T0)
    control(server, "PATCH", "config", now=_iso(T0 + timedelta(minutes=3)))
    early = sf.Account.deleted(T0 - timedelta(minutes=10), T0 + timedelta(minutes=3))
    assert early["latestDateCovered"] == "2026-06-01T11:58:00.000+0000" and early["deletedRecords"] == []
    control(server, "PATCH", "config", now=_iso(T0 + timedelta(minutes=6)))
    later = sf.Account.deleted(datetime.fromisoformat(early["latestDateCovered"].replace("+0000", "+00:00")),
                               T0 + timedelta(minutes=6))
    assert later["latestDateCovered"] == "2026-06-01T12:01:00.000+0000"  # covered < end: next call starts here
    assert [d["id"] for d in later["deletedRecords"]] == gone


def test_purging_the_delete_log_moves_earliest_date_available(server, sf):
    gone = _deleted_at(server, sf, T0)
    control(server, "PATCH", "config", now=_iso(T0 + timedelta(hours=1)))
    start, end = T0 - timedelta(minutes=5), T0 + timedelta(minutes=30)
    before = sf.Account.deleted(start, end)
    assert [d["id"] for d in before["deletedRecords"]] == gone
    assert before["earliestDateAvailable"] == "2026-05-17T13:00:20.000+0000"  # 15 days back
    purged = control(server, "POST", "purge_deletes", object="Account", before=_iso(T0 + timedelta(minutes=10)))
    assert purged["earliestDateAvailable"] == "2026-06-01T12:10:20.000+0000"
    after = sf.Account.deleted(start, end)
    assert after["earliestDateAvailable"] == purged["earliestDateAvailable"] and after["deletedRecords"] == []


# --- API usage and REST batches -----------------------------------------------------------------


def test_api_usage_is_a_rolling_24_hours_not_a_midnight_reset(server, sf):
    def used() -> int:
        sf.query("SELECT COUNT() FROM Account")
        return sf.api_usage["api-usage"].used

    control(server, "PATCH", "config", now="2026-06-01T23:58:30+00:00", api_usage=0)
    assert [used(), used(), used()] == [1, 2, 3]
    control(server, "PATCH", "config", advance_s=120)  # past midnight UTC: nothing resets
    assert used() == 4
    control(server, "PATCH", "config", advance_s=24 * 3600)  # the 23:58 requests are 24 h old
    assert used() == 2
    assert sf.limits()["DailyApiRequests"]["Remaining"] == 100_000 - 3


def test_rest_batches_can_be_shorter_than_asked(server, sf):
    control(server, "PATCH", "config", short_batches=True)
    first = sf.query("SELECT Id FROM Account ORDER BY Id")
    assert 1000 <= len(first["records"]) < 2000 and not first["done"]
    assert first["totalSize"] == ACCOUNTS
    ids = [r["Id"] for r in sf.query_all_iter("SELECT Id FROM Account ORDER BY Id")]
    assert len(ids) == ACCOUNTS == len(set(ids)) and ids == sorted(ids)
    replay = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert replay["records"][0]["Id"] == ids[len(first["records"])]


def test_config_refuses_bad_values_with_the_field_named(server):
    for body, field in (({"session_timeout_s": -1}, "session_timeout_s"), ({"pk_chunk_size": 0}, "pk_chunk_size"),
                        ({"short_batches": "yes"}, "short_batches"), ({"bulk_order_limit": 1.5}, "bulk_order_limit")):
        answer = requests.patch(f"{server.url}/_sandbox/config", json=body, verify=server.ca_bundle, timeout=10)
        assert answer.status_code == 400 and field in answer.json()[0]["message"]
