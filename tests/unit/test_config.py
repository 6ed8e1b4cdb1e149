"""The mapping config: the shipped file loads, and every kind of mistake names file, line, YAML path, problem."""

from __future__ import annotations

import json
import textwrap
from dataclasses import FrozenInstanceError, replace
from pathlib import Path

import pytest

from sf_notion_sync.config import (
    CONFIG_ENV,
    ConfigError,
    config_path,
    load_config,
    mapping_version,
    pool_slots,
)

ROOT = Path(__file__).resolve().parents[2]
DB_ENV = {
    "NOTION_DB_ACCOUNT": "0f8fad5b-d9cb-469f-a165-70867728950e",
    "NOTION_DB_CONTACT": "7c9e6679742540de944be07fc1f90ae7",
    "NOTION_DB_OPPORTUNITY": "16fd2706-8baf-433b-82eb-8c7fada847da",
}
MINIMAL = """\
objects:
  Account:
    database_id: 0f8fad5b-d9cb-469f-a165-70867728950e
    salesforce_id_property: Salesforce Id
    properties:
      Name: {field: Name, type: title}
      Website: {field: Website, type: url}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sync.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def problems_of(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env or {})
    assert all(p.startswith(f"{path}:") for p in info.value.problems), info.value.problems
    return info.value.problems


def test_shipped_config_loads_with_sandbox_database_ids():
    config = load_config(ROOT / "include" / "config" / "sync.yaml", env=DB_ENV)
    assert [o.name for o in config.salesforce_objects()] == ["Account", "Contact", "Opportunity"]
    assert [o.name for o in config.enabled_objects()] == ["Account", "Contact", "Opportunity", "SupportTicket"]
    account, contact = config.objects["Account"], config.objects["Contact"]
    assert account.database_id == DB_ENV["NOTION_DB_ACCOUNT"]
    assert account.fields[:3] == ("Id", "SystemModstamp", "Name") and "Website" in account.fields
    assert account.title_property == "Name" and account.salesforce_id_property == "Salesforce Id"
    assert account.schedules.full is None and account.schedules.incremental == "*/15 * * * *"
    assert config.objects["Opportunity"].schedules.incremental == "*/30 * * * *"
    assert [p.related_object for p in contact.properties if p.type == "relation"] == ["Account"]
    assert config.objects["Opportunity"].delete_policy == "ignore"
    assert config.retry.schedule == "@hourly" and config.defaults.max_map_length == 1024
    with pytest.raises(FrozenInstanceError):
        account.enabled = False  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.objects["Lead"] = account  # type: ignore[index]


def test_defaults_fill_what_an_object_leaves_out(tmp_path):
    config = load_config(write(tmp_path, MINIMAL), env={})
    account = config.objects["Account"]
    assert account.enabled and account.delete_policy == "trash" and account.where is None
    assert account.batch_size == config.defaults.batch_size
    assert account.schedules.incremental == "*/15 * * * *" and account.extraction.bulk_threshold == 10_000
    assert account.fields == ("Id", "SystemModstamp", "Name", "Website")
    assert config.defaults.retry.max_attempts == 8 and config.defaults.max_map_length == 1024
    assert config.defaults.usage.retention_days == 90
    thresholds = account.alerts.thresholds  # the 1% failed-run alert is the default
    assert (thresholds.record_failures, thresholds.rate_limited_share, thresholds.run_failure_pct) == (3, 0.05, 1.0)


def test_usage_retention_and_alerts_are_configurable(tmp_path):
    text = "defaults:\n  usage: {retention_days: 14}\n  alerts: {thresholds: {run_failure_pct: 2.5}}\n" + MINIMAL
    config = load_config(write(tmp_path, text), env={})
    assert config.defaults.usage.retention_days == 14
    assert config.objects["Account"].alerts.thresholds.run_failure_pct == 2.5
    (problem,) = problems_of(tmp_path, "defaults:\n  usage: {retention_days: 0}\n" + MINIMAL)
    assert "defaults.usage.retention_days" in problem


def test_config_path_follows_the_env_var(monkeypatch, tmp_path):
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "other.yaml"))
    assert config_path() == tmp_path / "other.yaml"
    monkeypatch.delenv(CONFIG_ENV)
    assert config_path() == ROOT / "include" / "config" / "sync.yaml"


def test_env_substitution_with_fallback(tmp_path):
    text = MINIMAL.replace("0f8fad5b-d9cb-469f-a165-70867728950e", "${DB:-0f8fad5bd9cb469fa16570867728950e}")
    text += "    where: \"Type = '${TYPE}'\"\n"
    config = load_config(write(tmp_path, text), env={"TYPE": "Customer"})
    assert config.objects["Account"].database_id == "0f8fad5bd9cb469fa16570867728950e"
    assert config.objects["Account"].where == "Type = 'Customer'"


def test_mapping_version_is_stable_and_follows_the_mapping(tmp_path):
    account = load_config(write(tmp_path, MINIMAL), env={}).objects["Account"]
    again = load_config(write(tmp_path, MINIMAL), env={}).objects["Account"]
    assert mapping_version(account) == mapping_version(again) == account.mapping_version
    assert len(account.mapping_version) == 16
    assert (
        mapping_version(replace(account, batch_size=replace(account.batch_size, max=7)))
        == account.mapping_version
    )
    retyped = replace(
        account, properties=(account.properties[0], replace(account.properties[1], type="rich_text"))
    )
    assert mapping_version(retyped) != account.mapping_version


def test_retry_policy_backs_off_exponentially_within_cap_and_jitter(tmp_path):
    policy = load_config(write(tmp_path, MINIMAL), env={}).defaults.retry
    assert [policy.delay(n, rand=lambda: 0.5) for n in (1, 2, 3)] == [60.0, 120.0, 240.0]
    assert policy.delay(30, rand=lambda: 0.5) == policy.cap_seconds
    assert policy.delay(1, rand=lambda: 1.0) == pytest.approx(66.0)


def test_pool_file_declares_notion_api(tmp_path):
    assert pool_slots("notion_api") == 4
    data = json.loads((ROOT / "include" / "pools.json").read_text())
    assert data["notion_api"]["include_deferred"] is False and data["notion_api"]["description"]
    with pytest.raises(ConfigError, match="nope.slots"):
        pool_slots("nope")


# --- each kind of error --------------------------------------------------------------------------


def test_malformed_yaml_names_line_and_column(tmp_path):
    (problem,) = problems_of(tmp_path, MINIMAL + "    broken: [unclosed\n")
    assert ":9:" in problem and "malformed YAML" in problem


def test_unknown_key(tmp_path):
    (problem,) = problems_of(tmp_path, MINIMAL + "    delete_polcy: trash\n")
    assert ":8: objects.Account.delete_polcy: unknown key" in problem


def test_wrong_type(tmp_path):
    (problem,) = problems_of(tmp_path, MINIMAL + "    batch_size: {min: lots, max: 10}\n")
    assert ":8: objects.Account.batch_size.min: expected an integer, got a string 'lots'" in problem
    (problem,) = problems_of(tmp_path, MINIMAL + "    enabled: 'yes'\n")
    assert "objects.Account.enabled: expected a boolean" in problem
    (problem,) = problems_of(tmp_path, MINIMAL.replace("{field: Website, type: url}", "Website"))
    assert "objects.Account.properties.Website: expected a mapping, got a string" in problem


def test_unknown_notion_type(tmp_path):
    (problem,) = problems_of(tmp_path, MINIMAL.replace("type: url", "type: link"))
    assert ":7: objects.Account.properties.Website.type: unknown Notion type 'link'" in problem


def test_missing_required_field(tmp_path):
    (problem,) = problems_of(tmp_path, MINIMAL.replace("    salesforce_id_property: Salesforce Id\n", ""))
    assert ":3: objects.Account.salesforce_id_property: required key is missing" in problem
    (problem,) = problems_of(tmp_path, MINIMAL.replace("{field: Website, type: url}", "{type: url}"))
    assert "objects.Account.properties.Website.field: required key is missing" in problem


def test_env_var_not_set(tmp_path):
    (problem,) = problems_of(
        tmp_path, MINIMAL.replace("0f8fad5b-d9cb-469f-a165-70867728950e", "${NOTION_DB_ACCOUNT}")
    )
    assert ":3: objects.Account.database_id: environment variable NOTION_DB_ACCOUNT is not set" in problem


def test_semantic_mistakes_are_all_reported_together(tmp_path):
    problems = problems_of(
        tmp_path,
        """\
        defaults:
          retry: {jitter: 2}
          schedules: {incremental: every hour}
        objects:
          Account:
            database_id: not-an-id
            salesforce_id_property: Name
            delete_policy: purge
            properties:
              Name: {field: Name, type: title}
              Owner: {field: Owner Id, type: relation, related_object: User}
              Site: {field: Site, type: url, related_object: Account}
              Other: {field: Name, type: title}
        """,
    )
    text = "\n".join(problems)
    for expected in (
        "defaults.retry.jitter: must be between 0 and 1",
        "defaults.schedules.incremental: expected a 5-field cron expression",
        "objects.Account.database_id: expected a Notion database id",
        "objects.Account.salesforce_id_property: 'Name' is also a mapped property",
        "objects.Account.delete_policy: expected one of trash, ignore",
        "objects.Account.properties.Owner.field: not a Salesforce field name",
        "objects.Account.properties.Owner.related_object: 'User' is not an object in this config",
        "objects.Account.properties.Site.related_object: only a relation property takes related_object",
        "objects.Account.properties: exactly one property must have type title, found 2",
    ):
        assert expected in text
    assert len(problems) == 9


def test_duplicate_keys_and_missing_file(tmp_path):
    problems = problems_of(tmp_path, MINIMAL + "    enabled: true\n    enabled: false\n")
    assert any(":9: objects.Account.enabled: duplicate key" in p for p in problems)
    with pytest.raises(ConfigError, match="cannot read the sync config"):
        load_config(tmp_path / "absent.yaml")


def test_batch_size_bounds_must_be_ordered(tmp_path):
    (problem,) = problems_of(tmp_path, MINIMAL + "    batch_size: {min: 500, max: 100}\n")
    assert ":8: objects.Account.batch_size: min (500) is greater than max (100)" in problem
