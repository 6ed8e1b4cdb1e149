"""sync.yaml's ``notion`` block (issue 17): the connections that write an object's pages and the
workspace's known limit, in the defaults and per object, validated at load; and the check of those
connections against what Airflow has."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sf_notion_sync.config import (
    NotionConnections,
    WorkspaceBudget,
    _Validator,
    load_config,
    notion_connection_problems,
)
from tests.unit.test_config import MINIMAL, problems_of, write

TWO_OBJECTS = MINIMAL + """\
  Contact:
    database_id: 7c9e6679742540de944be07fc1f90ae7
    salesforce_id_property: Salesforce Id
    notion: {connections: [notion_bulk_3]}
    properties:
      Name: {field: Name, type: title}
"""


def parsed(text: str):
    """The ``notion`` settings the validator reads from ``text`` (a YAML mapping), and its problems."""
    import yaml

    validator = _Validator(Path("sync.yaml"), yaml.compose(text), {})
    return validator.notion(yaml.safe_load(text), ("defaults", "notion"), NotionConnections()), validator.problems


def test_connections_and_the_workspace_budget_are_read():
    settings, problems = parsed("connections: [notion_default, notion_bulk_2]\nworkspace_budget: {requests: 450}\n")
    assert settings == NotionConnections(("notion_default", "notion_bulk_2"), WorkspaceBudget(450, 60.0))
    assert problems == []


def test_an_object_names_its_own_connections_and_inherits_the_workspace_budget(tmp_path):
    text = TWO_OBJECTS.replace("defaults:\n", "defaults:\n  notion: {workspace_budget: {requests: 900, window_s: 60}}\n")
    if text == TWO_OBJECTS:  # MINIMAL without a defaults block
        text = "defaults:\n  notion: {workspace_budget: {requests: 900, window_s: 60}}\n" + TWO_OBJECTS
    config = load_config(write(tmp_path, text), env={})
    assert config.objects["Contact"].notion == NotionConnections(("notion_bulk_3",), WorkspaceBudget(900, 60.0))
    assert config.objects["Account"].notion.connections == ("notion_default",)


def test_one_connection_notion_default_unless_told(tmp_path):
    config = load_config(write(tmp_path, MINIMAL), env={})
    assert config.objects["Account"].notion == NotionConnections(("notion_default",), None)
    assert config.defaults.notion.workspace_budget is None


def test_bad_connection_lists_are_refused_with_their_path(tmp_path):
    cases = {
        "defaults:\n  notion: {connections: [notion_default, notion_default]}\n": (
            "defaults.notion.connections.1", "listed twice"),
        "defaults:\n  notion: {connections: []}\n": ("defaults.notion.connections", "expected a list"),
        "defaults:\n  notion: {connections: notion_default}\n": ("defaults.notion.connections", "expected a list"),
        "defaults:\n  notion: {connections: ['has space']}\n": ("defaults.notion.connections.0", "connection id"),
        "defaults:\n  notion: {workspace_budget: {requests: 0}}\n": ("defaults.notion.workspace_budget.requests",
                                                                     "at least 1"),
        "defaults:\n  notion: {workspace_budget: {window_s: 60}}\n": ("defaults.notion.workspace_budget.requests",
                                                                      "required"),
        "defaults:\n  notion: {token: x}\n": ("defaults.notion.token", "unknown key"),
    }
    for text, (path, words) in cases.items():
        problem, *_ = problems_of(tmp_path, text + MINIMAL)
        assert path in problem and words in problem, (text, problem)


def test_connections_airflow_lacks_or_of_another_type_are_named(tmp_path):
    config = load_config(write(tmp_path, MINIMAL), env={})
    two = NotionConnections(("notion_default", "notion_bulk_2"))
    objects = {"Account": replace(config.objects["Account"], notion=two),
               "Contact": replace(config.objects["Account"], name="Contact", notion=NotionConnections(("notion_bulk_3",)))}
    config = replace(config, objects=objects)
    types = {"notion_default": "notion", "notion_bulk_2": "http"}
    asked: list[str] = []

    def conn_type(conn_id):
        asked.append(conn_id)
        return types.get(conn_id)

    problems = notion_connection_problems(config, conn_type)
    assert problems == [
        f"{config.path}: objects.Account.notion.connections: 'notion_bulk_2' is a connection of type 'http', "
        "not 'notion'",
        f"{config.path}: objects.Contact.notion.connections: 'notion_bulk_3' is not an Airflow connection",
    ]
    assert sorted(asked) == ["notion_bulk_2", "notion_bulk_3", "notion_default"]  # each asked once
    types["notion_bulk_2"] = types["notion_bulk_3"] = "notion"
    assert notion_connection_problems(config, types.get) == []
