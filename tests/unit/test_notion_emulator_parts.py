"""Unit tests of the Notion emulator's parts that need no server: budgets, config, faults, versions,
property items, filter nesting and the query lag."""

from __future__ import annotations

import json
import re
import statistics

import pytest

from sf_notion_sync.sandbox.notion_emulator import property_items, versions
from sf_notion_sync.sandbox.notion_emulator.budgets import retry_after
from sf_notion_sync.sandbox.notion_emulator.config import EmulatorConfig, with_legacy_mode
from sf_notion_sync.sandbox.notion_emulator.endpoints import endpoint_key
from sf_notion_sync.sandbox.notion_emulator.errors import NotionError
from sf_notion_sync.sandbox.notion_emulator.faults import FaultInjector, parse_script
from sf_notion_sync.sandbox.notion_emulator.query import compile_filter
from sf_notion_sync.sandbox.notion_emulator.ratelimit import (
    CONNECTION_REASON,
    ENDPOINT_REASON,
    WORKSPACE_REASON,
    RateLimiter,
)
from sf_notion_sync.sandbox.notion_emulator.store import Store
from sf_notion_sync.sandbox.notion_emulator.workspace import Workspace


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


QUERY = "POST /v1/data_sources/{id}/query"
ME = "GET /v1/users/me"


def refusal(limiter: RateLimiter, token: str = "tok", endpoint: str = ME) -> NotionError:
    with pytest.raises(NotionError) as err:
        limiter.admit(token, endpoint)
    assert err.value.status == 429 and err.value.code == "rate_limited"
    assert err.value.additional_data["retry_after"] == int(err.value.headers["Retry-After"])
    return err.value


def test_window_budget_is_spendable_in_one_burst_until_the_aligned_reset():
    clock = FakeClock()  # 1000 s: the 60 s window started at 960 and resets at 1020
    limiter = RateLimiter(EmulatorConfig(window_requests=180), clock)
    for _ in range(180):
        limiter.admit("tok", ME)
    for _ in range(20):  # hammering while refused spends nothing
        error = refusal(limiter)
    assert error.headers["Retry-After"] == "20"
    assert error.additional_data == {"rate_limit_reason": CONNECTION_REASON, "retry_after": 20}
    limiter.admit("other", ME)  # budgets are per token
    clock.now = 1019.2
    assert refusal(limiter).headers["Retry-After"] == "1"  # whole seconds, at least 1
    clock.now = 1020
    for _ in range(180):
        limiter.admit("tok", ME)
    assert refusal(limiter).headers["Retry-After"] == "60"


def test_first_request_windows_start_at_the_tokens_first_request():
    clock = FakeClock()
    clock.now = 1000.5
    limiter = RateLimiter(EmulatorConfig(window_requests=2, window_s=10, window_alignment="first_request"), clock)
    limiter.admit("tok", ME)
    clock.now = 1003
    limiter.admit("tok", ME)
    assert refusal(limiter).headers["Retry-After"] == "8"  # 1010.5 - 1003
    clock.now = 1010.5
    limiter.admit("tok", ME)
    limiter.admit("tok", ME)
    assert refusal(limiter).headers["Retry-After"] == "10"


def test_workspace_budget_is_shared_and_can_stay_closed_past_its_reset():
    clock = FakeClock()
    config = EmulatorConfig(window_requests=3, workspace_window_requests=4, workspace_retry_after_s=120)
    limiter = RateLimiter(config, clock)
    for token in ("a", "a", "b", "c"):
        limiter.admit(token, ME)
    error = refusal(limiter, "d")
    assert error.additional_data == {"rate_limit_reason": WORKSPACE_REASON, "retry_after": 120}
    clock.now = 1020  # the workspace window reset, but the workspace stays closed for its Retry-After
    assert refusal(limiter, "a").additional_data == {"rate_limit_reason": WORKSPACE_REASON, "retry_after": 100}
    clock.now = 1120
    for _ in range(3):  # no refusal spent any of a's own budget
        limiter.admit("a", ME)
    assert refusal(limiter, "a").additional_data["rate_limit_reason"] == CONNECTION_REASON


