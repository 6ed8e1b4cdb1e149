"""BatchOutcome crosses task boundaries as JSON: counts and a cursor, no records."""

from __future__ import annotations

import json

from sf_notion_sync.state.rows import Counters
from sf_notion_sync.sync.outcome import BatchOutcome


def test_round_trips_through_json() -> None:
    outcome = BatchOutcome("run", 3, False, next_cursor=42, wait_seconds=12.5, counts=Counters(processed=7, created=5))
    again = BatchOutcome.from_dict(json.loads(json.dumps(outcome.to_dict())))
    assert again == outcome


def test_counters_add() -> None:
    counters = Counters(created=1, notion_requests=2)
    counters.add(Counters(created=2, trashed=1))
    assert (counters.created, counters.trashed, counters.notion_requests) == (3, 1, 2)
