"""Values changed on their way to Notion, counted per batch: one log line per kind, not one per record.

A first sync of a large object can shorten or normalise a value in most of its records; one log line
each would bury the batch's progress lines. So the writer counts them here by kind and property, with a
few example Ids, and the batch logs one line per kind at its end. The lossy ones (data cut or cleared)
are also kept per record in the state database (state/run_metrics.py), where the dashboard shows them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sf_notion_sync.state.run_metrics import LossyChange

EXAMPLES = 3
"""Example record Ids per kind in the batch's log line."""
KIND_RELATION_PENDING = "relation_not_synced"
"""A relation whose related record has no Notion page yet: left empty (a note, it fills on a later sync)."""
KIND_UNKNOWN = "changed"
"""A change staged before kinds were recorded (a run in flight across an upgrade)."""


def change(kind: str, property_name: str, message: str) -> dict[str, str]:
    """The staged form of one change (JSON in the staging payload)."""
    return {"kind": kind, "property": property_name, "message": message}


def _read(item: Any) -> tuple[str, str, str]:
    if isinstance(item, dict):
        return str(item.get("kind") or KIND_UNKNOWN), str(item.get("property") or "?"), str(item.get("message") or "")
    return KIND_UNKNOWN, "?", str(item)


@dataclass
class _Kind:
    lossy: bool
    records: int = 0
    properties: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)


@dataclass
class ChangeTally:
    """Changes one writer sent, by kind; ``pending`` holds the lossy ones not yet stored."""

    kinds: dict[str, _Kind] = field(default_factory=dict)
    pending: list[LossyChange] = field(default_factory=list)

    def add(self, run_id: str, object_name: str, sf_id: str, staged: Iterable[Any], *, lossy: bool) -> None:
        for kind, prop, message in map(_read, staged):
            tally = self.kinds.setdefault(kind, _Kind(lossy))
            tally.records += 1
            tally.properties[prop] += 1
            if len(tally.examples) < EXAMPLES and sf_id not in tally.examples:
                tally.examples.append(sf_id)
            if lossy:
                self.pending.append(LossyChange(run_id, object_name, sf_id, prop, kind, message))

    def take_pending(self) -> list[LossyChange]:
        taken, self.pending = self.pending, []
        return taken

    def merge(self, other: ChangeTally) -> None:
        for kind, theirs in other.kinds.items():
            mine = self.kinds.setdefault(kind, _Kind(theirs.lossy))
            mine.records += theirs.records
            mine.properties.update(theirs.properties)
            mine.examples = (mine.examples + [i for i in theirs.examples if i not in mine.examples])[:EXAMPLES]

    def log(self, logger: logging.Logger, object_name: str, where: str) -> None:
        """One line per kind: a warning for lossy kinds, information for the others."""
        for kind, tally in sorted(self.kinds.items()):
            per_property = ", ".join(f"{p} {n:,}" for p, n in tally.properties.most_common())
            logger.log(logging.WARNING if tally.lossy else logging.INFO, "%s %s: %s in %s value(s) (%s), e.g. %s",
                       object_name, where, kind, f"{tally.records:,}", per_property, ", ".join(tally.examples))
