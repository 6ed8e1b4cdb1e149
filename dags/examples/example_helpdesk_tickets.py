"""Example DAG: extend the sync without editing the package (loaded only with SF_NOTION_SYNC_EXAMPLES=1).

It uses the three extension points together:
* it is scheduled on the Notion database of Accounts (an Airflow asset): it runs after every sync DAG
  run that wrote it, and reads that run's counts from the asset event;
* a Python task reads a helpdesk export (a CSV, not Salesforce) into dicts keyed by ``ticket_id``;
* NotionUpsertOperator writes them to the SupportTicket database declared in sync.yaml with
  ``source: external``, whose Priority property is computed by a transform, and whose Account
  relation points at the synced Account pages; it emits the tickets database's own asset event.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

from sf_notion_sync.examples import examples_enabled

DAG_ID = "sf_notion_example__helpdesk_tickets"

if examples_enabled():
    from sf_notion_sync.airflow.assets import object_asset
    from sf_notion_sync.airflow.upsert_operator import NotionUpsertOperator
    from sf_notion_sync.config import REPO_ROOT, load_config

    TICKETS_CSV = REPO_ROOT / "include" / "examples" / "helpdesk_tickets.csv"
    config = load_config()
    accounts, tickets = config.objects["Account"], config.objects["SupportTicket"]

    @task(task_id="read_tickets")
    def read_tickets(**context: Any) -> list[dict[str, str]]:
        """The non-Salesforce source: a few rows, so XCom may carry them (a large source stages itself)."""
        for event in context["triggering_asset_events"].get(object_asset(accounts), []):
            print(f"after {event.source_dag_id} run {event.extra.get('run_id')}: {event.extra}")
        with TICKETS_CSV.open(newline="", encoding="utf-8") as handle:
            return [dict(row) for row in csv.DictReader(handle)]

    with DAG(
        dag_id=DAG_ID,
        description="Example: helpdesk tickets into Notion after each Account sync",
        schedule=[object_asset(accounts)],
        start_date=datetime(2024, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        default_args={"owner": "data-engineering", "retries": 1, "retry_delay": timedelta(seconds=30)},
        tags=["example", "notion", "SupportTicket"],
        doc_md=__doc__,
    ):
        NotionUpsertOperator(task_id="upsert_tickets", object_name=tickets.name, records=read_tickets(),
                             outlets=[object_asset(tickets)])
