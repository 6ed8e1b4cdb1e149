"""The re-sync window: parsing from a trigger form, its SOQL bounds, and the stale-overwrite guard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sf_notion_sync.salesforce.soql import build_where
from sf_notion_sync.state.rows import RecordMapEntry, StagedRecord
from sf_notion_sync.state.store import StateStore
from sf_notion_sync.sync.resync import Resync

T = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def test_parse_reads_iso_strings_naive_as_utc_and_round_trips_through_params() -> None:
    window = Resync.parse("2026-11-30T10:00:00", "2026-11-30T11:00:00+00:00", force=True)
    assert (window.start, window.end, window.force) == (T, T + timedelta(hours=1), True)
    assert Resync.from_params(window.as_params()) == window
    assert Resync.parse("", "2026-11-30T10:00:00Z").start is None


@pytest.mark.parametrize(("start", "end", "message"), [
    (None, None, "needs a start, an end, or both"),
    ("2026-11-30T11:00:00Z", "2026-11-30T10:00:00Z", "is not after its start"),
    ("yesterday", None, "'yesterday' is not an ISO 8601 date-time"),
    (42, None, "must be a date-time, got int"),
])
def test_bad_windows_say_what_is_wrong(start, end, message) -> None:
    with pytest.raises(ValueError, match=message):
        Resync.parse(start, end)


def test_naive_datetimes_are_refused_when_built_directly() -> None:
    with pytest.raises(ValueError, match="has no timezone"):
        Resync(datetime(2026, 11, 30), None)


def test_soql_bounds_are_half_open_and_round_a_fractional_end_up() -> None:
    assert build_where(since=T, until=T + timedelta(minutes=15)) == (
        "SystemModstamp >= 2026-11-30T10:00:00Z AND SystemModstamp < 2026-11-30T10:15:00Z")
    # stamps are whole seconds: one at 10:15:00 lies before 10:15:00.5
    assert build_where(until=T + timedelta(minutes=15, milliseconds=500)) == "SystemModstamp < 2026-11-30T10:15:01Z"
    assert build_where("Rating = 'Hot'", until=T) == "(Rating = 'Hot') AND SystemModstamp < 2026-11-30T10:00:00Z"


def _entry(stamp: datetime | None) -> RecordMapEntry:
    return RecordMapEntry("Account", "001A", "page", "hash", stamp, T, "v1")


def _staged(stamp: datetime | None) -> StagedRecord:
    return StagedRecord("001A", stamp, {}, "hash")


@pytest.mark.parametrize(("mapped", "staged", "superseded"), [
    (T + timedelta(seconds=1), T, True),  # a live run wrote a newer version: keep it
    (T, T, False),  # the same version (a force rewrite, a mapping change)
    (T, T + timedelta(seconds=1), False),  # the re-sync holds the newer one
    (None, T, False),  # nothing known about what Notion holds
])
def test_only_a_strictly_newer_mapped_version_supersedes(mapped, staged, superseded) -> None:
    assert Resync(T, None).superseded(_entry(mapped), _staged(staged)) is superseded
    assert Resync(T, None).superseded(None, _staged(staged)) is False


def test_a_create_is_claimed_by_one_run_only(tmp_path) -> None:
    store = StateStore.from_url(f"sqlite:///{tmp_path / 'state.db'}")
    assert store.claim_intent("Account", "001A", "live") is True
    assert store.claim_intent("Account", "001A", "backfill") is False, "the live run's create is under way"
    assert [i.run_id for i in store.open_intents("Account", ["001A"])] == ["live"]
    store.clear_intents("Account", ["001A"])
    assert store.claim_intent("Account", "001A", "backfill") is True
