"""NotionUpsertOperator's arguments: one source of records, the Notion pool, the templated fields."""

from __future__ import annotations

import pytest

from sf_notion_sync.airflow.upsert_operator import NotionUpsertOperator
from sf_notion_sync.config import NOTION_POOL


@pytest.mark.parametrize("given", [{}, {"records": [], "staging_run_id": "run-1"}])
def test_exactly_one_source_of_records(given: dict) -> None:
    with pytest.raises(ValueError, match="upsert: give exactly one of records and staging_run_id"):
        NotionUpsertOperator(task_id="upsert", object_name="SupportTicket", **given)


def test_it_writes_in_the_notion_pool_and_renders_its_inputs() -> None:
    op = NotionUpsertOperator(task_id="upsert", object_name="SupportTicket", staging_run_id="{{ run_id }}")
    assert op.pool == NOTION_POOL
    assert {"records", "staging_run_id", "object_name"} <= set(op.template_fields)
