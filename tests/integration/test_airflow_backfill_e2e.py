"""`airflow backfill create` over the incremental DAG under the real scheduler, with a live run beside it.

A backfill needs a timetable, and the session's Airflow has none (every schedule null, so that no run
fires mid-test). This module starts an Airflow of its own with the shipped `*/15` timetables and a
scheduler that creates no scheduled run (`use_job_schedule` False; it stops asset-triggered runs too,
which the extending e2e needs: hence a stack of its own): every run is one the test started, wherever
the wall clock is, and a backfill has data intervals. The Salesforce emulator's clock is set back into
a 15-minute interval that ended at least 30 minutes ago: records changed (and one deleted) there are
inside it, records changed five minutes after it are outside. The backfill, with
`force`, must re-read exactly the inside ones and rewrite them, apply the delete, move no cursor and
chain nothing; a live incremental run started at the same time must leave Notion equal to Salesforce,
with one page per record, and own the watermark alone.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from sf_notion_sync.state.db import make_engine
from sf_notion_sync.state.store import StateStore
from tests.integration._airflow_stack import AirflowStack
from tests.integration.test_airflow_incremental_e2e import (
    INCREMENTAL,
    _control,
    _mutate,
    _pages,
    _run,
    assert_notion_mirrors_salesforce,
)

pytestmark = pytest.mark.airflow_e2e

INTERVAL = timedelta(minutes=15)
"""The shipped incremental schedule of Account, `*/15 * * * *`, as data intervals."""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowStack]:
    with AirflowStack.running(tmp_path_factory.mktemp("airflow-backfill"), timetables=True) as started:
        started.fresh(tmp_path_factory.mktemp("backfill-state"))
        yield started


def _set_salesforce_clock(sandbox, at: datetime | None) -> None:
    _control(sandbox.salesforce_url, "PATCH", "/_sandbox/config", {"now": at.isoformat() if at else None},
             verify=ssl.create_default_context(cafile=sandbox.ca_bundle))


LOCKED_ATTEMPTS = 3
"""`airflow backfill create` on the SQLite metastore may meet "database is locked" while the scheduler writes
(a 2-core host, the suite's other worker busy): its transaction rolled back, so asking again is safe."""


def _backfill_run(airflow, start: datetime, conf: dict) -> str:
    args = ("backfill", "create", "--dag-id", INCREMENTAL, "--from-date", start.isoformat(),
            "--to-date", start.isoformat(), "--dag-run-conf", json.dumps(conf))
    for attempt in range(1, LOCKED_ATTEMPTS + 1):
        try:
            airflow.airflow(*args)
            break
        except RuntimeError as exc:
            if "database is locked" not in str(exc) or attempt == LOCKED_ATTEMPTS:
                raise
    runs = airflow.api("GET", f"/dags/{INCREMENTAL}/dagRuns?run_type=backfill")["dag_runs"]
    assert len(runs) == 1, runs
    assert runs[0]["data_interval_start"].startswith(start.strftime("%Y-%m-%dT%H:%M:%S")), runs[0]
    return runs[0]["dag_run_id"]


def _patched_pages(sandbox, since: float) -> set[str]:
    log = _control(sandbox.notion_url, "GET", f"/_sandbox/requests?since={since}")
    return {r["path"].rsplit("/", 1)[-1] for r in log if r["method"] == "PATCH" and r["status"] < 300}


def test_backfill_with_force_beside_a_live_run(stack: AirflowStack, monkeypatch):
    airflow, airflow_sandbox = stack.airflow, stack.sandbox
    _run(airflow, INCREMENTAL)  # the first run: every page, and both cursors
    store = StateStore(make_engine(stack.state_url))
    now = datetime.now(UTC)
    start = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0) - 3 * INTERVAL
    _set_salesforce_clock(airflow_sandbox, start + timedelta(minutes=1))
    inside = _mutate(airflow_sandbox, update=6, delete=1)
    _set_salesforce_clock(airflow_sandbox, start + INTERVAL + timedelta(minutes=5))
    outside = _mutate(airflow_sandbox, update=6)
    _set_salesforce_clock(airflow_sandbox, None)
    pages_before, at = _pages(airflow_sandbox), time.time()

    backfill = _backfill_run(airflow, start, {"force": True})
    live = airflow.trigger(INCREMENTAL)
    assert airflow.wait_for_run(INCREMENTAL, backfill, timeout=300) == "success"
    assert airflow.wait_for_run(INCREMENTAL, live, timeout=300) == "success"

    summary = store.get_run(backfill).summary
    assert summary["kind"] == "resync" and summary["watermark"] is None
    assert (summary["total"], summary["updated"], summary["trashed"], summary["created"]) == (7, 6, 1, 0), summary
    assert summary["deletes"]["checked"] is True and summary["deletes"]["found"] == 1
    chain = {ti["task_id"]: ti["state"] for ti in airflow.task_instances(INCREMENTAL, backfill)}
    assert chain["trigger_next"] == "skipped" and chain["wait_for_budget"] == "skipped", chain
    runs = airflow.api("GET", f"/dags/{INCREMENTAL}/dagRuns?limit=50")["dag_runs"]
    assert {r["dag_run_id"] for r in runs if (r.get("conf") or {}).get("chained_from")} == set()

    changed = {pages_before[i]["id"] for i in [*inside["updated"], *inside["deleted"], *outside["updated"]]}
    assert {pages_before[i]["id"] for i in inside["updated"]} <= _patched_pages(airflow_sandbox, at) <= changed
    watermark = store.get_watermark("Account")
    assert watermark.ids_at_value <= set(outside["updated"]), "the live run alone moves the watermark"
    assert watermark.value >= start + INTERVAL
    assert len(_pages(airflow_sandbox)) == len(pages_before), "a page per record, none more"
    assert_notion_mirrors_salesforce(airflow_sandbox, stack.state_url, set(inside["deleted"]), monkeypatch)
