"""Objects of another source (``source: external``): their config keys, and how their records are staged."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sf_notion_sync.config import ConfigError, load_config
from sf_notion_sync.state.db import make_engine, upgrade
from sf_notion_sync.state.store import StateStore
from sf_notion_sync.sync.context import KIND_RECORDS, SyncContext
from sf_notion_sync.sync.external import stage_external, upsert_staged
from sf_notion_sync.sync.mapping import PROPERTIES_KEY

CONFIG = """\
objects:
  Account:
    database_id: 0f8fad5b-d9cb-469f-a165-70867728950e
    salesforce_id_property: Salesforce Id
    properties:
      Name: {field: Name, type: title}
  Ticket:
    source: external
    database_id: 7c9e6679742540de944be07fc1f90ae7
    id_property: Ticket Id
    id_field: key
    modified_field: changed
    properties:
      Subject: {field: subject line, type: title}
      Account: {field: account, type: relation, related_object: Account}
"""


def load(tmp_path: Path, text: str = CONFIG):
    path = tmp_path / "sync.yaml"
    path.write_text(textwrap.dedent(text))
    return load_config(path, env={})


def test_an_external_object_has_its_id_keys_and_no_salesforce_dags(tmp_path: Path) -> None:
    config = load(tmp_path)
    ticket = config.objects["Ticket"]
    assert (ticket.source, ticket.id_field, ticket.modified_field, ticket.deleted_field) == (
        "external", "key", "changed", None)
    assert ticket.salesforce_id_property == "Ticket Id"  # the property the record's id is written to
    assert [o.name for o in config.salesforce_objects()] == ["Account"]
    assert config.objects["Account"].id_field == "Id"


@pytest.mark.parametrize(
    ("change", "says"),
    [(("    id_property: Ticket Id\n", "    salesforce_id_property: Ticket Id\n"),
      ":10: objects.Ticket.salesforce_id_property: unknown key"),
     (("    id_field: key\n", "    id_field: key\n    where: \"x = 1\"\n"), "objects.Ticket.where: unknown key"),
     (("    id_property: Ticket Id\n", ""), "objects.Ticket.id_property: required key is missing"),
     (("source: external", "source: kafka"), ":8: objects.Ticket.source: expected one of salesforce, external"),
     (("    id_field: key\n", "    id_field: key\n    schedules: {full: null}\n"),
      "objects.Ticket.schedules: unknown key")],
)  # fmt: skip
def test_external_keys_are_checked(tmp_path: Path, change: tuple[str, str], says: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, CONFIG.replace(*change))
    assert any(says in p for p in info.value.problems), info.value.problems


@pytest.fixture
def ctx(tmp_path: Path) -> SyncContext:
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    upgrade(engine)
    return SyncContext(load(tmp_path), "Ticket", StateStore(engine), object(), object(), "run-1", dag_id="d")


def test_records_are_staged_by_their_id_field_with_their_change_time(ctx: SyncContext) -> None:
    changed = datetime(2026, 11, 2, 9, 15, tzinfo=UTC)
    result = stage_external(ctx, iter([
        {"key": "T-1", "subject line": "Login fails", "changed": "2026-11-02T09:15:00Z", "IsDeleted": True},
        {"key": 2, "subject line": "Slow", "changed": changed.replace(tzinfo=None)},
    ]))
    assert result == {"run_id": "run-1", "object": "Ticket", "staged": 2}
    first, second = ctx.store.iter_staging("run-1")
    assert (first.sf_id, second.sf_id) == ("T-1", "2")
    assert first.system_modstamp == second.system_modstamp == changed
    assert not first.is_deleted  # an external object has no deleted field: IsDeleted is just data
    assert first.payload[PROPERTIES_KEY]["Ticket Id"]["rich_text"][0]["text"]["content"] == "T-1"
    run = ctx.store.get_run("run-1")
    assert run.kind == KIND_RECORDS and run.total == 2


@pytest.mark.parametrize(
    ("records", "says"),
    [([{"key": "T-1"}, "not a dict"], "Ticket record #1: expected a mapping of field to value, got a str"),
     ([{"subject line": "no id"}], "Ticket record #0: field 'key' (the object's id_field) must be a non-empty"),
     ([{"key": "  "}], "Ticket record #0: field 'key'"),
     ([{"key": "T-1"}, {"key": "T-1"}], "Ticket record #1: id 'T-1' was given already as record #0"),
     ([{"key": "T-1", "changed": "last week"}], "record T-1: field 'changed' is not an ISO 8601 date-time")],
)  # fmt: skip
def test_bad_records_stop_the_staging_naming_the_record(ctx: SyncContext, records: list, says: str) -> None:
    with pytest.raises(ValueError, match="^" + says.replace("(", r"\(").replace(")", r"\)")):
        stage_external(ctx, records)


def test_only_an_external_object_takes_records(ctx: SyncContext) -> None:
    account = SyncContext(ctx.config, "Account", ctx.store, object(), object(), "run-2")
    with pytest.raises(ValueError, match="Account is read from Salesforce"):
        stage_external(account, [{"Id": "001"}])


def test_a_relation_value_must_be_one_id(ctx: SyncContext) -> None:
    stage_external(ctx, [{"key": "T-1", "subject line": "Two accounts", "account": ["001A", "001B"]}])
    [staged] = ctx.store.iter_staging("run-1")
    error = staged.payload["error"]
    assert error["code"] == "invalid_property" and error["property"] == "Account"
    assert "a relation takes the id of one related record" in error["message"]


def test_an_empty_source_is_a_successful_run_without_a_request(ctx: SyncContext) -> None:
    assert stage_external(ctx, iter([]))["staged"] == 0
    progress = upsert_staged(ctx)  # the context's Notion client is a bare object(): any request would fail
    assert progress["done"] and progress["summary"]["status"] == "success"
    assert (progress["summary"]["total"], progress["summary"]["notion_requests"]) == (0, 0)
