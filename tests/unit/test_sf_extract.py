"""Extraction without a server: CSV typing, REST normalisation, mode choice, Bulk without ORDER BY, getDeleted window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sf_notion_sync.salesforce.extract import (
    DeletedWindowMissed,
    ExtractError,
    _parse_csv_page,
    deleted_since,
    extract,
)
from sf_notion_sync.salesforce.soql import ObjectSchema

pytestmark = pytest.mark.usefixtures("fresh_describe_cache")

TYPES = {
    "Id": "id",
    "Name": "string",
    "NumberOfEmployees": "int",
    "AnnualRevenue": "currency",
    "IsDeleted": "boolean",
    "SystemModstamp": "datetime",
}
SCHEMA = ObjectSchema("Account", TYPES)
NOW = datetime(2024, 6, 1, tzinfo=UTC)


def test_csv_page_is_typed_from_describe():
    page = (
        '"Id","Name","NumberOfEmployees","AnnualRevenue","IsDeleted","SystemModstamp"\n'
        '"001A","multi\nline, ""quoted""","12","1500.5","false","2024-01-01T00:00:00.000Z"\n'
        '"001B","","","","true","2024-01-02T00:00:00.000Z"\n'
    )
    assert list(_parse_csv_page(SCHEMA, page)) == [
        {"Id": "001A", "Name": 'multi\nline, "quoted"', "NumberOfEmployees": 12, "AnnualRevenue": 1500.5,
         "IsDeleted": False, "SystemModstamp": "2024-01-01T00:00:00.000+0000"},
        {"Id": "001B", "Name": None, "NumberOfEmployees": None, "AnnualRevenue": None,
         "IsDeleted": True, "SystemModstamp": "2024-01-02T00:00:00.000+0000"},
    ]


def test_csv_page_errors_are_clear():
    with pytest.raises(ExtractError, match="column not in the describe"):
        list(_parse_csv_page(SCHEMA, "Id,Nope\n1,2\n"))
    with pytest.raises(ExtractError, match="2 cells, header has 1"):
        list(_parse_csv_page(SCHEMA, "Id\n1,2\n"))
    with pytest.raises(ExtractError, match="boolean"):
        list(_parse_csv_page(SCHEMA, "Id,IsDeleted\n1,maybe\n"))
    assert list(_parse_csv_page(SCHEMA, "")) == []


class FakeSObject:
    def __init__(self, sf, name):
        self.sf, self.name = sf, name

    def describe(self):
        return {"name": "Account", "fields": [{"name": n, "type": t} for n, t in TYPES.items()]}

    def deleted(self, start, end):
        self.sf.deleted_calls.append((start, end))
        if self.sf.deleted_error:
            raise SalesforceMalformedRequest("u", 400, "deleted", [{"errorCode": "INVALID_REPLICATION_DATE"}])
        return self.sf.deleted_answer


class FakeResponse:
    def __init__(self, body, headers=None):
        self.status_code, self.body, self.headers = 200, body, headers or {}
        self.content = body.encode() if isinstance(body, str) else b""

    def json(self, **_):
        return self.body


class FakeBulkHttp:
    """Bulk 2.0 query jobs over `session.request`: one job, two CSV pages chained by a locator."""

    PAGES = {"": ("Id,SystemModstamp,Name\n001A,2024-01-01T00:00:00.000Z,x\n", "L2"),
             "L2": ("Id,SystemModstamp,Name\n001B,2024-01-01T00:00:00.000Z,y\n", "null")}

    def __init__(self, sf):
        self.sf = sf

    def request(self, method, url, headers=None, params=None, data=None):
        self.sf.bulk_calls.append((method, url.rsplit("/query", 1)[1], data or params))
        if method == "POST":
            return FakeResponse({"id": "750J", "state": "UploadComplete"})
        if url.endswith("/results"):
            page, locator = self.PAGES[params.get("locator", "")]
            return FakeResponse(page, {"Sforce-Locator": locator, "Sforce-NumberOfRecords": "1"})
        return FakeResponse({"id": "750J", "state": "JobComplete"})


class FakeSalesforce:
    sf_instance = "extract-unit.example"
    sf_version = "62.0"
    session_id = "unit-session"
    bulk2_url = "https://extract-unit.example/services/data/v62.0/jobs/"

    def __init__(self, total):
        self.total = total
        self.queries = []
        self.bulk_calls = []
        self.deleted_calls = []
        self.deleted_error = False
        self.deleted_answer = {"deletedRecords": [], "earliestDateAvailable": None, "latestDateCovered": None}
        self.session = FakeBulkHttp(self)

    def query(self, soql_text, include_deleted=False, headers=None):
        self.queries.append((soql_text, include_deleted))
        if soql_text.startswith("SELECT COUNT()"):
            return {"totalSize": self.total, "done": True, "records": []}
        return {"totalSize": 1, "done": True, "records": [
            {"attributes": {"type": "Account"}, "Id": "001A", "SystemModstamp": "2024-01-01T00:00:00.000+0000",
             "Name": "x", "NumberOfEmployees": 3.0, "AnnualRevenue": 10, "IsDeleted": False}]}

    def __getattr__(self, name):
        return FakeSObject(self, name)


