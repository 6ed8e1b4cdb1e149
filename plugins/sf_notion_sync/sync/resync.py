"""A bounded re-sync: the records whose SystemModstamp lies in a window [start, end).

A backfill run of the incremental DAG (its data interval), a run asked to ``reprocess`` its data
interval, or a full sync given ``modified_since`` / ``modified_before`` re-reads exactly those records.
It never moves a watermark or the deletes cursor: the live chain owns them. It writes what differs
from the record map (or everything, with ``force``: a repair after people edited pages by hand), and
never an older version over a newer one that another run (the live chain, the fast lane) wrote
meanwhile: the record map's SystemModstamp says which version Notion holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sf_notion_sync.state.rows import RecordMapEntry, StagedRecord


@dataclass(frozen=True)
class Resync:
    start: datetime | None
    end: datetime | None
    """Exclusive. Either bound may be open (the full sync's Params), not both."""
    force: bool = False

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"re-sync window {name} {value.isoformat()} has no timezone; give UTC")
        if self.start is None and self.end is None:
            raise ValueError("a re-sync window needs a start, an end, or both")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"re-sync window end {self.end.isoformat()} is not after its start {self.start.isoformat()}")

    @classmethod
    def parse(cls, start: Any, end: Any, *, force: bool = False) -> Resync:
        """From datetimes or ISO strings (a trigger form's, naive ones read as UTC); None leaves a bound open."""
        return cls(_instant(start, "start"), _instant(end, "end"), force=force)

    def as_params(self) -> dict[str, Any]:
        """JSON-ready, as stored with the run (later tasks rebuild it with ``from_params``)."""
        return {"start": _iso(self.start), "end": _iso(self.end), "force": self.force}

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Resync:
        return cls.parse(params.get("start"), params.get("end"), force=bool(params.get("force")))

    def superseded(self, entry: RecordMapEntry | None, record: StagedRecord) -> bool:
        """Notion already holds a newer version of the record than the one staged: writing would undo it."""
        return (entry is not None and entry.system_modstamp is not None and record.system_modstamp is not None
                and entry.system_modstamp > record.system_modstamp)


def _instant(value: Any, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"re-sync window {name} {value!r} is not an ISO 8601 date-time") from None
    if not isinstance(value, datetime):
        raise ValueError(f"re-sync window {name} must be a date-time, got {type(value).__name__}")
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None
