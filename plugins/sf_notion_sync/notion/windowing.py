"""Filters for listing a data source past Notion's 10,000-result query cap (used by query_windowed).

The cap is per query (filter + sorts), so a listing is cut into queries that each stay under it:
windows of created_time, and, inside one created_time minute that holds more than the cap (a bulk
import creates thousands of pages in the same minute; Notion reports created_time rounded down to
the minute), partitions by prefix of a text property.
"""

from __future__ import annotations

import os
import string
from datetime import datetime, timedelta
from typing import Any

from . import constants as C

Partition = list[tuple[str, str]]
"""Text conditions (operator, value) joined with `or`; [] is the whole minute."""

CREATED_ASCENDING = [{"timestamp": "created_time", "direction": "ascending"}]
ALNUM_FOLDED = string.digits + string.ascii_lowercase
ALNUM = ALNUM_FOLDED + string.ascii_uppercase


def created(op: str, when: str) -> dict[str, Any]:
    return {"timestamp": "created_time", "created_time": {op: when}}


def next_minute(when: str) -> str:
    start = datetime.fromisoformat(when.replace("Z", "+00:00"))
    return (start + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def minute_range(when: str) -> list[dict[str, Any]]:
    """[when, when + 1 min): Notion compares to the millisecond, so `equals` a rounded time could miss pages."""
    return [created("on_or_after", when), created("before", next_minute(when))]


def conjuncts(spec: dict[str, Any] | None) -> list[dict[str, Any]]:
    """A caller's filter as `and` items, flattened so that ours nest no deeper (Notion allows two levels)."""
    if not spec:
        return []
    return list(spec["and"]) if isinstance(spec.get("and"), list) else [spec]


def all_of(clauses: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"and": clauses}


def text_condition(name: str, kind: str, partition: Partition) -> list[dict[str, Any]]:
    """The `and` item(s) that select ``partition`` of text property ``name`` (of type ``kind``)."""
    conditions = [{"property": name, kind: {op: True if op == "is_empty" else value}} for op, value in partition]
    if len(conditions) > 1:
        return [{"or": conditions}]
    return conditions


def plain_text(page: dict[str, Any], name: str, kind: str) -> str:
    """What Notion's text filters compare: the concatenated plain text."""
    prop = (page.get("properties") or {}).get(name) or {}
    return "".join(item.get("plain_text", "") for item in prop.get(kind) or [])


def sub_partitions(prefix: str, values: list[str], fold: bool, max_depth: int) -> list[Partition]:
    """Split ``starts_with prefix``, which hit the cap, by the next character.

    ``values`` are the ones the capped query returned. The prefix they all share is taken in one step
    (the Ids of one Salesforce object share ~10 characters), and every branch the values do not show
    goes into `or` groups of up to 100, which cost one request each when empty, as they mostly are.
    With ``fold`` (the server matches case-insensitively) 'a' also selects 'A', so letters are
    lowercase only; otherwise both cases. A character outside 0-9A-Za-z is covered only where the
    values show it at the position split.
    """
    alphabet = ALNUM_FOLDED if fold else ALNUM
    values = [v.lower() for v in values] if fold else values
    shared = os.path.commonprefix(values)[:max_depth] if values else prefix
    shared = shared if shared.startswith(prefix) else prefix
    alone: list[Partition] = []
    grouped: Partition = []
    for depth in range(len(prefix), len(shared)):  # skipped levels: every branch but the shared one
        stem = shared[:depth]
        grouped += [("equals", stem)] if stem else []
        grouped += [("starts_with", stem + c) for c in alphabet if c != shared[depth]]
    if len(shared) > len(prefix):
        alone.append([("starts_with", shared)])
    else:
        shown = {v[len(prefix)] for v in values if len(v) > len(prefix)}
        if prefix in values:
            alone.append([("equals", prefix)])
        elif prefix:
            grouped.append(("equals", prefix))
        for c in sorted(set(alphabet) | shown):
            if c in shown:
                alone.append([("starts_with", prefix + c)])
            else:
                grouped.append(("starts_with", prefix + c))
    step = C.MAX_ARRAY_ITEMS
    return [grouped[i : i + step] for i in range(0, len(grouped), step)] + alone  # a stack: shown ones first


def split_group(group: Partition, values: list[str], fold: bool) -> list[Partition]:
    """Split an `or` group that hit the cap: the conditions its returned ``values`` match go alone,
    the rest stay grouped (halved when no value tells them apart), so each round costs a request or
    two instead of one per condition."""
    if fold:
        values = [v.lower() for v in values]

    def shown(condition: tuple[str, str]) -> bool:
        op, arg = condition
        return any(v == arg if op == "equals" else v.startswith(arg) for v in values)

    alone = [[c] for c in group if shown(c)]
    rest = [c for c in group if not shown(c)]
    if not alone:
        return [rest[: len(rest) // 2], rest[len(rest) // 2 :]]
    return ([rest] if rest else []) + alone
