"""Unit tests of the Notion emulator's parts that need no server: budget, config, faults."""

from __future__ import annotations

import statistics

import pytest

from sf_notion_sync.sandbox.notion_emulator.config import EmulatorConfig
from sf_notion_sync.sandbox.notion_emulator.errors import NotionError
from sf_notion_sync.sandbox.notion_emulator.faults import FaultInjector, parse_script
from sf_notion_sync.sandbox.notion_emulator.ratelimit import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_average_rate_and_refusals_cost_nothing():
    clock = FakeClock()
    limiter = RateLimiter(EmulatorConfig(rate=3.0, burst=5), clock)
    for _ in range(5):
        limiter.admit("tok")
    for _ in range(20):  # hammering while refused must not push the next slot further out
        with pytest.raises(NotionError) as err:
            limiter.admit("tok")
    assert err.value.status == 429 and err.value.headers["Retry-After"] == "1"
    assert err.value.additional_data == {"rate_limit_reason": "public_api_request_rate_limit"}
    clock.now += 1 / 3
    limiter.admit("tok")  # one emission interval later, exactly one more is admitted
    with pytest.raises(NotionError):
        limiter.admit("tok")
    limiter.admit("other")  # budgets are per token


def test_retry_after_is_whole_seconds_until_a_slot_frees():
    clock = FakeClock()
    limiter = RateLimiter(EmulatorConfig(rate=0.1, burst=1), clock)
    limiter.admit("tok")
    with pytest.raises(NotionError) as err:
        limiter.admit("tok")
    assert err.value.headers["Retry-After"] == "10"
    clock.now += 9.5
    with pytest.raises(NotionError) as err:
        limiter.admit("tok")
    assert err.value.headers["Retry-After"] == "1"


def test_workspace_budget_is_shared_and_a_refusal_charges_no_token():
    clock = FakeClock()
    limiter = RateLimiter(EmulatorConfig(rate=10, burst=10, workspace_rate=1, workspace_burst=2), clock)
    limiter.admit("a")
    limiter.admit("b")
    with pytest.raises(NotionError) as err:
        limiter.admit("c")
    assert err.value.additional_data == {"rate_limit_reason": "public_api_space_request_rate_limit"}
    clock.now += 1
    limiter.admit("c")


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
