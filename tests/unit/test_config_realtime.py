"""The per-object `realtime` flag: off by default, a boolean only, and only for Salesforce objects."""

from __future__ import annotations

from sf_notion_sync.config import load_config
from tests.unit.test_config import MINIMAL, problems_of, write


def test_realtime_is_off_unless_asked(tmp_path):
    assert load_config(write(tmp_path, MINIMAL), env={}).objects["Account"].realtime is False
    enabled = load_config(write(tmp_path, MINIMAL + "    realtime: true\n"), env={})
    assert enabled.objects["Account"].realtime is True


def test_realtime_must_be_a_boolean(tmp_path):
    problems = problems_of(tmp_path, MINIMAL + "    realtime: sometimes\n")
    assert any("objects.Account.realtime" in p and "expected" in p for p in problems), problems


def test_external_objects_have_no_realtime(tmp_path):
    problems = problems_of(tmp_path, """\
        objects:
          Ticket:
            source: external
            database_id: 0f8fad5b-d9cb-469f-a165-70867728950e
            id_property: Ticket Id
            realtime: true
            properties:
              Name: {field: name, type: title}
        """)
    assert any("objects.Ticket.realtime" in p and "unknown key" in p for p in problems), problems