def test_small_count_uses_rest_and_normalises_json_numbers():
    sf = FakeSalesforce(total=5)
    run = extract(sf, "Account", ["Name", "NumberOfEmployees", "AnnualRevenue"], include_deleted=True)
    assert run.stats.mode == "rest" and run.stats.total == 5
    records = list(run)
    assert records == [{"Id": "001A", "SystemModstamp": "2024-01-01T00:00:00.000+0000", "Name": "x",
                        "NumberOfEmployees": 3, "AnnualRevenue": 10.0, "IsDeleted": False}]
    assert type(records[0]["AnnualRevenue"]) is float and type(records[0]["NumberOfEmployees"]) is int
    count_query, query = sf.queries
    assert count_query == ("SELECT COUNT() FROM Account", True)
    assert query == ("SELECT Id, SystemModstamp, Name, NumberOfEmployees, AnnualRevenue, IsDeleted FROM Account"
                     " ORDER BY SystemModstamp, Id", True)
    assert run.stats.yielded == 1


def test_count_at_threshold_uses_bulk_pages_without_order_by():
    sf = FakeSalesforce(total=10)
    run = extract(sf, "Account", ["Name"], threshold=10, page_size=1, bulk_poll_seconds=0)
    assert run.stats.mode == "bulk"
    assert [r["Id"] for r in run] == ["001A", "001B"]
    assert run.stats.pages == 2
    create, poll, first, second = sf.bulk_calls
    assert create[0] == "POST" and '"operation": "query"' in create[2]
    assert '"query": "SELECT Id, SystemModstamp, Name FROM Account"' in create[2]  # no ORDER BY, no LIMIT
    assert run.stats.soql == "SELECT Id, SystemModstamp, Name FROM Account"
    assert poll[:2] == ("GET", "/750J") and first[2] == {"maxRecords": 1}
    assert second[2] == {"maxRecords": 1, "locator": "L2"}  # resumed at the page's locator


def test_limit_or_order_reads_rest_in_cursor_order_and_forced_bulk_stops_at_the_limit():
    sf = FakeSalesforce(total=50)
    limited = extract(sf, "Account", ["Name"], threshold=10, limit=5)
    assert limited.stats.mode == "rest" and limited.stats.soql.endswith("ORDER BY SystemModstamp, Id LIMIT 5")
    ordered = extract(sf, "Account", ["Name"], threshold=10, ordered=True)
    assert ordered.stats.mode == "rest" and ordered.stats.soql.endswith("ORDER BY SystemModstamp, Id")
    forced = extract(sf, "Account", ["Name"], limit=1, mode="bulk", bulk_poll_seconds=0)
    assert [r["Id"] for r in forced] == ["001A"] and "LIMIT" not in forced.stats.soql
    with pytest.raises(ValueError, match="ordered"):
        extract(sf, "Account", ["Name"], mode="bulk", ordered=True)


def test_mode_is_validated():
    with pytest.raises(ValueError, match="mode"):
        extract(FakeSalesforce(total=1), "Account", [], mode="soap")


def test_deleted_window_missed_before_any_call():
    sf = FakeSalesforce(total=0)
    with pytest.raises(DeletedWindowMissed, match="run a reconcile"):
        deleted_since(sf, "Account", NOW - timedelta(days=16), now=NOW)
    assert sf.deleted_calls == []


def test_deleted_window_missed_from_salesforce_answer():
    sf = FakeSalesforce(total=0)
    sf.deleted_error = True
    with pytest.raises(DeletedWindowMissed):
        deleted_since(sf, "Account", NOW - timedelta(days=14), now=NOW)
    sf.deleted_error = False
    sf.deleted_answer = {"deletedRecords": [], "earliestDateAvailable": "2024-05-30T00:00:00.000+0000"}
    with pytest.raises(DeletedWindowMissed, match="earliest date available is 2024-05-30"):
        deleted_since(sf, "Account", NOW - timedelta(days=14), now=NOW)


def test_deleted_records_are_returned():
    sf = FakeSalesforce(total=0)
    sf.deleted_answer = {
        "deletedRecords": [{"id": "001A", "deletedDate": "2024-05-31T10:00:00.000+0000"}],
        "earliestDateAvailable": "2024-05-01T00:00:00.000+0000",
        "latestDateCovered": "2024-06-01T00:00:00.000+0000",
    }
    result = deleted_since(sf, "Account", NOW - timedelta(days=1), now=NOW)
    assert result.records == [("001A", "2024-05-31T10:00:00.000+0000")]
    assert result.latest_date_covered == "2024-06-01T00:00:00.000+0000"
    with pytest.raises(ValueError, match="timezone-aware"):
        deleted_since(sf, "Account", datetime(2024, 5, 31), now=NOW)
