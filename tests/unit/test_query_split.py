"""query_windowed past a created_time minute that holds more than the cap, against a small fake Notion.

The fake caps queries at CAP results, and matches text either case-sensitively or not (Notion does
not document which), signalling the cap on every page or only on the last (both are allowed).
"""

from __future__ import annotations

import json
from collections import Counter

import httpx
import pytest

from sf_notion_sync.notion import windowing as W
from sf_notion_sync.notion.client import ThrottledNotionClient
from sf_notion_sync.notion.errors import NotionApiError
from sf_notion_sync.notion.limiter import MemoryBackend, NotionRateLimiter

CAP, PAGE_SIZE = 6, 2
DS = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
T0, T1, T2 = "2026-01-01T00:00:00.000Z", "2026-01-01T00:01:00.000Z", "2026-01-01T00:02:00.000Z"
BUSY = ["00Ab1", "00aB1", "00ab2", "00AB3", "00x", "00", "001", "002", "003", "004", "005", "006", "1zz", "Zed"]


class FakeNotion:
    """Pages as (id, created_time, id text); the filters query_windowed sends, evaluated here."""

    def __init__(self, pages: list[tuple[str, str, str]], *, fold: bool, early: bool) -> None:
        self.pages, self.fold, self.early = pages, fold, early
        self.filters: list[dict] = []

    def matches(self, spec: dict, page: tuple[str, str, str]) -> bool:
        if "and" in spec:
            return all(self.matches(s, page) for s in spec["and"])
        if "or" in spec:
            return any(self.matches(s, page) for s in spec["or"])
        if "timestamp" in spec:
            ((op, when),) = spec["created_time"].items()
            return {"on_or_after": page[1] >= when, "before": page[1] < when}[op]
        ((op, arg),) = spec["rich_text"].items()
        if op == "is_empty":
            return page[2] == ""
        text, arg = (page[2].lower(), arg.lower()) if self.fold else (page[2], arg)
        return text == arg if op == "equals" else text.startswith(arg)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.filters.append(body.get("filter") or {})
        found = [p for p in self.pages if not body.get("filter") or self.matches(body["filter"], p)]
        if body.get("sorts"):
            found.sort(key=lambda p: p[1])
        start = int(body.get("start_cursor") or 0)
        end = min(start + body["page_size"], len(found), CAP)
        capped = len(found) > CAP and (self.early or end == CAP)
        results = [
            {"object": "page", "id": i, "created_time": t, "properties": {"SF Id": {"type": "rich_text", "rich_text": [
                {"plain_text": text}] if text else []}}}
            for i, t, text in found[start:end]
        ]  # fmt: skip
        more = end < min(len(found), CAP)
        return httpx.Response(200, json={
            "object": "list", "results": results, "has_more": more, "next_cursor": str(end) if more else None,
            **({"request_status": {"type": "incomplete", "incomplete_reason": "query_result_limit_reached"}}
               if capped else {}),
        })  # fmt: skip


def listing(fake: FakeNotion, **kw) -> list[str]:
    limiter = NotionRateLimiter(MemoryBackend(), "split-test", requests=100_000, window_s=1.0, burst=100_000)
    with ThrottledNotionClient("secret_x", base_url="https://notion.test", limiter=limiter,
                               transport=httpx.MockTransport(fake)) as client:  # fmt: skip
        return [p["id"] for p in client.query_windowed(DS, split_property=("SF Id", "rich_text"), page_size=PAGE_SIZE, **kw)]


def dataset() -> list[tuple[str, str, str]]:
    before = [(f"b{i}", T0, f"00{i}") for i in range(3)]
    busy = [(f"m{i}", T1, text) for i, text in enumerate(BUSY)] + [(f"e{i}", T1, "") for i in range(CAP - 1)]
    return before + busy + [("after", T2, "009")]


@pytest.mark.parametrize("early", [True, False], ids=["cap signalled early", "cap signalled last"])
@pytest.mark.parametrize("fold", [True, False], ids=["case-insensitive", "case-sensitive"])
def test_every_page_of_a_full_minute_once(fold: bool, early: bool) -> None:
    pages = dataset()
    pages[3:3] = [(f"x{i}", T1, "00Ab1") for i in range(2)]  # the same value more than once
    fake = FakeNotion(pages, fold=fold, early=early)
    ids = listing(fake)
    assert Counter(ids) == Counter(p[0] for p in pages)
    assert ids[:3] == ["b0", "b1", "b2"] and ids[-1] == "after"  # minutes stay in order
    nested = [f for f in fake.filters if "and" in f and any("or" in c for c in f["and"])]
    assert nested and all(len(c["or"]) <= 100 for f in nested for c in f["and"] if "or" in c)
    assert len(fake.filters) < 40  # a capped `or` group is split by what it returned, not one request per prefix


def test_more_than_the_cap_without_a_value_is_a_clear_error() -> None:
    pages = [(f"e{i}", T1, "") for i in range(CAP + 1)] + [(f"m{i}", T1, f"{i:02d}") for i in range(CAP)]
    with pytest.raises(NotionApiError, match=r"created_time 2026-01-01T00:01:00.000Z: more than .* have 'SF Id' empty"):
        listing(FakeNotion(pages, fold=True, early=True))


def test_sub_partitions_jump_the_shared_prefix_and_group_the_rest() -> None:
    parts = W.sub_partitions("0", ["001Dn1", "001Dn2"], fold=True, max_depth=20)
    assert parts[-1] == [("starts_with", "001dn")]  # shown branch, popped first
    grouped = [c for part in parts[:-1] for c in part]
    assert all(len(part) <= 100 for part in parts[:-1])
    assert ("equals", "0") in grouped and ("equals", "001d") in grouped
    assert ("starts_with", "01") in grouped and ("starts_with", "001c") in grouped
    assert ("starts_with", "001d") not in grouped and ("starts_with", "001D") not in grouped
    split = W.sub_partitions("00", ["00a1", "00A2", "00-3", "00"], fold=False, max_depth=20)
    alone = [part for part in split if len(part) == 1 and part[0][1] in ("00", "00a", "00A", "00-")]
    assert sorted(alone) == [[("equals", "00")], [("starts_with", "00-")], [("starts_with", "00A")],
                             [("starts_with", "00a")]]  # fmt: skip
    assert W.sub_partitions("", ["abc", "abd"], fold=False, max_depth=2)[-1] == [("starts_with", "ab")]


def test_a_capped_group_splits_by_the_values_it_returned() -> None:
    group = [("starts_with", "0a"), ("starts_with", "0b"), ("equals", "0"), ("starts_with", "0c")]
    assert W.split_group(group, ["0B1", "0"], fold=True) == [
        [("starts_with", "0a"), ("starts_with", "0c")], [("starts_with", "0b")], [("equals", "0")]]  # fmt: skip
    assert W.split_group(group, ["0B1"], fold=False) == [group[:2], group[2:]]  # no value tells them apart
