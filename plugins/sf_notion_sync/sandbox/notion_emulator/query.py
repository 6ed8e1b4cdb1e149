"""POST /v1/data_sources/{id}/query: filters, sorts, cursor paging and the 10,000-result cap.

A query's ordered result ids are kept per (filter, sorts) so that following next_cursor through
10,000 results costs one filter pass, not one per page; a query without start_cursor always evaluates
afresh. Cursors are page ids, as in Notion. "Query a data source" does not promise that a new page is
in the results at once: an API-created page joins them `query_lag_s` after its creation.
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from . import schema as schema_mod
from .errors import body_failed, too_long, validation
from .store import Store
from .validation import parse_date

RESULT_CAP = 10_000
PAGE_SIZE_LIMIT = 100
FILTER_NESTING_LIMIT = 2
_CACHE_ENTRIES = 64

Predicate = Callable[[dict[str, Any]], bool]

_TEXT_TYPES = ("title", "rich_text", "email", "phone_number", "url")
_DATE_OPS = ("equals", "before", "after", "on_or_before", "on_or_after", "is_empty", "is_not_empty")


def _text_value(page_prop: dict[str, Any]) -> str:
    value = page_prop.get(page_prop["type"])
    if isinstance(value, list):
        return "".join(item.get("plain_text", "") for item in value)
    return value or ""


def _text_predicate(op: str, arg: Any) -> Callable[[str], bool]:
    if op in ("is_empty", "is_not_empty"):
        want_empty = op == "is_empty"
        return lambda v: (v == "") == want_empty
    if not isinstance(arg, str):
        raise body_failed(f"filter.{op}", "should be a string")
    ops = {
        "equals": lambda v: v == arg,
        "does_not_equal": lambda v: v != arg,
        "contains": lambda v: arg in v,
        "does_not_contain": lambda v: arg not in v,
        "starts_with": lambda v: v.startswith(arg),
        "ends_with": lambda v: v.endswith(arg),
    }
    if op not in ops:
        raise validation(f"body failed validation: body.filter has an unsupported text condition `{op}`.")
    return ops[op]


def _number_predicate(op: str, arg: Any) -> Callable[[Any], bool]:
    if op in ("is_empty", "is_not_empty"):
        want_empty = op == "is_empty"
        return lambda v: (v is None) == want_empty
    if isinstance(arg, bool) or not isinstance(arg, int | float):
        raise body_failed(f"filter.number.{op}", "should be a number")
    ops = {
        "equals": lambda v: v is not None and v == arg,
        "does_not_equal": lambda v: v is None or v != arg,
        "greater_than": lambda v: v is not None and v > arg,
        "less_than": lambda v: v is not None and v < arg,
        "greater_than_or_equal_to": lambda v: v is not None and v >= arg,
        "less_than_or_equal_to": lambda v: v is not None and v <= arg,
    }
    if op not in ops:
        raise validation(f"body failed validation: body.filter has an unsupported number condition `{op}`.")
    return ops[op]


def _date_predicate(op: str, arg: Any) -> Callable[[datetime | None], bool]:
    """Date-only arguments compare calendar days (UTC); date-times compare instants."""
    if op in ("is_empty", "is_not_empty"):
        want_empty = op == "is_empty"
        return lambda v: (v is None) == want_empty
    if op not in _DATE_OPS:
        raise validation(f"body failed validation: body.filter has an unsupported date condition `{op}`.")
    bound = parse_date(arg)
    if bound is None:
        raise body_failed(f"filter.date.{op}", f"should be a valid ISO 8601 date string, instead was `{arg}`")
    day_only = isinstance(arg, str) and len(arg) == 10
    key: Callable[[datetime], Any] = (lambda d: d.date()) if day_only else (lambda d: d)
    b: date | datetime = bound.date() if day_only else bound
    compare = {
        "equals": lambda x: x == b,
        "before": lambda x: x < b,
        "after": lambda x: x > b,
        "on_or_before": lambda x: x <= b,
        "on_or_after": lambda x: x >= b,
    }[op]
    return lambda v: v is not None and compare(key(v))


def _single(condition: dict[str, Any]) -> tuple[str, Any]:
    ops = [(k, v) for k, v in condition.items()] if isinstance(condition, dict) else []
    if len(ops) != 1:
        raise validation("body failed validation: body.filter condition should have exactly one operator.")
    return ops[0]


def _page_time(field: str) -> Callable[[dict[str, Any]], datetime | None]:
    return lambda page: datetime.fromisoformat(page[field].replace("Z", "+00:00"))


def compile_filter(spec: Any, properties: dict[str, dict[str, Any]], path: str = "filter") -> Predicate:
    """A page predicate; compound filters nest at most 2 levels ("Filter data source entries", "Request limits")."""
    if not isinstance(spec, dict):
        raise body_failed(path, "should be an object")
    for compound in ("and", "or"):
        if compound in spec:
            parts = spec[compound]
            if path.count(".") >= FILTER_NESTING_LIMIT:
                raise validation(
                    f"body failed validation: body.{path}.{compound} nests compound filters more than "
                    f"{FILTER_NESTING_LIMIT} levels deep; `and` and `or` filters can be nested only "
                    f"{FILTER_NESTING_LIMIT} levels."
                )
            if not isinstance(parts, list):
                raise body_failed(f"{path}.{compound}", "should be an array")
            if len(parts) > PAGE_SIZE_LIMIT:
                raise too_long(f"{path}.{compound}", PAGE_SIZE_LIMIT, len(parts))
            quantifier = all if compound == "and" else any
            preds = _merge_text_tests(
                [compile_filter(p, properties, f"{path}.{compound}[{i}]") for i, p in enumerate(parts)],
                quantifier,
            )
            return lambda page: quantifier(p(page) for p in preds)
    if "timestamp" in spec:
        field = spec["timestamp"]
        if field not in ("created_time", "last_edited_time") or not isinstance(spec.get(field), dict):
            raise body_failed(
                "filter.timestamp", "should be `created_time` or `last_edited_time` with its condition"
            )
        test = _date_predicate(*_single(spec[field]))
        read = _page_time(field)
        return lambda page: test(read(page))
    name_or_id = spec.get("property")
    if not isinstance(name_or_id, str):
        raise body_failed("filter.property", "should be defined, instead was `undefined`")
    name = schema_mod.find_property_name(properties, name_or_id)
    if name is None:
        raise validation(f"Could not find property with name or id: {name_or_id}")
    kind = properties[name]["type"]
    condition_key = next((k for k in spec if k != "property"), None)
    compatible = (condition_key == kind) or (kind in _TEXT_TYPES and condition_key in ("rich_text", "title"))
    if not compatible:
        raise validation(
            f"body failed validation: body.filter.{condition_key} does not match the type of property "
            f"`{name}`, which is `{kind}`."
        )
    op, arg = _single(spec[condition_key])
    return _property_predicate(name, kind, op, arg)


class _TextTest:
    """A condition on a text property, kept recognisable so that a compound can merge its tests."""

    def __init__(self, name: str, test: Callable[[str], bool]) -> None:
        self.name, self.test = name, test

    def __call__(self, page: dict[str, Any]) -> bool:
        return self.test(_text_value(page["properties"][self.name]))


def _merge_text_tests(preds: list[Predicate], quantifier: Callable[..., bool]) -> list[Predicate]:
    """One predicate per text property: an `or` of 100 prefixes reads each page's text once, not 100 times."""
    tests: dict[str, list[Callable[[str], bool]]] = {}
    rest = []
    for pred in preds:
        if isinstance(pred, _TextTest):
            tests.setdefault(pred.name, []).append(pred.test)
        else:
            rest.append(pred)
    merged = [_TextTest(name, lambda text, ts=ts: quantifier(t(text) for t in ts)) for name, ts in tests.items()]
    return [*merged, *rest]


