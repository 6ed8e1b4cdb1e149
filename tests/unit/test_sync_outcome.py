"""BatchOutcome crosses task boundaries as JSON: counts and a cursor, no records."""

from __future__ import annotations

import json

from sf_notion_sync.sync.outcome import BatchOutcome, Tally


def test_round_trips_through_json() -> None:
    outcome = BatchOutcome("run", 3, False, next_cursor=42, wait_seconds=12.5, counts=Tally(processed=7, created=5))
    again = BatchOutcome.from_dict(json.loads(json.dumps(outcome.to_dict())))
    assert again == outcome


def test_tally_adds_and_converts() -> None:
    tally = Tally(created=1, notion_requests=2)
    tally.add(Tally(created=2, trashed=1))
    counters = tally.to_counters()
    assert (counters.created, counters.trashed, counters.notion_requests) == (3, 1, 2)
