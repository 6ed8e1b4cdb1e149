"""Run metrics in the state store (per-minute counts, lossy changes, preflight), and the change tally."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from sf_notion_sync.state.run_metrics import LossyChange, MinuteDelta, PreflightSeen
from sf_notion_sync.state.store import StateStore
from sf_notion_sync.sync.changes import ChangeTally, change
from sf_notion_sync.sync.progress import duration, interval_from_env

T0 = datetime(2026, 12, 1, 10, 0, 30, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    """The upserts and sums are dialect-specific SQL: each test runs on both databases."""
    url = f"sqlite:///{tmp_path / 'state.db'}" if request.param == "sqlite" else request.getfixturevalue(
        "empty_postgres_url")
    store = StateStore.from_url(url)
    yield store
    store.engine.dispose()


def test_minutes_add_up_across_batches_and_reports(store):
    for at, records in ((T0, 10), (T0 + timedelta(seconds=20), 5), (T0 + timedelta(minutes=3), 7)):
        store.add_run_minute(MinuteDelta("r1", "Account", at, records, records + 1, 1, 3.0, "notion:abc", None))
    store.add_run_minute(MinuteDelta("r1", "Account", T0, 0, 0, 0))  # nothing done: no row, no write
    store.add_run_minute(MinuteDelta("r2", "Account", T0, 4, 4, 0, 3.0, "notion:abc", "notion-workspace:w"))
    minutes = store.run_minutes(["r1", "r2", "none"])
    assert [(m["minute"].minute, m["records"], m["notion_requests"], m["rate_limited_429s"]) for m in minutes["r1"]] == [
        (0, 15, 17, 2), (3, 7, 8, 1)]
    assert minutes["none"] == []
    assert store.run_done("r1", T0 + timedelta(minutes=3, seconds=10), timedelta(minutes=2)) == (22, 3, 7, 8)
    rows = store.minutes_by_budget(T0 + timedelta(minutes=1))
    assert [(r["minute"].minute, r["budget_key"]) for r in rows] == [(3, "notion:abc")]


def test_lossy_changes_per_property_with_examples(store):
    changes = [LossyChange("r1", "Account", f"001{i:015d}", "Description", "text_truncated", "text of 300000 characters")
               for i in range(5)]
    changes.append(LossyChange("r1", "Account", "001X", "Tags", "options_capped", "120 options capped to 100"))
    changes.append(LossyChange("r2", "Account", "001Y", "Tags", "options_capped", "other run"))
    store.record_lossy_changes(changes, now=T0)
    truncated, capped = store.lossy_summary("r1")
    assert (truncated["property"], truncated["kind"], truncated["records"]) == ("Description", "text_truncated", 5)
    assert truncated["examples"] == [f"001{i:015d}" for i in range(3)]
    assert (capped["property"], capped["records"], capped["examples"]) == ("Tags", 1, ["001X"])
    assert store.lossy_summary("none") == []


def test_preflight_is_replaced_by_the_latest(store):
    assert store.last_preflight("Account") is None
    store.record_preflight(PreflightSeen("Account", "ds1", {"Name": "title"}, ["x"], T0))
    store.record_preflight(PreflightSeen("Account", "ds1", {"Name": "title", "Id": "rich_text"}, [], T0 + timedelta(1)))
    seen = store.last_preflight("Account")
    assert seen.properties == {"Name": "title", "Id": "rich_text"} and seen.problems == []
    assert seen.checked_at == T0 + timedelta(1)


def test_change_tally_merges_and_logs_one_line_per_kind(caplog):
    a, b = ChangeTally(), ChangeTally()
    a.add("r", "Account", "001A", [change("url_scheme_added", "Website", "m")], lossy=False)
    a.add("r", "Account", "001B", [change("text_truncated", "Notes", "m")], lossy=True)
    for i in range(4):
        b.add("r", "Account", f"001C{i}", [change("url_scheme_added", "Website", "m")], lossy=False)
    b.add("r", "Account", "001D", ["a change staged before kinds"], lossy=True)
    assert [c.sf_id for c in a.take_pending()] == ["001B"] and a.take_pending() == []
    a.merge(b)
    log = logging.getLogger("test.changes")
    with caplog.at_level(logging.INFO, logger="test.changes"):
        a.log(log, "Account", "batch 0")
    lines = {r.getMessage().split(": ")[1].split(" in ")[0]: r for r in caplog.records}
    assert set(lines) == {"url_scheme_added", "text_truncated", "changed"}
    scheme = lines["url_scheme_added"]
    assert scheme.levelno == logging.INFO and "in 5 value(s) (Website 5), e.g. 001A, 001C0, 001C1" in scheme.getMessage()
    assert lines["text_truncated"].levelno == logging.WARNING


def test_interval_from_env_is_checked(monkeypatch):
    monkeypatch.setenv("SF_NOTION_SYNC_PROGRESS_INTERVAL_S", "2.5")
    assert interval_from_env() == 2.5
    for bad in ("soon", "0", "7200"):
        monkeypatch.setenv("SF_NOTION_SYNC_PROGRESS_INTERVAL_S", bad)
        with pytest.raises(ValueError, match="SF_NOTION_SYNC_PROGRESS_INTERVAL_S"):
            interval_from_env()
    assert (duration(None), duration(42), duration(185), duration(3725)) == ("?", "42s", "3m 05s", "1h 02m")


def test_purge_drops_old_minutes_and_the_lossy_changes_of_old_runs(store):
    store.start_run("old", "d", "Account", "full", now=T0 - timedelta(days=100))
    store.start_run("new", "d", "Account", "full", now=T0)
    store.add_run_minute(MinuteDelta("old", "Account", T0 - timedelta(days=100), 5, 5, 0))
    store.add_run_minute(MinuteDelta("new", "Account", T0, 5, 5, 0))
    store.record_lossy_changes([LossyChange(r, "Account", "001A", "Notes", "text_truncated", "m") for r in ("old", "new")],
                               now=T0)
    assert store.purge_run_metrics(90, now=T0) == 2
    assert store.run_minutes(["old", "new"]) == {"old": [], "new": store.run_minutes(["new"])["new"]}
    assert store.lossy_summary("old") == [] and store.lossy_summary("new")[0]["records"] == 1


class _Writer:
    """A writer as the progress thread reads it."""

    done = 0

    def progress(self) -> tuple[int, int, int]:
        return self.done, self.done + 1, 0

    def budget_keys(self) -> tuple[str | None, str | None]:
        return "notion:k", None


def test_a_failed_report_neither_fails_the_batch_nor_loses_its_counts(store, caplog):
    from types import SimpleNamespace
    from unittest import mock

    from sqlalchemy.exc import OperationalError

    from sf_notion_sync.sync.progress import BatchProgress

    store.start_run("r", "d", "Account", "full", budget_rps=3.0, now=T0)
    ctx = SimpleNamespace(store=store, run_id="r", object_name="Account", clock=lambda: T0, dry_run=False,
                          budget_rps=3.0)
    writer = _Writer()
    progress = BatchProgress(ctx, 0, 10, 0, [writer], interval=3600)
    writer.done = 4
    locked = OperationalError("INSERT", {}, Exception("database is locked"))
    caplog.set_level(logging.INFO, logger="sf_notion_sync")
    with mock.patch.object(store, "add_run_minute", side_effect=locked), progress:
        pass  # the final report fails inside __exit__, which does not raise
    assert "batch 0: progress report failed" in caplog.text
    writer.done = 6
    progress.report()
    [minute] = store.run_minutes(["r"])["r"]
    assert (minute["records"], minute["notion_requests"]) == (6, 7)  # the failed report's share came along
    assert "batch 0: 6 / 10 records (60%)" in caplog.text