def test_the_refusal_names_the_budget_that_frees_last():
    clock = FakeClock()
    limiter = RateLimiter(EmulatorConfig(window_requests=1, workspace_window_requests=1, workspace_window_s=600), clock)
    limiter.admit("a", ME)
    error = refusal(limiter, "a")  # both are spent: the workspace resets at 1200, the token at 1020
    assert error.additional_data == {"rate_limit_reason": WORKSPACE_REASON, "retry_after": 200}


def test_endpoint_limits_hold_per_token_and_endpoint_only():
    clock = FakeClock()
    limiter = RateLimiter(EmulatorConfig(endpoint_limits={QUERY: {"requests": 2, "window_s": 10}}), clock)
    limiter.admit("tok", QUERY)
    limiter.admit("tok", QUERY)
    error = refusal(limiter, endpoint=QUERY)
    assert error.additional_data == {"rate_limit_reason": ENDPOINT_REASON, "retry_after": 10}
    limiter.admit("tok", ME)
    limiter.admit("other", QUERY)


def test_blocked_tokens_are_refused_whatever_their_budget():
    config = EmulatorConfig(blocked_tokens=["0123456789ab"])
    limiter = RateLimiter(config, FakeClock())
    error = refusal(limiter, "0123456789ab")
    assert error.additional_data["rate_limit_reason"] == "public_api_request_blocked"
    assert "Retrying will not help" in error.message
    limiter.admit("fedcba987654", ME)
    config.patch({"blocked_tokens": []})
    limiter.admit("0123456789ab", ME)


def test_gcra_mode_bursts_then_paces_and_refusals_cost_nothing():
    clock = FakeClock()
    limiter = RateLimiter(EmulatorConfig(limit_mode="gcra", rate=3.0, burst=5), clock)
    for _ in range(5):
        limiter.admit("tok", ME)
    for _ in range(20):  # hammering while refused must not push the next slot further out
        error = refusal(limiter)
    assert error.additional_data == {"rate_limit_reason": CONNECTION_REASON, "retry_after": 1}
    clock.now += 1 / 3
    limiter.admit("tok", ME)  # one emission interval later, exactly one more is admitted
    refusal(limiter)
    limiter.admit("other", ME)  # budgets are per token


def test_gcra_retry_after_is_whole_seconds_until_a_slot_frees():
    clock = FakeClock()
    limiter = RateLimiter(EmulatorConfig(limit_mode="gcra", rate=0.1, burst=1), clock)
    limiter.admit("tok", ME)
    assert refusal(limiter).headers["Retry-After"] == "10"
    clock.now += 9.5
    assert refusal(limiter).headers["Retry-After"] == "1"


def test_gcra_workspace_budget_is_shared_and_a_refusal_charges_no_token():
    clock = FakeClock()
    config = EmulatorConfig(limit_mode="gcra", rate=10, burst=10, workspace_rate=1, workspace_burst=2)
    limiter = RateLimiter(config, clock)
    limiter.admit("a", ME)
    limiter.admit("b", ME)
    assert refusal(limiter, "c").additional_data["rate_limit_reason"] == WORKSPACE_REASON
    clock.now += 1
    limiter.admit("c", ME)


