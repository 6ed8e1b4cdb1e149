"""The sync dashboard's JSON API and page, on a temp SQLite state database seeded through the store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points

import pytest
from fastapi.testclient import TestClient

from sf_notion_sync.state.rows import Counters, Failure, UsageDelta
from sf_notion_sync.state.store import StateStore
from sf_notion_sync.ui.app import authorize, create_app

TOKEN = "secret_dashboard_test_token"


def seed(store: StateStore, now: datetime) -> None:
    """Two objects: Account with a finished run and one in flight (1 of 3 batches done), Contact with a
    partial run; open failures of every kind; API usage in two hours, 429s included."""
    start = now - timedelta(hours=2)
    store.start_run("full-1", "sf_notion_full_sync__account", "Account", "full", budget_rps=3.0, now=start)
    store.set_run_total("full-1", 1200)
    store.plan_batches("full-1", "Account", [(0, 599), (600, 1199)])
    for index in (0, 1):
        store.start_batch("full-1", index, now=start)
        store.finish_batch("full-1", index, "done", Counters(processed=600, created=500, updated=60, skipped=40,
                           rate_limited_429s=2, notion_requests=560), seconds=200, now=start)
    store.finish_run("full-1", "success", {"duration_s": 400.0}, records_per_s=3.0, achieved_rps=2.85,
                     now=start + timedelta(seconds=400))

    store.start_run("inc-2", "sf_notion_incremental__account", "Account", "incremental", budget_rps=3.0,
                    now=now - timedelta(seconds=100))
    store.set_run_total("inc-2", 900)
    store.plan_batches("inc-2", "Account", [(0, 299), (300, 599), (600, 899)])
    store.start_batch("inc-2", 0, now=now - timedelta(seconds=100))
    store.finish_batch("inc-2", 0, "done", Counters(processed=300, updated=250, skipped=50, notion_requests=250),
                       seconds=80, now=now - timedelta(seconds=20))
    store.start_batch("inc-2", 1, now=now - timedelta(seconds=20))

    store.start_run("full-3", "sf_notion_full_sync__contact", "Contact", "full", budget_rps=3.0, now=start)
    store.add_run_counters("full-3", Counters(processed=90, created=80, skipped=9, failed=1, notion_requests=72))
    store.add_rate_limits("full-3", {"connection": 2, "workspace": 1})
    store.finish_run("full-3", "partial", {"duration_s": 60.0, "budget_use": 0.4}, records_per_s=1.5,
                     achieved_rps=1.2, now=start)

    def failure(sf_id: str, object_name: str = "Account", **kw) -> Failure:
        return Failure(run_id="full-1", object_name=object_name, sf_id=sf_id, operation="create",
                       error_code=kw.pop("code", "validation_error"), error_message=kw.pop("message", "bad"), **kw)

    store.record_failures([failure("001A00000000001AAA", message="Name is longer than 2000 characters <script>",
                                   fatal=True)], now=now)
    store.record_failures([failure("001A00000000002AAA", code="rate_limited", rate_limited=True,
                                   message="429 from Notion (workspace limit), Retry-After 300 s",
                                   next_retry_at=now + timedelta(minutes=5))], now=now)
    store.record_failures([failure("003A00000000003AAA", object_name="Contact", code="internal_server_error",
                                   message="HTTP 500 from Notion")],
                          retry_delay=lambda attempts: 60.0, now=now - timedelta(minutes=1))
    store.add_api_usage([
        UsageDelta(at=now - timedelta(hours=1), api="notion", endpoint="POST /v1/pages", status=200, requests=500,
                   latency_ms_sum=500 * 240.0, latency_ms_max=900.0),
        UsageDelta(at=now - timedelta(hours=1), api="notion", endpoint="POST /v1/pages", status=429, requests=4,
                   rate_limited=4, errors=4, latency_ms_sum=40.0, latency_ms_max=20.0),
        UsageDelta(at=now, api="notion", endpoint="PATCH /v1/pages/{id}", status=200, requests=250,
                   latency_ms_sum=250 * 200.0, latency_ms_max=400.0),
        UsageDelta(at=now - timedelta(days=3), api="notion", endpoint="POST /v1/pages", status=200, requests=99),
    ])


@pytest.fixture
def state_url(tmp_path):
    return f"sqlite:///{tmp_path / 'state.db'}"


@pytest.fixture
def store(state_url):
    store = StateStore.from_url(state_url)
    yield store
    store.engine.dispose()


def client_for(store_factory) -> TestClient:
    app = create_app(store_factory)
    app.dependency_overrides[authorize] = lambda: None
    return TestClient(app)


@pytest.fixture
def client(store):
    seed(store, datetime.now(UTC))
    return client_for(lambda: store)


def test_overview_shows_runs_progress_failures_and_usage(client):
    data = client.get("/api/overview").json()
    assert data["log_counts"] == {"Dead": 1, "Rate Limited": 1, "Failed": 1}
    account, contact = data["objects"]
    assert (account["object"], contact["object"]) == ("Account", "Contact")
    assert account["log_counts"] == {"Dead": 1, "Rate Limited": 1} and contact["log_counts"] == {"Failed": 1}

    running, finished = account["runs"]  # newest first
    assert running["status"] == "running" and running["progress"] == {
        "batches_done": 1, "batches_running": 1, "batches_planned": 3, "processed": 300, "total": 900}
    assert 2.0 < running["achieved_rps"] < 3.0  # 250 requests since the first batch started, 100 s ago
    assert finished["progress"] is None
    assert (finished["created"], finished["updated"], finished["skipped"], finished["failed"],
            finished["rate_limited_429s"]) == (1000, 120, 80, 0, 4)
    assert finished["duration_s"] == 400.0 and finished["records_per_s"] == 3.0
    assert finished["budget_use"] == pytest.approx(0.95)  # no summary figure: achieved ÷ budget_rps
    (partial,) = contact["runs"]
    assert partial["budget_use"] == 0.4  # finish_run's, over the windows the run spanned
    assert partial["rate_limited_by_reason"] == {"connection": 2, "workspace": 1, "endpoint": 0}

    failures = {f["sf_id"]: f for f in data["latest_failures"]}
    assert failures["001A00000000001AAA"]["status"] == "Dead" and failures["001A00000000001AAA"]["fatal"]
    assert failures["001A00000000002AAA"]["next_retry_at"] and failures["003A00000000003AAA"]["attempts"] == 1
    assert data["latest_failures"][-1]["sf_id"] == "003A00000000003AAA"  # the oldest last

    usage = data["usage"]
    assert len(usage["per_hour"]) == 24 and sum(h["requests"] for h in usage["per_hour"]) == 754
    pages = {e["endpoint"]: e for e in usage["endpoints"]}["POST /v1/pages"]
    assert (pages["requests"], pages["rate_limited"], pages["errors"], pages["latency_ms_max"]) == (504, 4, 4, 900.0)
    assert pages["latency_ms_avg"] == pytest.approx((500 * 240 + 40) / 504, abs=0.1)
    assert [r["endpoint"] for r in usage["rows"]][0] == "PATCH /v1/pages/{id}"  # newest hour first


def test_duplicates_trashed_per_run_and_per_object(store):
    from sf_notion_sync.state.dedupe_log import TrashedDuplicate, log_trashed_duplicates

    now = datetime.now(UTC)
    seed(store, now)
    store.add_run_counters("full-1", Counters(duplicates_trashed=2, notion_requests=14))
    log_trashed_duplicates(store, "full-1", "Account", [TrashedDuplicate("001A00000000009AAA", "p2", "p1"),
                                                        TrashedDuplicate("001A00000000008AAA", "p4", "p3")], now)
    log_trashed_duplicates(store, "cli-dedupe-1", "Account", [TrashedDuplicate("001A00000000007AAA", "p6", "p5")], now)
    client = client_for(lambda: store)
    data = client.get("/api/overview").json()
    account, contact = data["objects"]
    assert (account["duplicates_trashed"], contact["duplicates_trashed"]) == (3, 0)  # the CLI's sweep counts too
    assert [r["duplicates_trashed"] for r in account["runs"]] == [0, 2]
    assert all(f["operation"] != "dedupe" for f in data["latest_failures"])  # closed rows: not failures
    page = client.get("/").text
    assert "Duplicates trashed" in page and "data-duplicates" in page


def test_sync_log_reads_use_the_dashboard_indexes(store):
    """At a million sync_log rows a table scan or a sort of every open row took over 1 s
    (benchmarks/bench_scale.py): the counts read the covering index, the failures the partial one."""
    from sqlalchemy import event

    from sf_notion_sync.ui import queries

    seed(store, datetime.now(UTC))
    statements = []

    def capture(_conn, _cursor, sql, params, *_):
        statements.append((sql, params))

    event.listen(store.engine, "before_cursor_execute", capture)
    queries.runs(store)
    queries.failures(store)
    event.remove(store.engine, "before_cursor_execute", capture)
    with store.engine.connect() as conn:
        plans = {sql: " | ".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params))
                 for sql, params in statements if "FROM sync_log" in sql}
    assert any("COVERING INDEX ix_sync_log_object_name_status_operation" in plan for plan in plans.values()), plans
    assert any("INDEX ix_sync_log_open_updated" in plan and "TEMP B-TREE" not in plan for plan in plans.values()), plans


def test_each_section_has_its_endpoint_with_bounded_parameters(client):
    assert [len(o["runs"]) for o in client.get("/api/runs", params={"per_object": 1}).json()["objects"]] == [1, 1]
    assert len(client.get("/api/failures", params={"limit": 2}).json()["latest_failures"]) == 2
    assert len(client.get("/api/usage", params={"hours": 72}).json()["per_hour"]) == 72
    assert client.get("/api/failures", params={"limit": 10_000}).status_code == 422
    assert client.get("/api/usage", params={"hours": 0}).status_code == 422


def test_page_inlines_the_first_overview_safely(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    inline = page.text.split('<script id="initial-data" type="application/json">')[1].split("</script>")[0]
    assert "<script>" not in inline  # a failure message cannot close the element
    data = json.loads(inline)
    assert data["api"] == "/api/" and data["overview"]["objects"][0]["object"] == "Account"


def test_missing_database_is_a_message_not_an_error_and_is_not_created(tmp_path):
    path = tmp_path / "nowhere.db"
    client = client_for(lambda: StateStore.from_url(f"sqlite:///{path}", migrate=False))
    response = client.get("/api/overview")
    assert response.status_code == 503 and "No sync has run yet" in response.json()["detail"]
    page = client.get("/")
    assert page.status_code == 200 and "No sync has run yet" in page.text
    assert not path.exists()


def test_unmigrated_and_empty_databases(tmp_path):
    from sf_notion_sync.state.db import make_engine

    path = tmp_path / "empty.db"
    make_engine(f"sqlite:///{path}").connect().close()  # exists, no tables
    response = client_for(lambda: StateStore.from_url(f"sqlite:///{path}", migrate=False)).get("/api/runs")
    assert response.status_code == 503 and "not migrated" in response.json()["detail"]

    migrated = client_for(lambda: StateStore.from_url(f"sqlite:///{tmp_path / 'new.db'}")).get("/api/overview")
    assert migrated.status_code == 200
    body = migrated.json()
    assert body["objects"] == [] and body["latest_failures"] == [] and body["usage"]["endpoints"] == []


def test_budget_shows_the_key_fingerprint_never_the_token(client, state_url, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SYNC_STATE_DB", state_url)
    monkeypatch.setenv("AIRFLOW_CONN_NOTION_DEFAULT", json.dumps(
        {"conn_type": "notion", "password": TOKEN, "extra": {"budget_requests": 600, "limiter_backend": "sql"}}))
    response = client.get("/api/budget")
    notion = response.json()["notion"]
    assert notion["key"].startswith("notion:") and notion["rate"] == 10 and not notion["paused"]
    assert (notion["requests"], notion["window_s"], notion["used"], notion["available_tokens"]) == (600, 60, 0, 600)
    assert (notion["effective_requests"], notion["budget_factor"], notion["last_429_reason"]) == (600, 1.0, None)
    assert "salesforce" not in response.json()
    for path in ("/api/budget", "/api/overview", "/"):
        assert TOKEN not in client.get(path).text
    page = client.get("/").text  # what the page shows of it: requests per window, no bucket tokens
    assert "This window" in page and "Effective" in page and "Tokens now" not in page


def test_budget_reports_a_missing_connection(client, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_NOTION_DEFAULT", raising=False)
    response = client.get("/api/budget")
    assert response.status_code == 200 and "notion_default" in response.json()["error"]


def test_requests_without_airflow_credentials_are_refused(store):
    client = TestClient(create_app(lambda: store))  # Airflow's auth dependency left in place
    for path in ("/", "/api/overview", "/api/budget"):
        response = client.get(path)
        assert response.status_code == 401, path


def test_simple_auth_manager_admin_token_is_accepted(store, monkeypatch, tmp_path):
    """The local runtime's "all admins" mode: its middleware adds such a token to every request.

    Airflow's metadata database (its revoked-token list) is not part of this test: no token is revoked."""
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(tmp_path / "passwords.json"))
    from airflow.api_fastapi.app import init_auth_manager, purge_cached_app
    from airflow.api_fastapi.auth.managers.simple.services.login import SimpleAuthManagerLogin
    from airflow.models.revoked_token import RevokedToken

    monkeypatch.setattr(RevokedToken, "is_revoked", classmethod(lambda cls, jti, session=None: False))

    init_auth_manager()
    try:
        token = SimpleAuthManagerLogin.create_token_all_admins()
        client = TestClient(create_app(lambda: store))
        assert client.get("/api/runs", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert client.get("/api/runs").status_code == 401
        assert client.get("/api/runs", headers={"Authorization": "Bearer not-a-jwt"}).status_code == 403
    finally:
        purge_cached_app()


def test_plugin_is_registered_by_entry_point_with_app_and_nav_view():
    from airflow.api_fastapi.core_api.datamodels.plugins import ExternalViewResponse

    (ep,) = [e for e in entry_points(group="airflow.plugins") if e.name == "sf_notion_sync"]
    plugin = ep.load()()
    (app,) = plugin.fastapi_apps
    assert app["url_prefix"] == "/sf-notion-sync" and any(r.path == "/api/overview" for r in app["app"].routes)
    (view,) = plugin.external_views
    view = ExternalViewResponse(**view)
    assert view.destination == "nav" and view.href == "sf-notion-sync/" and view.url_route == "sf-notion-sync"
