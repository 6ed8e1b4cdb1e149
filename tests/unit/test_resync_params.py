"""Which window a run re-syncs, from its run type, data interval and Params (the DAGs' glue), and that
a re-sync never chains the next incremental run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from sf_notion_sync.airflow import dag_factory
from sf_notion_sync.sync.resync import Resync

START = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
END = START + timedelta(minutes=15)


@pytest.fixture
def run_context(monkeypatch):
    """Makes the task context of a run of the given type, with or without a data interval."""

    def make(run_type: str, interval: bool = True) -> None:
        context = {"dag_run": SimpleNamespace(run_type=run_type, run_id=f"{run_type}__1"),
                   "data_interval_start": START if interval else None, "data_interval_end": END if interval else None}
        monkeypatch.setattr(dag_factory, "get_current_context", lambda: context)

    return make


def test_a_backfill_run_re_syncs_its_data_interval(run_context) -> None:
    run_context("backfill")
    assert dag_factory._resync("incremental", {}) == Resync(START, END)
    assert dag_factory._resync("incremental", {"force": True}) == Resync(START, END, force=True)


def test_a_live_run_re_syncs_nothing_unless_asked_to_reprocess(run_context) -> None:
    run_context("manual")
    assert dag_factory._resync("incremental", {}) is None
    assert dag_factory._resync("incremental", {"reprocess": True}) == Resync(START, END)


@pytest.mark.parametrize(("run_type", "interval", "params", "message"), [
    ("manual", False, {"reprocess": True}, "has no data interval to reprocess"),
    ("manual", True, {"force": True}, "use it in a backfill, or with reprocess"),
    ("backfill", True, {"max_records": 5}, "clear max_records"),
])
def test_what_cannot_be_re_synced_says_why(run_context, run_type, interval, params, message) -> None:
    run_context(run_type, interval)
    with pytest.raises(ValueError, match=message):
        dag_factory._resync("incremental", params)


def test_the_full_sync_re_syncs_between_its_params_only() -> None:
    assert dag_factory._resync("full", {}) is None
    window = dag_factory._resync("full", {"modified_since": "2026-11-30T10:00:00Z", "force": True})
    assert window == Resync(START, None, force=True)
    assert dag_factory._resync("full", {"modified_before": "2026-11-30T10:15:00+00:00"}) == Resync(None, END)
    with pytest.raises(ValueError, match="reconcile needs every record"):
        dag_factory._resync("full", {"modified_since": "2026-11-30T10:00:00Z", "reconcile": True})
    with pytest.raises(ValueError, match="set modified_since and/or modified_before"):
        dag_factory._resync("full", {"force": True})


def test_a_re_sync_never_chains() -> None:
    backlog = {"limit": 5, "staged": 10, "deleted": 0}
    assert dag_factory.chain.function({**backlog, "resync": Resync(START, END).as_params()}, {}) is None
    assert dag_factory.chain.function(backlog, {}) == "trigger_next"