def test_endpoint_keys_template_the_ids_of_the_route():
    args = {"page_id": "6f1c0d1e-0000-4000-8000-000000000000", "property_id": "title"}
    path = f"/v1/pages/{args['page_id']}/properties/title"
    assert endpoint_key("GET", path, args) == "GET /v1/pages/{id}/properties/{id}"
    assert endpoint_key("POST", "/v1/pages/", {}) == "POST /v1/pages"


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"limit_mode": "leaky"}, "limit_mode must be one of window, gcra"),
        ({"window_alignment": "noon"}, "window_alignment must be one of epoch, first_request"),
        ({"window_requests": 2.5}, "window_requests must be a whole number"),
        ({"window_requests": -1}, "window_requests must be a number >= 0"),
        ({"window_s": 0}, "window_s must be a number > 0"),
        ({"workspace_window_s": "60"}, "workspace_window_s must be a number"),
        ({"workspace_retry_after_s": 1.5}, "workspace_retry_after_s must be a whole number"),
        ({"endpoint_limits": []}, "endpoint_limits must be an object"),
        ({"endpoint_limits": {"POST /v1/search": {"requests": 1}}}, "is not an endpoint"),
        ({"endpoint_limits": {"GET /v1/pages/{id}/properties/title": {"requests": 1}}}, "is not an endpoint"),
        ({"endpoint_limits": {"POST /v1/pages/": {"requests": 1}}}, "is not an endpoint"),
        ({"endpoint_limits": {"post /v1/pages": {"requests": 1}}}, "is not an endpoint"),
        ({"endpoint_limits": {QUERY: {"requests": 0}}}, "requests must be >= 1"),
        ({"endpoint_limits": {QUERY: {"requests": 1, "window": 5}}}, "with requests and window_s"),
        ({"endpoint_limits": {QUERY: {"requests": 1, "window_s": 0}}}, "window_s must be a number > 0"),
        ({"blocked_tokens": "0123456789ab"}, "blocked_tokens must be a list of token fingerprints"),
        ({"blocked_tokens": ["secret_token"]}, "blocked_tokens must be a list of token fingerprints"),
    ],
)
def test_limit_keys_are_validated_all_or_nothing(changes, fragment):
    config = EmulatorConfig()
    with pytest.raises(ValueError, match=re.escape(fragment)):
        config.patch({"window_requests": 7, **changes})
    assert config.window_requests == 180
    with pytest.raises(ValueError, match=re.escape(fragment)):
        EmulatorConfig(**changes)


def test_limit_defaults_and_the_legacy_keys():
    config = EmulatorConfig()
    assert (config.limit_mode, config.window_requests, config.window_s, config.window_alignment) == (
        "window", 180, 60.0, "epoch")
    assert (config.workspace_window_requests, config.endpoint_limits, config.blocked_tokens) == (0, {}, [])
    config.patch({"endpoint_limits": {QUERY: {"requests": 3}}, "blocked_tokens": ["0123456789ab"] * 2})
    assert config.endpoint_limits == {QUERY: {"requests": 3, "window_s": 60.0}}
    assert config.blocked_tokens == ["0123456789ab"]
    assert with_legacy_mode({"rate": 0}) == {"rate": 0, "limit_mode": "gcra"}
    assert with_legacy_mode({"rate": 5, "limit_mode": "window"})["limit_mode"] == "window"
    assert with_legacy_mode({"workspace_rate": 1}) == {"workspace_rate": 1}


def test_retry_after_rounds_up_to_whole_seconds_of_at_least_one():
    assert [retry_after(w) for w in (0.001, 1.0, 1.0000000001, 1.2, 59.99)] == [1, 1, 1, 2, 60]


def test_config_patch_is_all_or_nothing():
    config = EmulatorConfig()
    assert config.latency_p95_ms == 750 and config.rate == 3 and config.burst == 10
    with pytest.raises(ValueError, match="faults.500"):
        config.patch({"rate": 9, "faults": {"500": 1.5}})
    assert config.rate == 3
    with pytest.raises(ValueError, match="more than 1"):
        config.patch({"faults": {"500": 0.6, "503": 0.6}})
    with pytest.raises(ValueError, match="unknown fault"):
        config.patch({"faults": {"418": 0.1}})
    config.patch({"faults": {"drop": 0.5}, "burst": 4})
    assert config.faults["drop"] == 0.5 and config.burst == 4


def test_fault_shares_are_drawn_in_proportion_and_lost_create_only_hits_creates():
    injector = FaultInjector(EmulatorConfig(faults={"503": 0.25, "lost_create": 0.25}), seed=7)
    draws = [injector.random_fault("POST", "/v1/pages") for _ in range(4000)]
    share_503 = sum(1 for d in draws if d and d.kind == "503") / len(draws)
    share_lost = sum(1 for d in draws if d and d.kind == "lost_create") / len(draws)
    assert 0.2 < share_503 < 0.3 and 0.2 < share_lost < 0.3
    assert all(
        d is None or d.kind != "lost_create"
        for d in (injector.random_fault("GET", "/v1/users/me") for _ in range(500))
    )


