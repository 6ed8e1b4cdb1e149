"""The sync dashboard's JSON API and page, on a temp SQLite state database seeded through the store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points

import pytest
from fastapi.testclient import TestClient

from sf_notion_sync.config import load_config
from sf_notion_sync.state.rows import Counters, Failure, UsageDelta
from sf_notion_sync.state.run_metrics import LossyChange, MinuteDelta, PreflightSeen
from sf_notion_sync.state.store import StateStore
from sf_notion_sync.ui.app import authorize, create_app

TOKEN = "secret_dashboard_test_token"
BUDGET_KEY = "notion:0123456789abcdef"
PREFLIGHT_SEEN = {"Name": "title", "Industry": "rich_text", "Salesforce Id": "rich_text", "Rating": "number"}
PREFLIGHT_PROBLEM = "property 'Industry' is rich_text, the mapping needs select"
CONFIG = """
defaults:
  batch_size: {min: 20, max: 500}
  alerts: {emails: [ops@example.com], thresholds: {record_failures: 4}}
objects:
  Account:
    database_id: "00000000000000000000000000000001"
    salesforce_id_property: Salesforce Id
    delete_policy: trash
    schedules: {incremental: "*/10 * * * *"}
    properties:
      Name: {field: Name, type: title}
      Industry: {field: Industry, type: select}
      Website: {field: Website, type: url}
  Contact:
    enabled: false
    database_id: "00000000000000000000000000000002"
    salesforce_id_property: Salesforce Id
    properties:
      Name: {field: Name, type: title}
