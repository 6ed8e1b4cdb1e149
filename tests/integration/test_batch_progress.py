"""A batch's task log against the real emulators: progress lines at the interval, one line per kind of
changed value instead of one per record, and the lossy changes and per-minute metrics stored."""

from __future__ import annotations

import logging
import re

import pytest

from sf_notion_sync.notion.properties import KIND_CLEARED, KIND_URL_SCHEME
from sf_notion_sync.sync.progress import eta_seconds
from tests.integration.test_sync_engine_e2e import (  # noqa: F401 - sandbox is a fixture
    ACCOUNT_DB,
    Sandbox,
    _invalid_email,
    make_store,
    run_sync,
    sandbox,
)

INTERVAL_S = 0.15
LATENCY_MS = 40
"""Per Notion request: 100 records on four threads take about a second, several intervals."""
PROGRESS = re.compile(r"batch 0: (\d+) / 100 records \(\d+%\) · [\d.]+ records/s · Notion [\d.]+ req/s of [\d.]+ budget "
                      r"\(\d+%\) · 429s \d+ · ETA batch (\S+ ?\S*), run (\S+ ?\S*)$")


@pytest.mark.parametrize("sandbox", [100], indirect=True)
def test_progress_lines_at_the_interval_and_changes_once_per_kind(sandbox: Sandbox, caplog) -> None:  # noqa: F811
    sandbox.notion_config({"latency_median_ms": LATENCY_MS, "latency_p95_ms": LATENCY_MS * 2})
    store = make_store(sandbox.state_url)
    with caplog.at_level(logging.INFO, logger="sf_notion_sync"):
        summary = run_sync(sandbox, store, "run-progress", batch_size=100, progress_interval_s=INTERVAL_S)
    assert summary["created"] == 100 and summary["status"] == "success"

    lines = [r for r in caplog.records if r.name == "sf_notion_sync.sync.progress"]
    assert len(lines) >= 4, [r.getMessage() for r in lines]
    done = []
    for record in lines:
        match = PROGRESS.search(record.getMessage())
        assert match, record.getMessage()
        done.append(int(match[1]))
    assert done == sorted(done) and done[-1] == 100 and done[0] < 100
    gaps = [b.created - a.created for a, b in zip(lines, lines[1:-1], strict=False)]  # the last one is at the end
    assert min(gaps) >= INTERVAL_S * 0.9, gaps

    schemeless = [r["Id"] for r in sandbox.salesforce().query_all_iter("SELECT Id, Website FROM Account")
                  if r["Website"] and "://" not in r["Website"]]
    assert schemeless, "the generated data has Websites without a scheme"
    per_record = [r for r in caplog.records if r.levelno == logging.INFO and any(i in r.getMessage() for i in schemeless)
                  and KIND_URL_SCHEME not in r.getMessage()]
    assert per_record == []  # no INFO line per record
    [kind_line] = [r.getMessage() for r in caplog.records if KIND_URL_SCHEME in r.getMessage()]
    assert f"{KIND_URL_SCHEME} in {len(schemeless)} value(s) (Website {len(schemeless)})" in kind_line
    assert sum(i in kind_line for i in schemeless) == min(3, len(schemeless))  # a few example Ids

    minutes = store.run_minutes(["run-progress"])["run-progress"]
    assert sum(m["records"] for m in minutes) == 100
    assert sum(m["notion_requests"] for m in minutes) == summary["notion_requests"]
    assert store.lossy_summary("run-progress") == []  # a scheme added loses nothing: counted, not kept
    seen = store.last_preflight("Account")  # what the configuration page puts beside the mapping
    assert seen.properties == {name: spec["type"] for name, spec in ACCOUNT_DB.items()} and seen.problems == []
    assert seen.data_source_id == sandbox.data_source_id


def test_each_lossy_change_is_kept_per_record(sandbox: Sandbox, caplog) -> None:  # noqa: F811
    """Contacts whose email Notion would refuse, cleared under on_invalid "null": one row per record."""
    store = make_store(sandbox.state_url)
    contacts = sandbox.salesforce().query_all_iter("SELECT Id, Email FROM Contact")
    invalid = sorted(r["Id"] for r in contacts if _invalid_email(r["Email"]))
    assert invalid, "the generator should produce some invalid emails"
    with caplog.at_level(logging.INFO, logger="sf_notion_sync"):
        summary = run_sync(sandbox, store, "contacts", object_name="Contact", on_invalid="null")
    assert summary["failed"] == 0
    [row] = store.lossy_summary("contacts")
    assert (row["property"], row["kind"], row["records"]) == ("Email", KIND_CLEARED, len(invalid))
    assert len(row["examples"]) == min(3, len(invalid)) and set(row["examples"]) <= set(invalid)
    cleared = [r for r in caplog.records if KIND_CLEARED in r.getMessage()]
    assert cleared and all(r.levelno == logging.WARNING for r in cleared)  # one a batch, not one a record
    assert len(cleared) <= summary["total"] // 50
    for line in cleared:
        examples = line.getMessage().split("e.g. ")[1].split(", ")
        assert 1 <= len(examples) <= 3 and set(examples) <= set(invalid)


def test_eta_falls_back_to_the_budget():
    assert eta_seconds(300, 2.0, 3.0) == 150
    assert eta_seconds(300, None, 3.0) == 100
    assert eta_seconds(300, 0.0, None) is None
    assert eta_seconds(0, None, None) == 0
