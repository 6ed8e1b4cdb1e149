"""The emulator's SOQL subset: parsing, Salesforce's error codes, evaluation and ordering."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sf_notion_sync.sandbox.datagen import Generator
from sf_notion_sync.sandbox.salesforce_emulator.errors import SalesforceError
from sf_notion_sync.sandbox.salesforce_emulator.soql import compile_predicate, parse, sort_key
from sf_notion_sync.sandbox.salesforce_emulator.store import RecordStore

NOW = datetime(2024, 6, 15, 12, tzinfo=UTC)


def matches(where: str, rec: dict, obj: str = "Account") -> bool:
    return compile_predicate(parse(f"SELECT Id FROM {obj} WHERE {where}", now=lambda: NOW).where)(rec)


def error(text: str) -> SalesforceError:
    with pytest.raises(SalesforceError) as err:
        parse(text)
    return err.value


def test_parse_fields_order_limit_and_count():
    q = parse("select id, NAME, regions__c from ACCOUNT order by Name desc nulls last, Id limit 5 offset 2")
    assert q.obj.name == "Account" and [f.name for f in q.fields] == ["Id", "Name", "Regions__c"]
    assert [(f.name, d, n) for f, d, n in q.order] == [("Name", True, True), ("Id", False, False)]
    assert (q.limit, q.offset, q.count_only) == (5, 2, False)
    assert parse("SELECT COUNT() FROM Contact").count_only


@pytest.mark.parametrize(("where", "expected"), [
    ("Industry = 'BANKING'", True),  # text compares case-insensitively
    ("Industry != 'Banking'", False),
    ("Industry IN ('Retail', 'banking')", True),
    ("Industry NOT IN ('Banking')", False),
    ("AnnualRevenue > 100 AND AnnualRevenue <= 5000", True),
    ("AnnualRevenue < 100 OR (Rating = null AND IsDeleted = false)", True),
    ("NOT (Rating = null)", False),
    ("Rating != null", False),
    ("Name LIKE 'O\\'Br%'", True),
    ("SystemModstamp >= 2024-01-01T00:00:00Z", True),
    ("SystemModstamp > 2024-06-15T12:30:00.000+02:00", False),
    ("CreatedDate = TODAY", True),
    ("CreatedDate = LAST_N_DAYS:3", True),
    ("CreatedDate < YESTERDAY", False),
    ("Id = '0015g0000000001'", True),
])
def test_where_evaluation(where, expected):
    rec = {"Id": "0015g0000000001AAA", "Industry": "Banking", "AnnualRevenue": 5000.0, "Rating": None,
           "IsDeleted": False, "Name": "O'Brien", "SystemModstamp": int(NOW.timestamp() * 1000) - 7_200_000,
           "CreatedDate": int(NOW.timestamp() * 1000)}
    assert matches(where, rec) is expected


def test_date_fields_and_booleans():
    rec = {"CloseDate": "2024-03-01", "IsWon": True}
    assert matches("CloseDate >= 2024-01-01 AND CloseDate < 2024-04-01 AND IsWon = TRUE", rec, "Opportunity")
    assert not matches("CloseDate = 2024-03-02", rec, "Opportunity")


@pytest.mark.parametrize(("text", "code", "fragment"), [
    ("SELECT Foo FROM Account", "INVALID_FIELD", "No such column 'Foo' on entity 'Account'"),
    ("SELECT Id FROM Account WHERE Bar = 1", "INVALID_FIELD", "No such column 'Bar'"),
    ("SELECT Id FROMM Account", "MALFORMED_QUERY", "unexpected token: 'FROMM'"),
    ("SELECT Id FROM Account WHERE", "MALFORMED_QUERY", "unexpected token: '<EOF>'"),
    ("SELECT Id FROM Account WHERE (Name = 'x'", "MALFORMED_QUERY", "<EOF>"),
    ("SELECT Id FROM Account LIMIT x", "MALFORMED_QUERY", "'x'"),
    ("SELECT Id FROM Widget", "INVALID_TYPE", "sObject type 'Widget' is not supported"),
    ("SELECT Id FROM Account WHERE CreatedDate > '2024-01-01'", "INVALID_FIELD", "must be of type dateTime"),
    ("SELECT Id FROM Account WHERE Name = 5", "INVALID_FIELD", "should be enclosed in quotes"),
    ("SELECT Id FROM Account WHERE Description = 'x'", "INVALID_FIELD", "can not be filtered"),
    ("SELECT Id, id FROM Account", "DUPLICATE_FIELD", "duplicate field selected: Id"),
    ("SELECT Id FROM Account WHERE AnnualRevenue > null", "MALFORMED_QUERY", "null"),
])
def test_errors_name_the_problem(text, code, fragment):
    err = error(text)
    assert (err.status, err.error_code) == (400, code) and fragment in err.message
    assert "ERROR at Row:1:Column:" in err.message


def test_sort_key_orders_nulls_and_directions():
    q = parse("SELECT Id FROM Account ORDER BY Rating DESC NULLS LAST, Name")
    recs = [{"Rating": None, "Name": "b"}, {"Rating": "Cold", "Name": "z"}, {"Rating": "Warm", "Name": "a"},
            {"Rating": "Cold", "Name": "A"}]
    ordered = sorted(recs, key=sort_key(q.order))
    assert [(r["Rating"], r["Name"]) for r in ordered] == [("Warm", "a"), ("Cold", "A"), ("Cold", "z"), (None, "b")]


def test_store_streams_in_order_with_overlay_and_limits(tmp_path):
    gen = Generator(seed=5, accounts=300)
    store = RecordStore(gen, tmp_path)
    changed = store.overlay.mutate(gen, "Account", update=5, delete=5)
    q = parse("SELECT Id, SystemModstamp FROM Account ORDER BY SystemModstamp, Id")
    live = list(store.stream(q, include_deleted=False))
    assert len(live) == 295 == store.count(q, False) and store.count(q, True) == 300
    assert [r["SystemModstamp"] for r in live] == sorted(r["SystemModstamp"] for r in live)
    assert {gen.record_id("Account", i) for i in changed["updated"]} == {r["Id"] for r in live[-5:]}
    by_id_desc = list(store.stream(parse("SELECT Id FROM Account ORDER BY Id DESC LIMIT 10 OFFSET 3"), True))
    assert [r["Id"] for r in by_id_desc] == [gen.record_id("Account", i) for i in range(296, 286, -1)]
    windowed = parse("SELECT Id FROM Account WHERE SystemModstamp >= 2024-01-01T00:05:00Z AND "
                     "SystemModstamp < 2024-01-01T00:06:00Z")
    assert store.count(windowed, True) == sum(
        1 for i in range(300) if i not in changed["updated"] + changed["deleted"]
        and 300_000 <= gen.record("Account", i)["SystemModstamp"] - 1704067200000 < 360_000)
    by_name = list(store.stream(parse("SELECT Id, Name FROM Account ORDER BY Name LIMIT 20"), False))
    names = [r["Name"].casefold() for r in by_name]
    assert names == sorted(names) and len(names) == 20
    store.close()
