"""The per-object `realtime` flag: off by default, a boolean only, and only for Salesforce objects."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sf_notion_sync.config import ConfigError, load_config

OBJECT = """\
objects:
  Account:
    database_id: 0f8fad5b-d9cb-469f-a165-70867728950e
    salesforce_id_property: Salesforce Id
    properties:
      Name: {{field: Name, type: title}}
{extra}
"""


def _load(tmp_path: Path, extra: str):
    path = tmp_path / "sync.yaml"
    path.write_text(textwrap.dedent(OBJECT.format(extra=extra)))
    return load_config(path, env={})


def test_realtime_is_off_unless_asked(tmp_path):
    assert _load(tmp_path, "").objects["Account"].realtime is False
    assert _load(tmp_path, "    realtime: true").objects["Account"].realtime is True


def test_realtime_must_be_a_boolean(tmp_path):
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, "    realtime: sometimes")
    assert any("objects.Account.realtime" in p and "expected" in p for p in info.value.problems), info.value.problems


def test_external_objects_have_no_realtime(tmp_path):
    path = tmp_path / "sync.yaml"
    path.write_text(textwrap.dedent("""\
        objects:
          Ticket:
            source: external
            database_id: 0f8fad5b-d9cb-469f-a165-70867728950e
            id_property: Ticket Id
            realtime: true
            properties:
              Name: {field: name, type: title}
        """))
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert any("objects.Ticket.realtime" in p and "unknown key" in p for p in info.value.problems), info.value.problems