def test_latency_is_lognormal_around_the_median_and_zero_disables_it():
    injector = FaultInjector(EmulatorConfig(latency_median_ms=200, latency_p95_ms=600), seed=1)
    samples = [injector.latency_seconds() for _ in range(4000)]
    assert 0.18 < statistics.median(samples) < 0.22
    assert 0.5 < statistics.quantiles(samples, n=20)[18] < 0.7
    assert FaultInjector(EmulatorConfig(latency_median_ms=0)).latency_seconds() == 0.0


def test_script_entries_are_validated_and_consumed_in_order():
    injector = FaultInjector(EmulatorConfig())
    injector.add_script(
        parse_script([{"status": 429, "retry_after": 30, "path_prefix": "/v1/pages", "count": 2}])
    )
    assert injector.scripted("GET", "/v1/users/me") is None
    first = injector.scripted("POST", "/v1/pages")
    assert first.kind == "429" and first.retry_after == 30 and first.rate_limit_reason
    assert injector.scripted("PATCH", "/v1/pages/x").kind == "429"
    assert injector.scripted("POST", "/v1/pages") is None
    for bad in ([{"status": 200}], [{"fault": "explode"}], [{"status": 500, "count": 0}], {"status": 500}):
        with pytest.raises(ValueError):
            parse_script(bad)


def test_committed_503s_hit_page_creates_and_updates_only():
    injector = FaultInjector(EmulatorConfig(faults={"committed_503": 1.0}), seed=3)
    assert injector.random_fault("POST", "/v1/pages").kind == "committed_503"
    assert injector.random_fault("PATCH", "/v1/pages/6f1c0d1e-0000-4000-8000-000000000000").kind == "committed_503"
    for method, path in (
        ("GET", "/v1/pages/6f1c0d1e-0000-4000-8000-000000000000"),
        ("POST", "/v1/data_sources/6f1c0d1e-0000-4000-8000-000000000000/query"),
        ("PATCH", "/v1/data_sources/6f1c0d1e-0000-4000-8000-000000000000"),
        ("GET", "/v1/pages/6f1c0d1e-0000-4000-8000-000000000000/properties/title"),
    ):
        assert injector.random_fault(method, path) is None
    injector.add_script(parse_script([{"fault": "committed_503_silent"}, {"fault": "lost_create"}]))
    assert injector.scripted("GET", "/v1/users/me") is None
    assert injector.scripted("PATCH", "/v1/pages/x").kind == "committed_503_silent"
    assert injector.scripted("PATCH", "/v1/pages/x") is None  # lost_create waits for a create
    assert injector.scripted("POST", "/v1/pages").kind == "lost_create"


def test_query_lag_is_a_config_key_of_seconds():
    config = EmulatorConfig()
    assert config.query_lag_s == 0
    config.patch({"query_lag_s": 3})
    assert config.query_lag_s == 3.0
    with pytest.raises(ValueError, match="query_lag_s"):
        config.patch({"query_lag_s": -1})
    with pytest.raises(ValueError, match="query_lag_s"):
        EmulatorConfig(query_lag_s=-0.5)


def test_versions_check_and_project():
    assert versions.check(b"2026-12-01") == "2026-12-01"
    with pytest.raises(NotionError) as err:
        versions.check(None)
    assert err.value.code == "missing_version"
    with pytest.raises(NotionError) as err:
        versions.check(b"2022-06-28")
    assert err.value.code == "validation_error" and "Notion-Version" in err.value.message
    page = {
        "archived": False,
        "properties": {
            "Name": {"id": "title", "type": "title", "title": []},
            "Amount": {"id": "%3Ax", "type": "number", "number": 1},
            "Other": {"id": "abcd", "type": "number", "number": 2},
        },
    }
    assert versions.project(page, "2025-09-03", None) is page
    assert set(versions.project(page, "2026-12-01", None)["properties"]) == {"Name"}
    assert set(versions.project(page, "2026-12-01", [":x"])["properties"]) == {"Name", "Amount"}
    assert set(versions.project(page, "2026-03-11", ["%3Ax", "Other"])["properties"]) == {"Amount"}
    assert versions.requested_properties({"filter_properties[]": ["a"], "filter_properties": ["b"]}) == ["b", "a"]
    assert "archived" in versions.shape(page, "2025-09-03") and "archived" not in versions.shape(page, "2026-03-11")
    versions.check_body({"archived": True}, "2025-09-03")
    with pytest.raises(NotionError, match="body.archived"):
        versions.check_body({"archived": True}, "2026-03-11")


