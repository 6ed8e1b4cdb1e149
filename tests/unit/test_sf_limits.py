"""Salesforce API budget guard: header first, /limits as fallback, raise or defer past the threshold."""

from __future__ import annotations

import pytest
from simple_salesforce import Salesforce

from sf_notion_sync.salesforce.limits import (
    SalesforceBudgetExceeded,
    check_budget,
    current_usage,
    estimate_extract_calls,
    salesforce_usage,
)


class FakeSalesforce:
    def __init__(self, header: str | None = None, used: int = 0, limit: int = 15000):
        self.api_usage = Salesforce.parse_api_usage(header) if header else {}
        self.daily = {"Max": limit, "Remaining": limit - used}
        self.limits_calls = 0

    def limits(self):
        self.limits_calls += 1
        return {"DailyApiRequests": self.daily, "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 9990}}


def test_header_is_read_without_a_call():
    sf = FakeSalesforce("api-usage=120/15000", used=1)
    usage = current_usage(sf)
    assert (usage.used, usage.limit, usage.source) == (120, 15000, "header")
    assert sf.limits_calls == 0


def test_limits_endpoint_when_no_header_yet_or_refresh():
    sf = FakeSalesforce(used=300)
    assert (current_usage(sf).used, current_usage(sf).source) == (300, "limits")
    sf = FakeSalesforce("api-usage=1/15000", used=300)
    assert current_usage(sf, refresh=True).used == 300


def test_within_budget_proceeds():
    decision = check_budget(FakeSalesforce("api-usage=7999/10000"))
    assert decision.proceed and not decision.defer


def test_past_threshold_raises_with_clear_message():
    with pytest.raises(SalesforceBudgetExceeded) as info:
        check_budget(FakeSalesforce("api-usage=8000/10000"))
    assert str(info.value) == "Salesforce API budget: used 8000 of 10000 daily requests, threshold 80%"
    assert info.value.usage.used == 8000


def test_past_threshold_defers_when_asked():
    decision = check_budget(FakeSalesforce("api-usage=9500/10000"), threshold=0.9, on_exceeded="defer")
    assert decision.defer
    assert decision.reason == "Salesforce API budget: used 9500 of 10000 daily requests, threshold 90%"


def test_needed_calls_count_towards_the_threshold():
    sf = FakeSalesforce("api-usage=7900/10000")
    assert check_budget(sf, needed=50).proceed
    decision = check_budget(sf, needed=100, on_exceeded="defer")
    assert decision.defer and "needs about 100 more" in decision.reason


def test_per_app_header_is_parsed_and_reported():
    sf = FakeSalesforce("api-usage=25/5000; per-app-api-usage=17/250(appName=sync-app)", used=25, limit=5000)
    assert current_usage(sf).used == 25
    report = salesforce_usage(sf)
    assert report["per_app"] == {"name": "sync-app", "used": 17, "limit": 250}


def test_zero_limit_never_proceeds():
    with pytest.raises(SalesforceBudgetExceeded):
        check_budget(FakeSalesforce(used=0, limit=0))


@pytest.mark.parametrize(("kwargs", "error"), [({"threshold": 0}, "threshold"), ({"threshold": 1.5}, "threshold"),
                                                ({"on_exceeded": "ignore"}, "on_exceeded")])
def test_bad_arguments(kwargs, error):
    with pytest.raises(ValueError, match=error):
        check_budget(FakeSalesforce("api-usage=1/10"), **kwargs)


def test_salesforce_usage_report():
    report = salesforce_usage(FakeSalesforce(used=12000, limit=15000))
    assert report == {
        "api": "salesforce",
        "used": 12000,
        "limit": 15000,
        "remaining": 3000,
        "percent": 80.0,
        "threshold_percent": 80.0,
        "over_threshold": True,
        "bulk_v2_query_jobs": {"used": 10, "limit": 10000},
    }


def test_estimate_extract_calls():
    assert estimate_extract_calls(0, bulk=False) == 2
    assert estimate_extract_calls(4001, bulk=False) == 4
    assert estimate_extract_calls(1_000_000, bulk=True, page_size=50_000) == 26
