"""The Salesforce client from the provider's hook: a session that logs in again only when the connection can."""

from __future__ import annotations

import json

import pytest
from airflow.models.connection import Connection
from simple_salesforce.exceptions import SalesforceExpiredSession

from sf_notion_sync.airflow import hooks
from sf_notion_sync.salesforce.session import MAX_RELOGINS, SalesforceSession, SessionExpiredError


def conn(login=None, password=None, **extra) -> Connection:
    return Connection(conn_id="salesforce_test", conn_type="salesforce", login=login, password=password,
                      extra=json.dumps(extra))


@pytest.mark.parametrize("connection,can", [
    (conn(instance_url="https://x.my.salesforce.com", session_id="00D!abc"), False),
    (conn("u@example.com", "pw"), False),  # no security token: simple-salesforce cannot log in with it
    (conn("u@example.com", "pw", security_token="tok"), True),
    (conn("u@example.com", "pw", extra__salesforce__security_token="tok"), True),
    (conn("u@example.com", "pw", organization_id="00D"), True),
    (conn("u@example.com", "pw", consumer_key="ck", consumer_secret="cs"), True),
    (conn("u@example.com", consumer_key="ck", private_key="-----BEGIN"), True),
    (conn(consumer_key="ck", consumer_secret="cs", domain="acme.my"), True),
    (conn(consumer_key="ck", consumer_secret="cs"), False),
])
def test_which_connections_can_log_in_again(connection, can):
    assert hooks.salesforce_can_log_in(connection) is can


class FakeClient:
    def __init__(self, name):
        self.name = name


def test_salesforce_client_logs_in_again_through_a_fresh_hook(monkeypatch):
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    built: list[str | None] = []

    def get_conn(self):
        built.append(self.session_id)
        return FakeClient(f"client-{len(built)}")

    monkeypatch.setenv("AIRFLOW_CONN_SALESFORCE_TEST", json.dumps(
        {"conn_type": "salesforce", "login": "u@example.com", "password": "pw",
         "extra": {"security_token": "tok", "session_id": "00D!first"}}))
    monkeypatch.setattr(SalesforceHook, "get_conn", get_conn)
    session = hooks.salesforce_client("salesforce_test")
    assert session.client.name == "client-1" and built == ["00D!first"]
    calls = []

    def query(client):
        calls.append(client.name)
        if client.name == "client-1":
            raise SalesforceExpiredSession("url", 401, "query", [{"errorCode": "INVALID_SESSION_ID"}])
        return "ok"

    assert session.call(query) == "ok"
    assert calls == ["client-1", "client-2"] and built == ["00D!first", None] and session.relogins == 1


def test_session_id_only_connection_names_the_connection_and_the_fix(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SALESFORCE_TEST", json.dumps(
        {"conn_type": "salesforce", "extra": {"instance_url": "https://x.my.salesforce.com",
                                              "session_id": "00D!secret-session"}}))
    session = hooks.salesforce_client("salesforce_test")

    def expired(client):
        raise SalesforceExpiredSession("url", 401, "query", [{"errorCode": "INVALID_SESSION_ID"}])

    with pytest.raises(SessionExpiredError) as err:
        session.call(expired)
    assert "connection 'salesforce_test'" in str(err.value) and "security_token" in str(err.value)
    assert "secret-session" not in str(err.value)


def test_a_session_refused_right_after_each_login_is_not_retried_forever():
    logins = []
    session = SalesforceSession(FakeClient("first"), lambda: logins.append(1) or FakeClient("again"))

    def refused(client):
        raise SalesforceExpiredSession("url", 401, "query", [{"errorCode": "INVALID_SESSION_ID"}])

    with pytest.raises(SalesforceExpiredSession):
        session.call(refused)
    assert len(logins) == MAX_RELOGINS
