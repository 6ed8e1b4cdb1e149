"""Debounced batches of change events, and the payload an asset event carries for one batch.

A batch closes `debounce_s` after its first event or once it holds `max_ids` record ids, whichever
comes first: one fast-lane run per burst instead of one per record, and a change waits at most
`debounce_s` for company. The payload holds ids and change types, never field values (they are
re-read from Salesforce), and the replay id the batch reached with its position (state/replay_ids.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sf_notion_sync.salesforce.pubsub.client import ChangeEvent

DEBOUNCE_S = 1.0
MAX_IDS = 200
PAYLOAD_VERSION = 1


@dataclass
class ChangeBatch:
    """Changes of one object collected since `opened_at` (monotonic seconds)."""

    object_name: str
    opened_at: float
    change_types: dict[str, str] = field(default_factory=dict)  # record id -> its last change type
    gaps: list[str] = field(default_factory=list)
    replay_id: bytes | None = None

    def add(self, event: ChangeEvent) -> None:
        for record_id in event.record_ids:
            self.change_types.pop(record_id, None)  # keep arrival order of the last change
            self.change_types[record_id] = event.change_type
        if event.is_gap and event.change_type not in self.gaps:
            self.gaps.append(event.change_type)
        self.replay_id = event.replay_id

    def due(self, now: float, debounce_s: float = DEBOUNCE_S, max_ids: int = MAX_IDS) -> bool:
        return len(self.change_types) >= max_ids or now - self.opened_at >= debounce_s

    def payload(self, position: int) -> dict[str, Any]:
        return {"version": PAYLOAD_VERSION, "object": self.object_name, "record_ids": list(self.change_types),
                "change_types": dict(self.change_types), "gap": ", ".join(self.gaps) or None,
                "replay_id": self.replay_id.hex() if self.replay_id else None, "position": position}


def gap_payload(object_name: str, reason: str, position: int) -> dict[str, Any]:
    """A batch that says only "changes were missed": the consumer runs the incremental sync."""
    return {"version": PAYLOAD_VERSION, "object": object_name, "record_ids": [], "change_types": {},
            "gap": reason, "replay_id": None, "position": position}


@dataclass(frozen=True)
class Consumed:
    """What a consumer makes of the payloads one run received: ids to re-read, gaps, the replay reached."""

    record_ids: tuple[str, ...]
    gaps: tuple[str, ...]
    replay_id: str | None
    position: int


def consume(object_name: str, payloads: list[dict[str, Any]]) -> Consumed:
    """Merge the payloads of `object_name` (others are ignored); the furthest position's replay id wins."""
    ids: dict[str, None] = {}
    gaps: list[str] = []
    replay, position = None, -1
    for p in payloads:
        if not isinstance(p, dict) or p.get("object") != object_name:
            continue
        ids.update(dict.fromkeys(p.get("record_ids") or ()))
        if p.get("gap"):
            gaps.append(str(p["gap"]))
        if p.get("replay_id") and int(p.get("position", -1)) > position:
            replay, position = p["replay_id"], int(p["position"])
    return Consumed(tuple(ids), tuple(gaps), replay, position)
