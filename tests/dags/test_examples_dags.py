"""The DAG folder with the examples on (SF_NOTION_SYNC_EXAMPLES=1): every integrity check again, and the
example DAG scheduled on the Account database's asset; with them off, the example file defines nothing."""

from __future__ import annotations

import pytest

from sf_notion_sync.airflow.assets import object_asset
from sf_notion_sync.config import load_config
from sf_notion_sync.examples import EXAMPLES_ENV, examples_enabled
from tests.dags.test_dag_integrity import *  # noqa: F403 -- the same checks, on the folder with the examples
from tests.dags.test_dag_integrity import DAGS_FOLDER

EXAMPLE = "sf_notion_example__helpdesk_tickets"


@pytest.fixture(scope="module", autouse=True)
def examples_on():
    """Before the module's dagbag (autouse fixtures come first in their scope)."""
    patch = pytest.MonkeyPatch()
    patch.setenv(EXAMPLES_ENV, "1")
    yield
    patch.undo()


def test_the_example_runs_after_account_syncs_and_upserts_tickets(dagbag) -> None:  # noqa: F811
    bag, _ = dagbag
    dag = bag.dags[EXAMPLE]
    config = load_config()
    assert list(dag.timetable.asset_condition.objects) == [object_asset(config.objects["Account"])]
    upsert = dag.get_task("upsert_tickets")
    assert type(upsert).__name__ == "NotionUpsertOperator" and upsert.object_name == "SupportTicket"
    assert upsert.outlets == [object_asset(config.objects["SupportTicket"])]
    assert dag.get_task("read_tickets").downstream_task_ids == {"upsert_tickets"}


def test_with_the_examples_off_the_example_file_defines_no_dag(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.delenv(EXAMPLES_ENV)
    assert not examples_enabled() and examples_enabled({EXAMPLES_ENV: "true"})
    bag = DagBag(dag_folder=str(DAGS_FOLDER / "examples"), safe_mode=False)
    assert bag.import_errors == {} and bag.dag_ids == []
