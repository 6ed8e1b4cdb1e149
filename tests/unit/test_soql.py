"""SOQL building: escaping, describe-checked field names, filter combination, describe cache."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from simple_salesforce.exceptions import SalesforceResourceNotFound

from sf_notion_sync.salesforce.soql import (
    ObjectSchema,
    SoqlError,
    UnknownFieldError,
    UnknownObjectError,
    build_count,
    build_query,
    build_where,
    describe_object,
    quote,
)

pytestmark = pytest.mark.usefixtures("fresh_describe_cache")

ACCOUNT = ObjectSchema(
    name="Account",
    field_types={
        "Id": "id",
        "Name": "string",
        "Industry": "picklist",
        "AnnualRevenue": "currency",
        "SystemModstamp": "datetime",
        "IsDeleted": "boolean",
        "BillingAddress": "address",
    },
)


class FakeSObject:
    def __init__(self, owner: FakeSalesforce, name: str):
        self.owner, self.name = owner, name

    def describe(self):
        self.owner.describe_calls += 1
        if self.name != "Account":
            raise SalesforceResourceNotFound("https://x/describe", 404, self.name, b"[]")
        return {"name": "Account", "fields": [{"name": n, "type": t} for n, t in ACCOUNT.field_types.items()]}


class FakeSalesforce:
    sf_instance = "fake.example"
    sf_version = "62.0"

    def __init__(self):
        self.describe_calls = 0

    def describe(self):
        return {"sobjects": [{"name": "Account"}, {"name": "Contact"}]}

    def __getattr__(self, name):
        return FakeSObject(self, name)


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("plain", "'plain'"),
        ("O'Brien", r"'O\'Brien'"),
        ("back\\slash", r"'back\\slash'"),
        ('say "hi"', r"""'say \"hi\"'"""),
        ("line1\nline2\r\tend", r"'line1\nline2\r\tend'"),
        ("\\'", r"'\\\''"),
        ("50%_off", "'50%_off'"),
        ("", "''"),
        ("ünïcødé ✓", "'ünïcødé ✓'"),
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (42, "42"),
        (-1.5, "-1.5"),
        (Decimal("10.50"), "10.50"),
        (date(2024, 2, 29), "2024-02-29"),
        (["a", "b'c"], r"('a', 'b\'c')"),
    ],
)
def test_quote(value, literal):
    assert quote(value) == literal


def test_quote_datetime_is_unquoted_utc_whole_seconds():
    cet = timezone(timedelta(hours=1))
    assert quote(datetime(2024, 1, 1, 1, 0, 0, 999_999, tzinfo=cet)) == "2024-01-01T00:00:00Z"
    with pytest.raises(SoqlError, match="naive"):
        quote(datetime(2024, 1, 1))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), object(), []])
def test_quote_refuses_values_without_literal(value):
    with pytest.raises(SoqlError):
        quote(value)


def test_unknown_field_names_object_field_path_and_suggestion():
    with pytest.raises(UnknownFieldError) as info:
        build_query(ACCOUNT, ["Name", "Industy"], config_path="objects.Account")
    message = str(info.value)
    assert "Account" in message and "'Industy'" in message
    assert "objects.Account.fields[1]" in message
    assert "did you mean Industry" in message
    assert info.value.suggestions == ["Industry"]


def test_unknown_field_without_close_match_has_no_suggestion():
    with pytest.raises(UnknownFieldError) as info:
        build_query(ACCOUNT, ["Zzzzzz"])
    assert "did you mean" not in str(info.value)


def test_injection_through_field_name_is_refused():
    with pytest.raises(UnknownFieldError):
        build_query(ACCOUNT, ["Name FROM Account WHERE Id != null --"])


def test_fields_are_canonical_deduplicated_and_start_with_cursor():
    q = build_query(ACCOUNT, ["name", "ID", "Industry", "NAME"])
    assert q == "SELECT Id, SystemModstamp, Name, Industry FROM Account ORDER BY SystemModstamp, Id"


def test_compound_field_is_refused():
    with pytest.raises(SoqlError, match="compound address"):
        build_query(ACCOUNT, ["BillingAddress"])


def test_where_filter_and_watermark_are_combined():
    since = datetime(2024, 5, 1, 12, 0, 30, 500_000, tzinfo=UTC)
    q = build_query(ACCOUNT, ["Name"], where="Industry = 'Tech' OR Industry = 'Bank'", since=since,
                    overlap=timedelta(minutes=5))
    assert q == (
        "SELECT Id, SystemModstamp, Name FROM Account"
        " WHERE (Industry = 'Tech' OR Industry = 'Bank') AND SystemModstamp >= 2024-05-01T11:55:30Z"
        " ORDER BY SystemModstamp, Id"
    )
    assert build_count(ACCOUNT, where="Name != null", since=since) == (
        "SELECT COUNT() FROM Account WHERE (Name != null) AND SystemModstamp >= 2024-05-01T12:00:30Z"
    )


def test_where_parts_are_optional():
    assert build_where() == ""
    assert build_where("  ") == ""
    assert build_where("Name = 'x'") == "(Name = 'x')"
    assert build_count(ACCOUNT) == "SELECT COUNT() FROM Account"
    assert build_query(ACCOUNT, [], limit=5).endswith("ORDER BY SystemModstamp, Id LIMIT 5")


@pytest.mark.parametrize("where", ["Name = 'x') OR (Id != null", "Name = 'x", "(Name = 'x'", "Name = 'it\\'s"])
def test_unbalanced_filter_cannot_escape_its_parentheses(where):
    with pytest.raises(SoqlError, match=r"objects\.Account\.where"):
        build_query(ACCOUNT, [], where=where, config_path="objects.Account")


def test_balanced_filter_with_parentheses_inside_strings_is_accepted():
    where = r"Name = 'a) OR (b' AND (Industry = 'it\'s')"
    assert build_where(where) == f"({where})"


def test_describe_is_cached_per_object_and_org():
    sf = FakeSalesforce()
    first = describe_object(sf, "Account")
    assert describe_object(sf, "account") is first
    assert sf.describe_calls == 1
    other_org = FakeSalesforce()
    other_org.sf_instance = "other.example"
    describe_object(other_org, "Account")
    assert other_org.describe_calls == 1


def test_unknown_object_suggests_close_names():
    with pytest.raises(UnknownObjectError, match="no object 'Contcat'; did you mean Contact"):
        describe_object(FakeSalesforce(), "Contcat")
