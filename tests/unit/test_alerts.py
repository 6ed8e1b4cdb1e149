"""Alert decisions (sync.yaml alerts.thresholds), without Airflow: what fires, what stays quiet."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from sf_notion_sync.alerts import alerts_after_run, crossed, run_alerts
from sf_notion_sync.config import AlertSettings, AlertThresholds
from sf_notion_sync.state.rows import Failure, UsageDelta
from sf_notion_sync.state.store import StateStore

THRESHOLDS = AlertThresholds(record_failures=3, rate_limited_share=0.05, run_failure_pct=1.0)
T0 = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)


def summary(**changes):
    return {"object": "Account", "run_id": "r1", "kind": "full", "dry_run": False, "total": 1000, "failed": 0,
            "rate_limited_429s": 0, **changes}


def kinds(alerts):
    return [a.kind for a in alerts]


@pytest.mark.parametrize(("failed", "alerted"), [(10, False), (11, True)])
def test_more_than_one_percent_failed_alerts(failed, alerted):
    alerts = run_alerts(summary(failed=failed), THRESHOLDS)
    assert kinds(alerts) == (["run_failures"] if alerted else [])
    if alerted:
        assert "11 of 1000" in alerts[0].subject and "1.10% failed" in alerts[0].as_text()


def test_retry_and_dry_runs_do_not_raise_the_run_alert():
    assert run_alerts(summary(kind="records", total=4, failed=2), THRESHOLDS) == []
    assert run_alerts(summary(dry_run=True, failed=500), THRESHOLDS) == []


def test_rate_limited_share_alerts_only_a_run_that_was_rate_limited():
    hour = {"hour_requests": 1000, "hour_rate_limited": 51}
    assert kinds(run_alerts(summary(rate_limited_429s=3), THRESHOLDS, **hour)) == ["rate_limited"]
    assert run_alerts(summary(rate_limited_429s=0), THRESHOLDS, **hour) == []
    assert run_alerts(summary(rate_limited_429s=3), THRESHOLDS, hour_requests=1000, hour_rate_limited=50) == []
    payload = run_alerts(summary(rate_limited_429s=3), THRESHOLDS, **hour)[0].as_payload()
    assert payload["facts"] == {"requests": 1000, "rate_limited": 51, "share": 0.051}


def test_any_duplicate_the_sweep_trashed_alerts():
    assert run_alerts(summary(duplicates_trashed=0), THRESHOLDS) == []
    (alert,) = run_alerts(summary(duplicates_trashed=2), THRESHOLDS)
    assert alert.kind == "duplicates" and "2 duplicate Notion pages trashed in run r1" in alert.subject
    assert "operation dedupe" in alert.as_text() and alert.facts["duplicates_trashed"] == 2


@pytest.mark.parametrize(
    ("status", "attempts", "fatal", "expected"),
    [
        ("Failed", 2, False, False),
        ("Failed", 3, False, True),  # reached record_failures
        ("Failed", 4, False, False),  # already alerted at 3
        ("Dead", 8, False, True),  # reached max_attempts
        ("Dead", 9, False, False),  # failed again after going dead (a full run re-tried it)
        ("Dead", 1, True, True),  # a validation rejection is dead at once
    ],
)
def test_a_record_is_alerted_when_it_crosses_a_threshold(status, attempts, fatal, expected):
    entry = SimpleNamespace(status=status, attempts=attempts, fatal=fatal)
    assert crossed(entry, record_failures=3, max_attempts=8) is expected


def test_alerts_after_run_reads_the_store(tmp_path):
    store = StateStore.from_url(f"sqlite:///{tmp_path / 'state.db'}")
    obj = SimpleNamespace(name="Account", alerts=AlertSettings((), None, THRESHOLDS))
    fail = Failure(run_id="r1", object_name="Account", sf_id="001A", operation="create",
                   error_code="service_unavailable", error_message="503")
    for minutes in range(3):  # the third failure crosses record_failures, in this run
        store.record_failure(fail, max_attempts=8, now=T0 + timedelta(minutes=minutes))
    store.record_failure(replace(fail, sf_id="001B", fatal=True, error_code="validation_error"),
                         now=T0 - timedelta(hours=1))  # dead before this run: not alerted again
    store.add_api_usage([UsageDelta(T0 - timedelta(hours=1), "notion", "POST /v1/pages", 200, requests=90),
                         UsageDelta(T0, "notion", "POST /v1/pages", 429, requests=10, rate_limited=10, errors=10),
                         UsageDelta(T0 - timedelta(hours=3), "notion", "POST /v1/pages", 429, requests=500,
                                    rate_limited=500)])  # outside the window
    alerts = alerts_after_run(store, obj, summary(rate_limited_429s=10), T0, max_attempts=8, now=T0)
    assert kinds(alerts) == ["rate_limited", "record_failures"]
    assert alerts[0].facts["requests"] == 100 and alerts[0].facts["rate_limited"] == 10
    assert alerts[1].facts["records"] == 1 and alerts[1].lines[0].startswith("001A: Failed after 3 attempts")
