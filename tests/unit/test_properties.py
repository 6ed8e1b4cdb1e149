"""Property builders at and past each Notion limit."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from sf_notion_sync.notion.constants import MAX_EMAIL, MAX_PHONE, MAX_TEXT_CONTENT, MAX_URL
from sf_notion_sync.notion.errors import PropertyValueError
from sf_notion_sync.notion.properties import (
    KIND_OPTIONS_CAPPED,
    KIND_RELATIONS_CAPPED,
    KIND_TRUNCATED,
    KIND_URL_SCHEME,
    TRUNCATION_MARKER,
    build_properties,
    build_property,
    check_payload_size,
    content_hash,
)

REC = "0015g00000ABCDEAA1"


def build(ptype, value, warnings=None):
    return build_property(ptype, value, property_name="P", record_id=REC, warnings=warnings)


def contents(prop, key="rich_text"):
    return [item["text"]["content"] for item in prop[key]]


@pytest.mark.parametrize("ptype", ["title", "rich_text"])
def test_text_at_limit_is_one_item(ptype):
    assert contents(build(ptype, "a" * MAX_TEXT_CONTENT), ptype) == ["a" * MAX_TEXT_CONTENT]


def test_text_past_limit_is_split():
    parts = contents(build("rich_text", "a" * (MAX_TEXT_CONTENT + 1)))
    assert [len(p) for p in parts] == [MAX_TEXT_CONTENT, 1]


def test_text_split_counts_utf16_units():
    text = "😀" * 1500  # 3,000 UTF-16 units: Notion counts like JavaScript
    parts = contents(build("rich_text", text))
    assert "".join(parts) == text
    assert all(len(p.encode("utf-16-le")) // 2 <= MAX_TEXT_CONTENT for p in parts)


def test_text_at_100_items_is_kept_whole():
    warnings = []
    parts = contents(build("rich_text", "b" * (MAX_TEXT_CONTENT * 100), warnings))
    assert len(parts) == 100 and not warnings


def test_text_past_100_items_is_truncated_with_marker_and_warning():
    warnings = []
    parts = contents(build("rich_text", "b" * (MAX_TEXT_CONTENT * 100 + 1), warnings))
    assert len(parts) == 100
    assert parts[-1].endswith(TRUNCATION_MARKER) and len(parts[-1]) <= MAX_TEXT_CONTENT
    assert len(warnings) == 1 and warnings[0].record_id == REC and "truncated" in warnings[0].message
    assert warnings[0].kind == KIND_TRUNCATED and warnings[0].lossy


def test_empty_and_none_text():
    assert build("title", None) == {"title": []}
    assert build("rich_text", "") == {"rich_text": []}


def test_number():
    assert build("number", 5) == {"number": 5}
    assert build("number", "12.50") == {"number": 12.5}
    assert build("number", Decimal("3")) == {"number": 3}
    assert build("number", None) == {"number": None}
    for bad in ("abc", "NaN", True):
        with pytest.raises(PropertyValueError):
            build("number", bad)


def test_select_rules():
    assert build("select", "Hot") == {"select": {"name": "Hot"}}
    assert build("select", "") == {"select": None}
    assert build("select", "x" * 100) == {"select": {"name": "x" * 100}}
    with pytest.raises(PropertyValueError, match="comma"):
        build("select", "Smith, Jones")
    with pytest.raises(PropertyValueError, match="limit 100 characters"):
        build("select", "x" * 101)


def test_multi_select_from_multipicklist_and_cap():
    assert build("multi_select", "EMEA;APAC; ;EMEA") == {"multi_select": [{"name": "EMEA"}, {"name": "APAC"}]}
    warnings = []
    at = build("multi_select", ";".join(f"v{i}" for i in range(100)), warnings)
    assert len(at["multi_select"]) == 100 and not warnings
    past = build("multi_select", ";".join(f"v{i}" for i in range(101)), warnings)
    assert len(past["multi_select"]) == 100 and [w.kind for w in warnings] == [KIND_OPTIONS_CAPPED]


def test_relation_cap():
    warnings = []
    ids = [f"{i:032x}" for i in range(101)]
    assert len(build("relation", ids[:100], warnings)["relation"]) == 100 and not warnings
    assert len(build("relation", ids, warnings)["relation"]) == 100 and [w.kind for w in warnings] == [KIND_RELATIONS_CAPPED]


def test_dates():
    assert build("date", "2024-01-31") == {"date": {"start": "2024-01-31"}}
    assert build("date", "2024-01-31T12:00:00.000+0000") == {"date": {"start": "2024-01-31T12:00:00+00:00"}}
    assert build("date", datetime(2024, 1, 31, 12)) == {"date": {"start": "2024-01-31T12:00:00+00:00"}}
    assert build("date", date(2024, 1, 31)) == {"date": {"start": "2024-01-31"}}
    assert build("date", datetime(2024, 1, 31, tzinfo=UTC))["date"]["start"].endswith("+00:00")
    with pytest.raises(PropertyValueError):
        build("date", "31/01/2024")


def test_checkbox():
    assert build("checkbox", True) == {"checkbox": True}
    assert build("checkbox", "false") == {"checkbox": False}
    assert build("checkbox", None) == {"checkbox": False}
    with pytest.raises(PropertyValueError):
        build("checkbox", "maybe")


def test_email_limits():
    local = "a" * (MAX_EMAIL - len("@example.com"))
    assert build("email", f"{local}@example.com") == {"email": f"{local}@example.com"}
    with pytest.raises(PropertyValueError, match="limit 200") as info:
        build("email", f"{local}a@example.com")
    assert info.value.record_id == REC and info.value.property_name == "P"
    for bad in ("john.doe@", "a@b", "jane@@example.com", "x y@example.com"):
        with pytest.raises(PropertyValueError, match="not an email"):
            build("email", bad)


def test_phone_limits():
    assert build("phone_number", "+1 (415) 555-0100 x12") == {"phone_number": "+1 (415) 555-0100 x12"}
    assert build("phone_number", "1" * MAX_PHONE)["phone_number"] == "1" * MAX_PHONE
    with pytest.raises(PropertyValueError, match="limit 200"):
        build("phone_number", "1" * (MAX_PHONE + 1))
    with pytest.raises(PropertyValueError, match="not a phone"):
        build("phone_number", "call me")


def test_url_limits():
    base = "https://example.com/"
    assert build("url", base + "a" * (MAX_URL - len(base)))["url"].endswith("a")
    with pytest.raises(PropertyValueError, match="limit 2000"):
        build("url", base + "a" * (MAX_URL - len(base) + 1))
    warnings = []
    assert build("url", "www.example.com", warnings) == {"url": "https://www.example.com"}
    assert "no scheme" in warnings[0].message and warnings[0].kind == KIND_URL_SCHEME and not warnings[0].lossy
    for bad in ("javascript:alert(1)", "https://exa mple.com", "https://nohost"):
        with pytest.raises(PropertyValueError):
            build("url", bad)


def test_unsupported_type_is_a_clear_error():
    with pytest.raises(PropertyValueError, match="not supported"):
        build("formula", 1)


def test_on_invalid_policy_fail_or_null():
    types = {"Name": "title", "Email": "email"}
    values = {"Name": "Acme", "Email": "not-an-email"}
    with pytest.raises(PropertyValueError) as info:
        build_properties(values, types, record_id=REC)
    assert "record 0015g00000ABCDEAA1" in str(info.value) and "'Email'" in str(info.value)
    assert "not-an-email" not in str(info.value)  # values may be personal data
    result = build_properties(values, types, record_id=REC, on_invalid="null")
    assert result.properties["Email"] == {"email": None}
    assert result.properties["Name"]["title"][0]["text"]["content"] == "Acme"
    assert [e.property_name for e in result.nulled] == ["Email"]


def test_payload_limit():
    small = {"properties": {"x": {"rich_text": []}}}
    assert check_payload_size(small) > 0
    with pytest.raises(PropertyValueError, match="500000 bytes"):
        check_payload_size({"properties": {"x": "y" * 500_000}}, record_id=REC)
    # 30 long-text properties of 20,000 chars each stay under; 30 of 200,000 do not.
    types = {f"T{i}": "rich_text" for i in range(30)}
    build_properties({k: "z" * 15_000 for k in types}, types)
    with pytest.raises(PropertyValueError, match="payload"):
        build_properties({k: "z" * 200_000 for k in types}, types)


def test_content_hash_is_stable():
    a = {"Name": {"title": [{"text": {"content": "A"}}]}, "N": {"number": 1}}
    b = {"N": {"number": 1}, "Name": {"title": [{"text": {"content": "A"}}]}}
    assert content_hash(a) == content_hash(b)
    assert content_hash(a) != content_hash({**a, "N": {"number": 2}})
    assert len(content_hash(a)) == 64