"""


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
    for ago, records, limited in ((80, 100, 0), (40, 140, 2), (0, 120, 0)):  # 360 done in 100 s: 3.6 records/s
        store.add_run_minute(MinuteDelta("inc-2", "Account", now - timedelta(seconds=ago), records, records + limited,
                                         limited, 3.0, BUDGET_KEY, None))
    store.record_lossy_changes(
        [LossyChange("inc-2", "Account", f"001A0000000000{i}AAA", "Description", "text_truncated",
                     "text of 250000 characters truncated to 200000 (limit 100 x 2000)") for i in range(4)]
        + [LossyChange("inc-2", "Account", "001A00000000009AAA", "Tags", "options_capped",
                       "130 options capped to 100 (limit 100 items)")], now=now)
    store.record_preflight(PreflightSeen("Account", "ds-account", PREFLIGHT_SEEN, [PREFLIGHT_PROBLEM], now))

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


def client_for(store_factory, config_path=None) -> TestClient:
    app = create_app(store_factory, **({"config_loader": lambda: load_config(config_path)} if config_path else {}))
    app.dependency_overrides[authorize] = lambda: None
    return TestClient(app)


@pytest.fixture
def config_path(tmp_path):
    path = tmp_path / "sync.yaml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def client(store, config_path):
    seed(store, datetime.now(UTC))
    return client_for(lambda: store, config_path)


def test_overview_shows_runs_progress_failures_and_usage(client):
    data = client.get("/api/overview").json()
    assert data["log_counts"] == {"Dead": 1, "Rate Limited": 1, "Failed": 1}
    account, contact = data["objects"]
    assert (account["object"], contact["object"]) == ("Account", "Contact")
    assert account["log_counts"] == {"Dead": 1, "Rate Limited": 1} and contact["log_counts"] == {"Failed": 1}

    running, finished = account["runs"]  # newest first
    progress = running["progress"]
    assert running["status"] == "running" and {k: progress[k] for k in (
        "batches_done", "batches_running", "batches_planned", "processed", "total", "eta_from")} == {
        "batches_done": 1, "batches_running": 1, "batches_planned": 3, "processed": 360, "total": 900,
        "eta_from": "rate"}  # the running batch's reports count before it finishes
    assert progress["records_per_s"] == pytest.approx(3.6, rel=0.05)  # 360 records in the 100 s it has run
    assert progress["eta_s"] == pytest.approx(540 / 3.6, rel=0.05)
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


def test_budget_shows_each_connection_of_an_object_and_their_workspace(client, state_url, monkeypatch, tmp_path):
    import yaml

    from sf_notion_sync.config import config_path

    data = yaml.safe_load(config_path().read_text())
    data["objects"]["Contact"]["notion"] = {"connections": ["notion_default", "notion_bulk_2"],
                                            "workspace_budget": {"requests": 900}}
    (tmp_path / "sync.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv("SF_NOTION_SYNC_CONFIG", str(tmp_path / "sync.yaml"))
    monkeypatch.setenv("AIRFLOW_CONN_SYNC_STATE_DB", state_url)
    for name, token in (("DEFAULT", TOKEN), ("BULK_2", TOKEN + "-2")):  # the workspace given: no users/me asked
        monkeypatch.setenv(f"AIRFLOW_CONN_NOTION_{name}", json.dumps(
            {"conn_type": "notion", "password": token, "extra": {"budget_requests": 600, "workspace": "acme"}}))
    body = client.get("/api/budget").json()
    assert [c["connection"] for c in body["notion_connections"]] == ["notion_default", "notion_bulk_2"]
    assert body["workspace"]["limit"] == 900 and body["workspace"]["source"] == "configured"
    assert TOKEN not in client.get("/api/budget").text


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


def test_each_run_has_its_chart_with_429s_and_the_budget(client):
    account = client.get("/api/overview").json()["objects"][0]
    running, finished = account["runs"]
    chart = running["chart"]
    assert 1 <= len(chart) <= 3  # the 100 s of reports fall in two or three minutes
    assert sum(p["records_per_s"] for p in chart) * 60 == pytest.approx(360, abs=0.5)
    assert sum(p["requests_per_s"] for p in chart) * 60 == pytest.approx(362, abs=0.5)
    assert sum(p["rate_limited_429s"] for p in chart) == 2 and {p["budget_rps"] for p in chart} == {3.0}
    assert finished["chart"] == []  # no per-minute reports for it


def test_a_long_run_is_folded_into_a_bounded_chart(store):
    from sf_notion_sync.ui import run_view

    start = datetime(2026, 11, 1, tzinfo=UTC)
    store.start_run("long", "d", "Account", "full", budget_rps=3.0, now=start)
    for minute in range(0, 3 * 24 * 60, 7):  # three days, a report every 7 minutes
        store.add_run_minute(MinuteDelta("long", "Account", start + timedelta(minutes=minute), 60, 60, minute % 2))
    run = store.get_run("long")
    (chart,) = run_view.charts(store, [run], start + timedelta(days=3)).values()
    assert len(chart) <= run_view.CHART_POINTS
    assert sum(p["rate_limited_429s"] for p in chart) == sum(m % 2 for m in range(0, 3 * 24 * 60, 7))
    step_s = (datetime.fromisoformat(chart[1]["t"]) - datetime.fromisoformat(chart[0]["t"])).total_seconds()
    assert sum(p["records_per_s"] * step_s for p in chart) == pytest.approx(60 * len(range(0, 3 * 24 * 60, 7)), rel=0.01)


def test_eta_falls_back_to_the_budget_before_any_report(store):
    from sf_notion_sync.sync.progress import run_pace

    now = datetime.now(UTC)
    store.start_run("fresh", "d", "Account", "full", budget_rps=3.0, now=now - timedelta(seconds=5))
    store.set_run_total("fresh", 600)
    live = run_pace(store, store.get_run("fresh"), now)
    assert (live.done, live.records_per_s, live.eta_s, live.eta_from) == (0, None, 200.0, "budget")


def test_budget_use_per_connection_and_shared_workspace(store):
    from sf_notion_sync.ui import run_view

    hour = datetime(2026, 12, 1, 9, tzinfo=UTC)
    for run, key in (("a", "notion:aaa"), ("b", "notion:bbb")):
        store.add_run_minute(MinuteDelta(run, "Account", hour + timedelta(minutes=5), 5400, 5400, 3, 3.0, key,
                                         "notion-workspace:acme"))
    use = run_view.budget_use(store, hour + timedelta(hours=1, minutes=30), hours=2)
    by_key = {c["key"]: c for c in use["connections"]}
    assert set(by_key) == {"notion:aaa", "notion:bbb", "workspace notion-workspace:acme"}
    first, current = by_key["notion:aaa"]["per_hour"]
    assert (first["requests"], first["rate_limited"], first["use"]) == (5400, 3, 0.5)  # of 3/s x 3600 s
    assert (current["requests"], current["use"]) == (0, 0.0)
    assert by_key["workspace notion-workspace:acme"]["per_hour"][0]["requests"] == 10_800
    assert by_key["workspace notion-workspace:acme"]["workspace"]


def test_lossy_changes_of_the_latest_run_per_property(client):
    account, contact = client.get("/api/overview").json()["objects"]
    lossy = account["lossy"]
    assert lossy["run_id"] == "inc-2"
    truncated, capped = lossy["changes"]
    assert (truncated["property"], truncated["kind"], truncated["records"], len(truncated["examples"])) == (
        "Description", "text_truncated", 4, 3)
    assert (capped["property"], capped["records"], capped["examples"]) == ("Tags", 1, ["001A00000000009AAA"])
    assert contact["lossy"] == {"run_id": "full-3", "changes": []}
    page = client.get("/").text
    assert "Lossy changes in the latest run" in page and 'href="${esc(INIT.root)}config/' in page


def test_configuration_beside_the_preflight_schema_with_mismatches(client):
    data = client.get("/api/config/Account").json()
    assert (data["enabled"], data["delete_policy"], data["schedules"]) == (
        True, "trash", {"full": None, "incremental": "*/10 * * * *"})
    assert data["batch_size"] == {"min": 20, "max": 500} and data["retry"]["max_attempts"] >= 1
    assert data["alerts"]["emails"] == 1 and data["alerts"]["thresholds"]["record_failures"] == 4
    assert "ops@example.com" not in json.dumps(data)  # addresses are personal data: counted, not shown
    match = {m["property"]: (m["type"], m["notion_type"], m["match"]) for m in data["mapping"]}
    assert match == {"Name": ("title", "title", "ok"), "Industry": ("select", "rich_text", "type"),
                     "Website": ("url", None, "missing"), "Salesforce Id": ("rich_text", "rich_text", "ok"),
                     "Rating": (None, "number", "unmapped")}
    assert data["mismatches"] == 2 and data["preflight"]["problems"] == [PREFLIGHT_PROBLEM]
    unchecked = client.get("/api/config/Contact").json()
    assert not unchecked["enabled"] and unchecked["preflight"] is None
    assert {m["match"] for m in unchecked["mapping"]} == {"unchecked"}
    page = client.get("/config/Account")
    assert page.status_code == 200 and "Property mapping and the Notion data source" in page.text
    assert '"api": "/api/"' in page.text and "__STYLE__" not in page.text and "__COMMON_JS__" not in page.text


def test_configuration_of_an_unknown_object_or_a_broken_file(client, config_path):
    missing = client.get("/api/config/Lead")
    assert missing.status_code == 404 and "configured: Account, Contact" in missing.json()["detail"]
    assert "configured: Account, Contact" in client.get("/config/Lead").text
    config_path.write_text("objects: [not, a, mapping]")
    broken = client.get("/api/config/Account")
    assert broken.status_code == 503 and "sync.yaml" in broken.json()["detail"]
