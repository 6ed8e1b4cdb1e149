"""Staged form of a record: built properties, a hash that follows what would be written, errors kept."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from sf_notion_sync.config import load_config
from sf_notion_sync.notion.constants import MAX_RICH_TEXT_ITEMS, MAX_TEXT_CONTENT
from sf_notion_sync.notion.properties import KIND_TRUNCATED, KIND_URL_SCHEME
from sf_notion_sync.state.db import make_engine, upgrade
from sf_notion_sync.state.rows import RecordMapEntry
from sf_notion_sync.state.store import StateStore
from sf_notion_sync.sync.context import SyncContext
from sf_notion_sync.sync.mapping import ERROR_KEY, NOTES_KEY, PROPERTIES_KEY, WARNINGS_KEY, RecordBuilder

CONFIG = """
objects:
  Account:
    database_id: "00000000000000000000000000000001"
    salesforce_id_property: Salesforce Id
    properties:
      Name: {field: Name, type: title}
  Contact:
    database_id: "00000000000000000000000000000002"
    salesforce_id_property: Salesforce Id
    properties:
      Name: {field: Name, type: title}
      Email: {field: Email, type: email}
      Account: {field: AccountId, type: relation, related_object: Account}
      Website: {field: Website, type: url}
      Notes: {field: Description, type: rich_text}
"""
STAMP = "2025-01-02T03:04:05.000+0000"


@pytest.fixture
def builder(tmp_path: Path) -> RecordBuilder:
    (tmp_path / "sync.yaml").write_text(CONFIG)
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    upgrade(engine)
    store = StateStore(engine)
    now = datetime.now(UTC)
    store.upsert_record_map([RecordMapEntry("Account", "001A", "page-a", "h", None, now, "v")])
    ctx = SyncContext(load_config(tmp_path / "sync.yaml"), "Contact", store, object(), object(), "run")
    return RecordBuilder(ctx)


def contact(**fields: object) -> dict:
    return {"Id": "003X", "SystemModstamp": STAMP, "Name": "Ada", "Email": "ada@example.com", "AccountId": None,
            **fields}


def test_properties_include_the_salesforce_id_and_resolved_relations(builder: RecordBuilder) -> None:
    [staged] = builder.stage([contact(AccountId="001A")])
    properties = staged.payload[PROPERTIES_KEY]
    assert properties["Salesforce Id"]["rich_text"][0]["text"]["content"] == "003X"
    assert properties["Account"] == {"relation": [{"id": "page-a"}]}
    assert staged.system_modstamp == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_hash_follows_the_written_content_only(builder: RecordBuilder) -> None:
    a, same, changed, unsynced_account = builder.stage([
        contact(), contact(SystemModstamp="2026-01-01T00:00:00.000+0000"), contact(Name="Ada L."),
        contact(AccountId="001UNSYNCED"),
    ])
    assert a.content_hash == same.content_hash  # a new stamp alone writes nothing new
    assert a.content_hash != changed.content_hash
    assert unsynced_account.content_hash == a.content_hash  # empty until the Account page exists


def test_a_value_notion_would_reject_is_staged_as_an_error(builder: RecordBuilder) -> None:
    [staged] = builder.stage([contact(Email="not-an-email")])
    assert PROPERTIES_KEY not in staged.payload
    error = staged.payload[ERROR_KEY]
    assert error["property"] == "Email" and "not-an-email" not in error["message"]  # no personal data


def test_cut_values_are_warnings_and_normalised_ones_notes(builder: RecordBuilder) -> None:
    too_long = "x" * (MAX_RICH_TEXT_ITEMS * MAX_TEXT_CONTENT + 1)
    [staged] = builder.stage([contact(Website="www.example.com", Description=too_long)])
    [warning] = staged.payload[WARNINGS_KEY]
    [note] = staged.payload[NOTES_KEY]
    assert warning["kind"] == KIND_TRUNCATED and warning["property"] == "Notes" and "truncated" in warning["message"]
    assert note == {"kind": KIND_URL_SCHEME, "property": "Website", "message": "URL had no scheme; https:// added"}
    [plain] = builder.stage([contact(Website="https://www.example.com", Description=too_long)])
    assert plain.content_hash == staged.content_hash  # the notes are not part of what is written


def test_mapping_version_is_part_of_the_hash(builder: RecordBuilder, tmp_path: Path) -> None:
    before = builder.stage([contact()])[0].content_hash
    (tmp_path / "sync.yaml").write_text(CONFIG.replace("Email: {field: Email", "E-mail: {field: Email"))
    ctx = builder.ctx
    other = SyncContext(load_config(tmp_path / "sync.yaml"), "Contact", ctx.store, object(), object(), "run")
    assert RecordBuilder(other).stage([contact()])[0].content_hash != before


def test_an_unsynced_relation_is_a_note_not_a_log_line(builder: RecordBuilder, caplog) -> None:
    with caplog.at_level("INFO"):
        [staged] = builder.stage([contact(AccountId="001UNSYNCED")])
    [note] = staged.payload[NOTES_KEY]
    assert note["kind"] == "relation_not_synced" and note["property"] == "Account" and "001UNSYNCED" in note["message"]
    assert not caplog.records  # counted by the batch, one line per kind
