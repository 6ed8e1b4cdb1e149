"""Every DAG file imports cleanly, fast, without network or database I/O, and is well described."""

from __future__ import annotations

import socket
import sqlite3
import time
from pathlib import Path

import pytest

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"
PARSE_BUDGET_SECONDS = 10.0


class _ForbiddenIO(RuntimeError):
    pass


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    """Parse the DAG folder with sockets and SQLite connections forbidden, timing it."""
    from airflow.dag_processing.dagbag import DagBag

    def refuse(*_args, **_kwargs):
        raise _ForbiddenIO("network or database I/O at DAG parse time")

    mp = pytest.MonkeyPatch()
    mp.setattr(socket.socket, "connect", refuse)
    mp.setattr(socket, "create_connection", refuse)
    mp.setattr(sqlite3, "connect", refuse)
    try:
        started = time.perf_counter()
        bag = DagBag(dag_folder=str(DAGS_FOLDER), safe_mode=False)
        elapsed = time.perf_counter() - started
    finally:
        mp.undo()
    return bag, elapsed


def test_no_import_errors(dagbag):
    bag, _ = dagbag
    assert bag.import_errors == {}, bag.import_errors


def test_dags_exist_with_stable_ids(dagbag):
    bag, _ = dagbag
    ids = set(bag.dag_ids)
    assert "sf_notion_retry" in ids
    for obj in ("account", "contact", "opportunity"):
        assert f"sf_notion_full_sync__{obj}" in ids
        assert f"sf_notion_incremental__{obj}" in ids


def test_parse_time_budget(dagbag):
    bag, elapsed = dagbag
    assert bag.dag_ids, "no DAG parsed"
    assert elapsed < PARSE_BUDGET_SECONDS, f"parsing took {elapsed:.1f}s (budget {PARSE_BUDGET_SECONDS}s)"


def test_every_dag_is_described(dagbag):
    bag, _ = dagbag
    for dag_id, dag in bag.dags.items():
        assert dag.doc_md and len(dag.doc_md.strip()) > 40, f"{dag_id} has no doc_md"
        assert dag.tags, f"{dag_id} has no tags"
        for task in dag.tasks:
            assert task.owner and task.owner != "airflow", f"{dag_id}.{task.task_id} has no owner"
            assert task.retries is not None and task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"


def test_full_sync_sweeps_duplicates_by_default_and_incremental_on_request(dagbag):
    bag, _ = dagbag
    for dag_id, default in (("sf_notion_full_sync__account", True), ("sf_notion_incremental__account", False)):
        dag = bag.dags[dag_id]
        assert dag.params.get_param("sweep_duplicates").value is default, dag_id
        assert "finish" in dag.get_task("reconcile").downstream_task_ids