def _property_predicate(name: str, kind: str, op: str, arg: Any) -> Predicate:
    if kind in _TEXT_TYPES:
        return _TextTest(name, _text_predicate(op, arg))
    if kind == "number":
        test_number = _number_predicate(op, arg)
        return lambda page: test_number(page["properties"][name]["number"])
    if kind == "checkbox":
        if op not in ("equals", "does_not_equal") or not isinstance(arg, bool):
            raise body_failed(f"filter.checkbox.{op}", "should be a boolean")
        return lambda page: (page["properties"][name]["checkbox"] == arg) == (op == "equals")
    if kind == "select":
        if op not in ("equals", "does_not_equal", "is_empty", "is_not_empty"):
            raise validation(
                f"body failed validation: body.filter has an unsupported select condition `{op}`."
            )
        names = _text_predicate(op, arg)
        return lambda page: names((page["properties"][name]["select"] or {}).get("name", ""))
    if kind in ("multi_select", "relation"):
        field = "name" if kind == "multi_select" else "id"
        if op in ("is_empty", "is_not_empty"):
            want_empty = op == "is_empty"
            return lambda page: (not page["properties"][name][kind]) == want_empty
        if op not in ("contains", "does_not_contain") or not isinstance(arg, str):
            raise validation(
                f"body failed validation: body.filter has an unsupported {kind} condition `{op}`."
            )
        inside = op == "contains"
        return lambda page: any(o[field] == arg for o in page["properties"][name][kind]) == inside
    test_date = _date_predicate(op, arg)
    return lambda page: test_date(parse_date((page["properties"][name]["date"] or {}).get("start")))


