"""Our extraction against the emulator's harsher Salesforce: sessions that expire mid-extraction,
Bulk results in no order, short REST batches, minute-grained getDeleted and a purged delete log.

A session that expires is replaced by a new login (here the emulator's OAuth password grant, as the
provider's hook would do with the connection's credentials) and the extraction resumes at the same
nextRecordsUrl or Bulk locator: every record once, no page read twice, one Bulk job.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests
from simple_salesforce import Salesforce

from sf_notion_sync.salesforce import soql
from sf_notion_sync.salesforce.extract import DeletedWindowMissed, deleted_since, extract, updated_ids_since
from sf_notion_sync.salesforce.session import SalesforceSession, SessionExpiredError
from sf_notion_sync.sandbox.salesforce_emulator import SalesforceEmulator
from tests.integration._salesforce import control

ACCOUNTS = 2500
T0 = datetime(2026, 6, 1, 12, 0, 20, tzinfo=UTC)


@pytest.fixture
def server(tmp_path, monkeypatch):
    emu = SalesforceEmulator(state_dir=tmp_path / "sf", accounts=ACCOUNTS, contacts=10, opportunities=10, seed=3,
                             min_job_seconds=0.05, pk_chunk_size=400)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", emu.tls.ca_bundle.as_posix())
    soql.clear_describe_cache()
    with emu.serve() as running:
        yield running
    soql.clear_describe_cache()
    emu.close()


def _login(server) -> Salesforce:
    token = requests.post(f"{server.url}/services/oauth2/token", verify=server.ca_bundle, timeout=10, data={
        "grant_type": "password", "client_id": "sandbox-client", "client_secret": "sandbox-secret",
        "username": "sandbox@example.com", "password": "sandbox"}).json()
    return Salesforce(instance_url=token["instance_url"], session_id=token["access_token"], version=server.api_version)


@pytest.fixture
def session(server):
    made: list[Salesforce] = []

    def login() -> Salesforce:
        made.append(_login(server))
        return made[-1]

    yield SalesforceSession(login(), login, conn_id="salesforce_test")
    for client in made:
        client.session.close()


def _expiring_after(records, n: int, server):
    """Yield from `records`, ending every session on the emulator after the n-th record."""
    for index, record in enumerate(records, 1):
        yield record
        if index == n:
            control(server, "POST", "expire_sessions")


@pytest.mark.parametrize("mode,options", [("rest", {"rest_batch_size": 500}),
                                          ("bulk", {"page_size": 600, "bulk_poll_seconds": 0.01})])
def test_extraction_resumes_across_an_expired_session_reading_every_record_once(server, session, mode, options):
    run = extract(session, "Account", ["Name"], mode=mode, **options)
    ids = [r["Id"] for r in _expiring_after(run, 700, server)]  # mid-page: the next page call meets a 401
    assert len(ids) == ACCOUNTS == len(set(ids)) == run.stats.total
    assert run.stats.pages == -(-ACCOUNTS // (500 if mode == "rest" else 600))  # no page read twice
    assert session.relogins == 1
    assert control(server, "GET", "stats")["bulk_jobs"] == (1 if mode == "bulk" else 0)  # one job, resumed


def test_bulk_job_poll_resumes_across_an_expired_session(server, session):
    control(server, "PATCH", "config", min_job_seconds=0.3)
    run = extract(session, "Account", [], mode="bulk", bulk_poll_seconds=0.01)
    control(server, "POST", "expire_sessions")  # COUNT() and describe are done; the job is created next
    assert len(list(run)) == ACCOUNTS and session.relogins == 1


def test_describe_get_deleted_and_get_updated_log_in_again(server, session):
    control(server, "PATCH", "config", now=T0.isoformat())
    gone = control(server, "POST", "mutate", object="Account", delete=2)["deleted"]
    control(server, "PATCH", "config", now=(T0 + timedelta(minutes=5)).isoformat())
    control(server, "POST", "expire_sessions")
    assert soql.describe_object(session, "Account").field_types["Name"] == "string"
    control(server, "POST", "expire_sessions")
    answer = deleted_since(session, "Account", T0 - timedelta(minutes=1), T0 + timedelta(minutes=5), now=T0)
    assert sorted(i for i, _ in answer.records) == sorted(gone)
    control(server, "POST", "expire_sessions")
    assert updated_ids_since(session, "Account", T0 - timedelta(minutes=1), T0 + timedelta(minutes=5)).records == []
    assert session.relogins == 3


def test_a_session_id_only_connection_stops_with_the_fix(server):
    client = Salesforce(instance_url=server.url, session_id=server.session_id, version=server.api_version)
    session = SalesforceSession(client, None, conn_id="salesforce_default")
    run = extract(session, "Account", [], mode="rest", rest_batch_size=500)
    with pytest.raises(SessionExpiredError) as err:
        list(_expiring_after(run, 10, server))
    message = str(err.value)
    assert "connection 'salesforce_default'" in message and "security_token" in message
    assert server.session_id not in message and "sandbox" not in message.lower()
    client.session.close()


def test_unsorted_bulk_and_short_rest_batches_yield_the_same_records(server, session):
    control(server, "PATCH", "config", short_batches=True)
    control(server, "POST", "mutate", object="Account", update=40)
    bulk = extract(session, "Account", ["Name"], mode="bulk", page_size=700, bulk_poll_seconds=0.01)
    rest = extract(session, "Account", ["Name"], mode="rest")
    bulk_records, rest_records = list(bulk), list(rest)
    assert "ORDER BY" not in bulk.stats.soql and rest.stats.soql.endswith("ORDER BY SystemModstamp, Id")
    assert [r["Id"] for r in bulk_records] != sorted(r["Id"] for r in bulk_records)
    assert sorted(bulk_records, key=lambda r: r["Id"]) == sorted(rest_records, key=lambda r: r["Id"])
    assert rest.stats.pages >= 2 and len(rest_records) == ACCOUNTS  # short pages: followed, not counted


def test_a_limit_is_served_by_rest_in_cursor_order_even_past_the_bulk_threshold(server, session):
    control(server, "PATCH", "config", bulk_order_limit=100)
    run = extract(session, "Account", ["Name"], threshold=100, limit=300)
    records = list(run)
    assert run.stats.mode == "rest" and len(records) == 300
    assert records == sorted(records, key=lambda r: (r["SystemModstamp"], r["Id"]))


def test_deleted_since_within_one_minute_asks_nothing_and_covers_nothing(server, session):
    control(server, "PATCH", "config", now=(T0 + timedelta(minutes=1)).isoformat())
    served = control(server, "GET", "stats")["requests_served"]
    answer = deleted_since(session, "Account", T0, T0 + timedelta(seconds=30), now=T0 + timedelta(minutes=1))
    assert answer.records == [] and answer.latest_date_covered == T0.isoformat()
    assert control(server, "GET", "stats")["requests_served"] == served + 1  # only that stats call


def test_a_purged_delete_log_is_a_missed_window(server, session):
    control(server, "PATCH", "config", now=T0.isoformat())
    control(server, "POST", "mutate", object="Account", delete=1)
    control(server, "PATCH", "config", now=(T0 + timedelta(hours=1)).isoformat())
    control(server, "POST", "purge_deletes", object="Account", before=(T0 + timedelta(minutes=30)).isoformat())
    with pytest.raises(DeletedWindowMissed, match="earliest date available is 2026-06-01T12:30:20"):
        deleted_since(session, "Account", T0 - timedelta(minutes=5), now=T0 + timedelta(hours=1))
    after = deleted_since(session, "Account", T0 + timedelta(minutes=31), now=T0 + timedelta(hours=1))
    assert after.records == [] and after.latest_date_covered == "2026-06-01T13:00:00.000+0000"


def test_the_hooks_client_extracts_and_names_its_connection_when_it_cannot_log_in_again(server, monkeypatch):
    from sf_notion_sync.airflow.hooks import salesforce_client

    monkeypatch.setenv("AIRFLOW_CONN_SALESFORCE_TEST", json.dumps(server.connection))
    session = salesforce_client("salesforce_test")
    assert len(list(extract(session, "Account", [], mode="rest"))) == ACCOUNTS
    control(server, "POST", "expire_sessions")
    with pytest.raises(SessionExpiredError, match="connection 'salesforce_test'"):
        list(extract(session, "Account", [], mode="bulk", bulk_poll_seconds=0.01))
    session.client.session.close()


def test_the_hooks_client_logs_in_again_through_the_provider_and_resumes_bulk(server, monkeypatch):
    from sf_notion_sync.airflow.hooks import salesforce_client

    monkeypatch.setenv("AIRFLOW_CONN_SALESFORCE_TEST", json.dumps(server.relogin_connection))
    session = salesforce_client("salesforce_test")
    run = extract(session, "Account", ["Name"], mode="bulk", page_size=600, bulk_poll_seconds=0.01)
    ids = [r["Id"] for r in _expiring_after(run, 700, server)]
    assert len(ids) == ACCOUNTS == len(set(ids)) and run.stats.pages == 5
    assert session.relogins == 1 and session.client.session_id != server.session_id  # a new OAuth token
    assert control(server, "GET", "stats")["bulk_jobs"] == 1
    session.client.session.close()
