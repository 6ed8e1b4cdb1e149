"""The DAGs' reconcile task as glue: which engine steps a run's Params select, and counts-only XCom."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

import sf_notion_sync.sync as engine
from sf_notion_sync.airflow import dag_factory
from sf_notion_sync.sync import dedupe


@pytest.fixture
def calls(monkeypatch):
    made: list[tuple[str, bool]] = []

    @contextmanager
    def context(object_name, dry_run=False):
        yield type("Ctx", (), {"dry_run": dry_run})()

    def sweep(ctx):
        made.append(("sweep", ctx.dry_run))
        return {"pages": 3, "duplicates_trashed": 1, dedupe.EXAMPLES_KEY: [{"sf_id": "001", "kept": "a", "trashed": ["b"]}]}

    def reconcile(ctx):
        made.append(("reconcile", ctx.dry_run))
        return {"candidates": 0, "trashed": 0}

    monkeypatch.setattr(dag_factory, "_sync_context", context)
    monkeypatch.setattr(engine, "sweep_duplicates", sweep)
    monkeypatch.setattr(engine, "reconcile", reconcile)
    return made


def run(extracted=None, **params):
    return dag_factory.reconcile.function("Account", extracted or {}, params)


def test_the_sweep_runs_first_and_xcom_gets_its_counts_only(calls):
    result = run(sweep_duplicates=True, reconcile=True, dry_run=True)
    assert calls == [("sweep", True), ("reconcile", True)]
    assert result == {"sweep": {"pages": 3, "duplicates_trashed": 1}, "candidates": 0, "trashed": 0}


def test_each_step_runs_only_when_asked(calls):
    assert run() == {"skipped": True} and calls == []
    assert run(sweep_duplicates=True) == {"sweep": {"pages": 3, "duplicates_trashed": 1}}
    assert "sweep" not in run({"reconcile": True})  # an incremental run that fell back to a full read
    assert calls == [("sweep", False), ("reconcile", False)]