def _sort_key(
    sort: Any, properties: dict[str, dict[str, Any]]
) -> tuple[Callable[[dict[str, Any]], Any], bool]:
    if not isinstance(sort, dict):
        raise body_failed("sorts[]", "should be an object")
    direction = sort.get("direction", "ascending")
    if direction not in ("ascending", "descending"):
        raise body_failed(
            "sorts[].direction", f'should be `"ascending"` or `"descending"`, instead was `{direction}`'
        )
    if "timestamp" in sort:
        field = sort["timestamp"]
        if field not in ("created_time", "last_edited_time"):
            raise body_failed(
                "sorts[].timestamp", f"should be `created_time` or `last_edited_time`, instead was `{field}`"
            )
        return (lambda page: page[field]), direction == "descending"
    name = schema_mod.find_property_name(properties, sort.get("property", ""))
    if name is None:
        raise validation(f"Could not find sort property with name or id: {sort.get('property')}")
    kind = properties[name]["type"]

    def key(page: dict[str, Any]) -> Any:
        prop = page["properties"][name]
        if kind in _TEXT_TYPES:
            return _text_value(prop).lower()
        if kind == "select":
            return (prop["select"] or {}).get("name", "").lower()
        if kind == "date":
            parsed = parse_date((prop["date"] or {}).get("start"))
            return parsed.timestamp() if parsed else None
        if kind in ("multi_select", "relation"):
            return ",".join(o.get("name", o.get("id", "")) for o in prop[kind])
        return prop[kind]

    return key, direction == "descending"


def order(pages: list[dict[str, Any]], sorts: list[Any], properties: dict[str, dict[str, Any]]) -> list:
    """Stable multi-key sort; empty values go last whatever the direction."""
    result = list(pages)
    for sort in reversed(sorts):
        key, descending = _sort_key(sort, properties)
        present = [p for p in result if key(p) not in (None, "")]
        empty = [p for p in result if key(p) in (None, "")]
        present.sort(key=key, reverse=descending)
        result = present + empty
    return result


