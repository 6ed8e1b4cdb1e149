"""Contract: the real simple-salesforce, built by the Airflow provider's SalesforceHook, against the emulator."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import datetime, timedelta
from pathlib import Path

import certifi
import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from sf_notion_sync.sandbox.datagen import is_valid_id
from sf_notion_sync.sandbox.salesforce_emulator import SalesforceEmulator
from tests.integration._salesforce import control

ACCOUNTS = 2300  # more than one 2,000-record REST page


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    emu = SalesforceEmulator(state_dir=tmp_path_factory.mktemp("sf"), accounts=ACCOUNTS, contacts=500,
                             opportunities=400, seed=7, min_job_seconds=0.3)
    with emu.serve() as running:
        yield running
    emu.close()


@pytest.fixture
def hook(server, monkeypatch):
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    conn = {"conn_type": "salesforce", "extra": {"instance_url": server.url, "session_id": server.session_id}}
    monkeypatch.setenv("AIRFLOW_CONN_SALESFORCE_TEST", json.dumps(conn))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_bundle)
    extras = SalesforceHook.get_connection("salesforce_test").extra_dejson
    # The provider (5.15) passes session_id only from its constructor, not from the extras.
    return SalesforceHook(salesforce_conn_id="salesforce_test", session_id=extras["session_id"])


@pytest.fixture
def sf(hook) -> Salesforce:
    return hook.get_conn()


def test_tls_verifies_with_the_bundle_and_fails_without(server, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{server.url}/services/data", timeout=5)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_bundle)
    assert requests.get(f"{server.url}/services/data", timeout=5).status_code == 200
    bundle = Path(server.ca_bundle).read_text()
    assert bundle.count("BEGIN CERTIFICATE") > 50  # certifi's roots are kept, so other HTTPS still works


def test_hook_without_session_id_argument_cannot_build_a_client(server, monkeypatch):
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    conn = {"conn_type": "salesforce", "extra": {"instance_url": server.url, "session_id": server.session_id}}
    monkeypatch.setenv("AIRFLOW_CONN_SALESFORCE_TEST", json.dumps(conn))
    with pytest.raises(TypeError):
        SalesforceHook(salesforce_conn_id="salesforce_test").get_conn()


def test_query_pages_with_next_records_url(sf, hook):
    first = sf.query("SELECT Id, Name FROM Account ORDER BY Id")
    assert first["totalSize"] == ACCOUNTS and not first["done"] and len(first["records"]) == 2000
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/")
    assert first["nextRecordsUrl"].endswith("-2000")
    records = list(sf.query_all_iter("SELECT Id, Name, CreatedDate FROM Account ORDER BY Id"))
    ids = [r["Id"] for r in records]
    assert len(ids) == ACCOUNTS == len(set(ids)) and ids == sorted(ids)
    assert all(is_valid_id(i) and i.startswith("001") for i in ids)
    assert records[0]["CreatedDate"].endswith("+0000")
    assert hook.make_query("SELECT Id FROM Account WHERE Industry = 'banking'")["done"] is True


def test_batch_size_header_is_honoured(sf):
    page = sf.query("SELECT Id FROM Account", headers={"Sforce-Query-Options": "batchSize=300"})
    assert len(page["records"]) == 300 and page["nextRecordsUrl"].endswith("-300")
    more = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True,
                         headers={"Sforce-Query-Options": "batchSize=300"})
    assert more["records"][0]["Id"] != page["records"][-1]["Id"] and len(more["records"]) == 300


def test_where_order_limit_and_count(sf):
    result = sf.query("SELECT Id, Industry, AnnualRevenue FROM Account WHERE (Industry = 'Banking' OR "
                      "Industry IN ('Retail', 'Energy')) AND AnnualRevenue >= 1000 AND IsDeleted = false "
                      "ORDER BY AnnualRevenue DESC, Id LIMIT 25")
    rows = result["records"]
    assert 0 < len(rows) <= 25
    assert all(r["Industry"] in ("Banking", "Retail", "Energy") and r["AnnualRevenue"] >= 1000 for r in rows)
    revenues = [r["AnnualRevenue"] for r in rows]
    assert revenues == sorted(revenues, reverse=True)
    count = sf.query("SELECT COUNT() FROM Account WHERE Industry = null")
    assert count["records"] == [] and 0 < count["totalSize"] < ACCOUNTS
    since = sf.query("SELECT COUNT() FROM Account WHERE SystemModstamp >= 2024-01-01T01:00:00Z")["totalSize"]
    assert 0 < since < ACCOUNTS


def test_query_all_sees_deleted_records_and_get_deleted_lists_them(sf, server):
    before = sf.query("SELECT COUNT() FROM Opportunity")["totalSize"]
    changed = control(server, "POST", "mutate", object="Opportunity", delete=3, update=4)
    assert len(changed["deleted"]) == 3 and len(changed["updated"]) == 4
    assert sf.query("SELECT COUNT() FROM Opportunity")["totalSize"] == before - 3
    deleted = sf.query_all("SELECT Id, IsDeleted FROM Opportunity WHERE IsDeleted = true", include_deleted=True)
    assert set(changed["deleted"]) <= {r["Id"] for r in deleted["records"]}
    assert not sf.query(f"SELECT Id FROM Opportunity WHERE Id = '{changed['deleted'][0]}'")["records"]

    control(server, "PATCH", "config", advance_s=61)  # getDeleted covers whole minutes only: let this one end
    now = datetime.fromisoformat(control(server, "GET", "config")["now"])
    listed = sf.Opportunity.deleted(now - timedelta(hours=1), now + timedelta(minutes=1))
    assert set(changed["deleted"]) <= {d["id"] for d in listed["deletedRecords"]}
    updated = sf.Opportunity.updated(now - timedelta(hours=1), now + timedelta(minutes=1))
    assert set(changed["updated"]) <= set(updated["ids"])
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Opportunity.deleted(now - timedelta(days=16), now)
    assert err.value.content[0]["errorCode"] == "INVALID_REPLICATION_DATE"

    restored = control(server, "POST", "mutate", object="Opportunity", undelete=3)
    assert sorted(restored["undeleted"]) == sorted(changed["deleted"])
    assert sf.query("SELECT COUNT() FROM Opportunity")["totalSize"] == before


def test_updates_advance_system_modstamp_with_shared_timestamps(sf, server):
    changed = control(server, "POST", "mutate", object="Contact", update=4, same_timestamp=True)
    ids = "', '".join(changed["updated"])
    rows = sf.query(f"SELECT Id, SystemModstamp FROM Contact WHERE Id IN ('{ids}')")["records"]
    stamps = {r["SystemModstamp"] for r in rows}
    assert len(rows) == 4 and len(stamps) == 1 and min(stamps) > "2025"
    newest = sf.query("SELECT Id FROM Contact ORDER BY SystemModstamp DESC, Id DESC LIMIT 4")["records"]
    assert {r["Id"] for r in newest} == set(changed["updated"])


def test_describe_limits_and_limit_header(sf, hook):
    fields = {f["name"]: f for f in hook.describe_object("Account")["fields"]}
    assert fields["Industry"]["type"] == "picklist" and fields["Industry"]["picklistValues"]
    assert fields["Regions__c"]["type"] == "multipicklist" and fields["Regions__c"]["custom"] is True
    assert fields["Name"]["nillable"] is False and fields["Name"]["length"] == 255
    assert "SystemModstamp" in hook.get_available_fields("Contact")
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == 100_000
    used = sf.api_usage["api-usage"].used
    assert used > 0 and limits["DailyApiRequests"]["Remaining"] == 100_000 - used
    sf.query("SELECT COUNT() FROM Account")
    assert sf.api_usage["api-usage"].used == used + 1


def test_bulk2_query_pages_by_locator(sf, server):
    pages = list(sf.bulk2.Account.query("SELECT Id, Name, Description, Regions__c, CreatedDate, Is_Strategic__c "
                                        "FROM Account ORDER BY Id", max_records=1000, wait=0.05))
    rows = [row for page in pages for row in csv.DictReader(io.StringIO(page))]
    assert len(pages) == 3 and len(rows) == ACCOUNTS
    assert [r["Id"] for r in rows] == sorted(r["Id"] for r in rows)
    assert pages[0].startswith('"Id","Name","Description"')
    assert any(len(r["Description"]) > 2000 for r in rows) and any("\n" in r["Name"] for r in rows)
    assert any(len(r["Regions__c"].split(";")) > 100 for r in rows)
    assert rows[0]["CreatedDate"].endswith("Z") and rows[0]["Is_Strategic__c"] in ("true", "false")


def test_bulk2_job_lifecycle_and_query_all(sf, server):
    headers = {"Authorization": f"Bearer {server.session_id}", "Content-Type": "application/json"}
    base = f"{server.url}/services/data/v59.0/jobs/query"
    job = requests.post(base, headers=headers, verify=server.ca_bundle, timeout=10,
                        json={"operation": "queryAll", "query": "SELECT Id, IsDeleted FROM Contact"}).json()
    assert job["state"] in ("UploadComplete", "InProgress") and job["id"].startswith("750")
    for _ in range(200):
        state = requests.get(f"{base}/{job['id']}", headers=headers, verify=server.ca_bundle, timeout=10).json()
        if state["state"] == "JobComplete":
            break
        time.sleep(0.02)
    assert state["state"] == "JobComplete" and state["numberRecordsProcessed"] == 500
    first = requests.get(f"{base}/{job['id']}/results", params={"maxRecords": 400}, headers=headers,
                         verify=server.ca_bundle, timeout=10)
    assert first.headers["Sforce-NumberOfRecords"] == "400" and first.headers["Sforce-Locator"] not in ("", "null")
    assert first.headers["Sforce-Limit-Info"].startswith("api-usage=")
    last = requests.get(f"{base}/{job['id']}/results", headers=headers, verify=server.ca_bundle, timeout=10,
                        params={"maxRecords": 400, "locator": first.headers["Sforce-Locator"]})
    assert last.headers["Sforce-Locator"] == "null" and last.headers["Sforce-NumberOfRecords"] == "100"
    assert len(list(csv.DictReader(io.StringIO(last.text)))) == 100


def test_daily_limit_gives_request_limit_exceeded(sf, server):
    used = control(server, "GET", "config")["api_usage"]
    control(server, "PATCH", "config", daily_limit=used + 1)
    try:
        sf.query("SELECT COUNT() FROM Account")
        with pytest.raises(SalesforceRefusedRequest) as err:
            sf.query("SELECT COUNT() FROM Account")
        assert err.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
        assert control(server, "GET", "stats")["api_usage"] == used + 1  # a refused request is not counted
    finally:
        control(server, "PATCH", "config", daily_limit=100_000)


def test_errors_in_salesforce_shape(sf, server, monkeypatch):
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Id FROMM Account")
    assert err.value.content[0]["errorCode"] == "MALFORMED_QUERY"
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query("SELECT Id, Foo FROM Account")
    assert err.value.content[0]["errorCode"] == "INVALID_FIELD"
    assert "No such column 'Foo' on entity 'Account'" in err.value.content[0]["message"]
    with pytest.raises(SalesforceResourceNotFound) as err:
        sf.Widget.describe()
    assert err.value.content[0]["errorCode"] == "NOT_FOUND"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_bundle)
    bad = Salesforce(instance_url=server.url, session_id="wrong")
    with pytest.raises(SalesforceExpiredSession) as err:
        bad.query("SELECT Id FROM Account")
    assert err.value.content[0]["errorCode"] == "INVALID_SESSION_ID"


def test_oauth_token_endpoint_flows(server, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_bundle)
    url = f"{server.url}/services/oauth2/token"
    ok = requests.post(url, verify=server.ca_bundle, timeout=10, data={
        "grant_type": "password", "client_id": "sandbox-client", "client_secret": "sandbox-secret",
        "username": "sandbox@example.com", "password": "sandbox"}).json()
    assert ok["instance_url"] == server.url and ok["token_type"] == "Bearer"
    sf = Salesforce(instance_url=ok["instance_url"], session_id=ok["access_token"])
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == ACCOUNTS
    cc = requests.post(url, verify=server.ca_bundle, timeout=10, data={
        "grant_type": "client_credentials", "client_id": "sandbox-client", "client_secret": "sandbox-secret"})
    assert cc.status_code == 200 and cc.json()["access_token"] not in (ok["access_token"], server.session_id)
    denied = requests.post(url, verify=server.ca_bundle, timeout=10, data={
        "grant_type": "password", "client_id": "sandbox-client", "client_secret": "sandbox-secret",
        "username": "sandbox@example.com", "password": "wrong"})
    assert denied.status_code == 400 and denied.json()["error"] == "invalid_grant"
