"""What a batch task hands back: counts and a resume cursor, never records (invariant 1)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from sf_notion_sync.state.rows import Counters


@dataclass
class Tally:
    """Mutable per-batch counters, turned into the store's frozen ``Counters`` when saved."""

    processed: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    trashed: int = 0
    failed: int = 0
    rate_limited_429s: int = 0
    notion_requests: int = 0

    def to_counters(self) -> Counters:
        return Counters(**asdict(self))

    def add(self, other: Tally | Counters) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name, 0))


@dataclass
class BatchOutcome:
    """``done=False`` means: wait ``wait_seconds`` (defer), then call again with ``cursor=next_cursor``."""

    run_id: str
    batch_index: int
    done: bool
    next_cursor: int | None = None
    wait_seconds: float = 0.0
    counts: Tally = field(default_factory=Tally)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchOutcome:
        return cls(**{**data, "counts": Tally(**data.get("counts", {}))})