class QueryEngine:
    """Runs queries against the store's pages and remembers each query's ordered ids for its cursors."""

    def __init__(
        self, store: Store, clock: Callable[[], float] = time.time, lag: Callable[[], float] = lambda: 0.0
    ) -> None:
        self.store = store
        self._clock = clock
        self._lag = lag
        self._created_at: dict[str, float] = {}
        self._cache: OrderedDict[tuple[str, str], tuple[list[str], dict[str, int], bool]] = OrderedDict()

    def clear(self) -> None:
        self._cache.clear()
        self._created_at.clear()

    def created(self, page_id: str) -> None:
        """Note an API create, so the page stays out of results for the configured lag."""
        self._created_at[page_id] = self._clock()

    def run(self, source: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        """One page of results for a query on `source`."""
        page_size = body.get("page_size", PAGE_SIZE_LIMIT)
        if isinstance(page_size, bool) or not isinstance(page_size, int):
            raise body_failed("page_size", f"should be a number, instead was `{page_size}`")
        if page_size > PAGE_SIZE_LIMIT:
            raise body_failed("page_size", f"should be ≤ `{PAGE_SIZE_LIMIT}`, instead was `{page_size}`")
        if page_size < 1:
            raise body_failed("page_size", f"should be ≥ `1`, instead was `{page_size}`")
        sorts = body.get("sorts") or []
        if not isinstance(sorts, list):
            raise body_failed("sorts", "should be an array")
        cursor = body.get("start_cursor")
        if cursor is not None and not isinstance(cursor, str):
            raise body_failed("start_cursor", "should be a string")
        signature = (source["id"], json.dumps([body.get("filter"), sorts], sort_keys=True))
        cached = self._cache.get(signature) if cursor else None
        if cached is None or cursor not in cached[1]:
            cached = self._evaluate(source, body.get("filter"), sorts)
            self._cache[signature] = cached
            while len(self._cache) > _CACHE_ENTRIES:
                self._cache.popitem(last=False)
        self._cache.move_to_end(signature)
        ids, positions, capped = cached
        start = 0
        if cursor is not None:
            if cursor not in positions:
                raise validation(f"start_cursor provided is invalid: {cursor}")
            start = positions[cursor]
        window = ids[start : start + page_size]
        end = start + len(window)
        response: dict[str, Any] = {
            "object": "list",
            "results": [self.store.pages[page_id] for page_id in window],
            "next_cursor": ids[end] if end < len(ids) else None,
            "has_more": end < len(ids),
            "type": "page_or_data_source",
            "page_or_data_source": {},
        }
        if capped:
            response["request_status"] = {
                "type": "incomplete",
                "incomplete_reason": "query_result_limit_reached",
            }
        return response

    def _evaluate(self, source, spec, sorts) -> tuple[list[str], dict[str, int], bool]:
        properties = source["properties"]
        predicate = compile_filter(spec, properties) if spec else None
        lag, now, created_at = self._lag(), self._clock(), self._created_at
        live = [
            p
            for p in self._candidates(source, spec)
            if not p["in_trash"]
            and (lag <= 0 or created_at.get(p["id"], -math.inf) <= now - lag)
            and (predicate is None or predicate(p))
        ]
        if sorts:
            live = order(live, sorts, properties)
        capped = len(live) > RESULT_CAP
        ids = [p["id"] for p in live[:RESULT_CAP]]
        return ids, {page_id: i for i, page_id in enumerate(ids)}, capped

    def _candidates(self, source: dict[str, Any], spec: Any) -> list[dict[str, Any]]:
        """Pages that may match, in creation order: an equals condition narrows them through the index."""
        store = self.store
        hint = _equals_hint(spec, source["properties"])
        if hint is None:
            return [store.pages[i] for i in store.pages_by_source.get(source["id"], [])]
        prop_id, value = hint
        ids = store.equals.get((source["id"], prop_id), {}).get(value, ())
        return [store.pages[i] for i in sorted(ids, key=store.seq.__getitem__)]


def _equals_hint(spec: Any, properties: dict[str, dict[str, Any]]) -> tuple[str, Any] | None:
    """(property id, value) of an equals condition that every match must satisfy, if there is one."""
    if not isinstance(spec, dict):
        return None
    if isinstance(spec.get("and"), list):
        return next((h for h in (_equals_hint(p, properties) for p in spec["and"]) if h is not None), None)
    name = schema_mod.find_property_name(properties, spec.get("property") or "")
    if name is None:
        return None
    kind = properties[name]["type"]
    condition = spec.get(kind) if kind in spec else spec.get("rich_text" if kind == "title" else "title")
    if kind not in ("title", "rich_text", "number", "select") or not isinstance(condition, dict):
        return None
    value = condition.get("equals")
    valid = (
        isinstance(value, str)
        if kind != "number"
        else isinstance(value, int | float) and not isinstance(value, bool)
    )
    return (properties[name]["id"], value) if valid and len(condition) == 1 else None
