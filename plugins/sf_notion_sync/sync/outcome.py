"""What a batch task hands back: counts and a resume cursor, never records (invariant 1)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sf_notion_sync.state.rows import Counters

Cursor = int | list[int]
"""Where a deferred batch resumes: the next seq of its one part, or of each of its parts."""


@dataclass
class BatchOutcome:
    """``done=False`` means: wait ``wait_seconds`` (defer), then call again with ``cursor=next_cursor``."""

    run_id: str
    batch_index: int
    done: bool
    next_cursor: Cursor | None = None
    wait_seconds: float = 0.0
    counts: Counters = field(default_factory=Counters)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchOutcome:
        return cls(**{**data, "counts": Counters(**data.get("counts", {}))})