def test_relations_are_cut_at_25_and_cursors_belong_to_their_property():
    refs = [{"id": f"{i:08d}-0000-4000-8000-000000000000"} for i in range(30)]
    page = {"properties": {"Parent": {"id": "rel", "type": "relation", "relation": refs, "has_more": False}}}
    cut = property_items.truncate_relations(page)["properties"]["Parent"]
    assert cut["relation"] == refs[:25] and cut["has_more"] is True
    assert page["properties"]["Parent"]["has_more"] is False  # the stored page keeps them all
    first = property_items.property_item(page["properties"]["Parent"], {"page_size": ["20"]}, "http://h/p")
    assert len(first["results"]) == 20 and first["has_more"] is True
    rest = property_items.property_item(
        page["properties"]["Parent"], {"start_cursor": [first["next_cursor"]]}, "http://h/p"
    )
    assert [r["relation"] for r in rest["results"]] == refs[20:] and rest["next_cursor"] is None
    other = {"id": "rel2", "type": "relation", "relation": refs}
    with pytest.raises(NotionError, match="start_cursor"):
        property_items.property_item(other, {"start_cursor": [first["next_cursor"]]}, "http://h/p")


def test_compound_filters_nest_at_most_two_levels():
    properties = {"Amount": {"id": "a", "name": "Amount", "type": "number", "number": {}}}
    leaf = {"property": "Amount", "number": {"equals": 1}}
    compile_filter({"or": [{"and": [leaf]}]}, properties)
    with pytest.raises(NotionError, match=r"body.filter.or\[0\].and\[0\].or"):
        compile_filter({"or": [{"and": [{"or": [leaf]}]}]}, properties)


def test_a_created_page_joins_queries_after_the_lag(tmp_path):
    clock = FakeClock()
    lag = {"s": 2.0}
    store = Store(tmp_path)
    try:
        workspace = Workspace(store, clock=clock, query_lag=lambda: lag["s"])
        _, source = workspace.create_database("T", {"Name": {"type": "title"}})
        workspace.seed_pages(source["id"], [{"Name": {"title": [{"text": {"content": "seeded"}}]}}])
        page = workspace.create_page({"parent": {"data_source_id": source["id"]}})
        assert len(workspace.query(source["id"], {})["results"]) == 1  # the seeded page only
        assert workspace.get_page(page["id"])["id"] == page["id"]
        clock.now += 1.9
        assert len(workspace.query(source["id"], {})["results"]) == 1
        clock.now += 0.1
        assert len(workspace.query(source["id"], {})["results"]) == 2
        lag["s"] = 0.0
        workspace.create_page({"parent": {"data_source_id": source["id"]}})
        assert len(workspace.query(source["id"], {})["results"]) == 3
    finally:
        store.close()


def test_control_api_seeds_pages_outside_the_sync(tmp_path):
    from sf_notion_sync.sandbox.notion_emulator import NotionEmulator

    emulator = NotionEmulator(tmp_path / "emu", tokens=["t"], latency_median_ms=0)
    try:
        ds = emulator.create_database("D", {"Name": {"type": "title"}})["data_source_id"]
        control = emulator.app.control
        name = {"Name": {"title": [{"text": {"content": "copy"}}]}}
        assert control.handle("POST", f"/_sandbox/data_sources/{ds}/pages", b"", json.dumps({"properties": [name] * 2}).encode()) == (200, {"created": 2})
        status, listed = control.handle("GET", f"/_sandbox/data_sources/{ds}/pages", b"", b"")
        assert status == 200 and listed["count"] == 2
        assert control.handle("POST", f"/_sandbox/data_sources/{ds}/pages", b"", b"{}")[0] == 400
    finally:
        emulator.close()
