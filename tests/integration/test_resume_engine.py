"""An interrupted run resumed through the engine (no Airflow; the real-Airflow SIGKILL case is
test_airflow_resume_e2e): the finished extraction is reused without reading Salesforce, a batch cut off
mid-way resumes at its last checkpoint, a batch already done sends nothing, and the run's summary
counts every attempt once.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest

from sf_notion_sync.sync import extract_to_staging, finish_run, plan_batches, preflight, sync_batch
from sf_notion_sync.sync.writer import RecordWriter
from tests.integration.test_sync_engine_e2e import ACCOUNTS, Sandbox, make_store, sandbox  # noqa: F401 (a fixture)

RUN = "cut-off"
BATCHES = 2
PARTS_TO_FINISH = 2
"""Of the cut-off batch's parts (4 under the sandbox's budget), how many write before the 'kill'."""


class Killed(Exception):
    """Stands for the worker dying mid-batch: raised out of a writer before it writes its records."""


def _no_salesforce():
    raise AssertionError("the finished extraction was read from Salesforce again")


def test_cut_off_run_resumes_at_its_checkpoints(sandbox: Sandbox,  # noqa: F811 (the imported fixture)
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    store = make_store(sandbox.state_url)
    checked = preflight(sandbox.context(RUN, store))
    ctx = sandbox.context(RUN, store, data_source_id=checked["data_source_id"])
    first = extract_to_staging(ctx)
    again = extract_to_staging(replace(ctx, salesforce=_no_salesforce))  # a new task: its own clients
    assert again["resumes"] == 1 and again["staged"] == first["staged"] == ACCOUNTS
    batches = plan_batches(ctx, batch_size=ACCOUNTS // BATCHES)
    assert len(batches) == BATCHES
    assert sync_batch(ctx, batches[0]).done

    real, lock, calls = RecordWriter.process, threading.Lock(), []

    def dying(self, records):
        with lock:
            calls.append(len(records))
            if len(calls) > PARTS_TO_FINISH:
                raise Killed
        real(self, records)

    monkeypatch.setattr(RecordWriter, "process", dying)
    with pytest.raises(Killed):
        sync_batch(ctx, batches[1])
    monkeypatch.setattr(RecordWriter, "process", real)
    cut = store.get_batch(RUN, 1)
    size = batches[1]["size"]
    parts = len(cut.cursor)
    written = PARTS_TO_FINISH * size // parts
    assert parts == ctx.budget.in_flight and cut.status == "running" and cut.processed == written, cut

    assert plan_batches(ctx, batch_size=7) == batches, "a resumed run keeps its plan"
    since = time.time()
    assert sync_batch(ctx, batches[0]).done and sandbox.writes_since(since) == {}, "a done batch wrote again"
    read: list[int] = []
    monkeypatch.setattr(RecordWriter, "process", lambda self, records: (read.extend(r.seq for r in records),
                                                                        real(self, records)))
    final = sync_batch(ctx, batches[1])
    assert final.done and final.counts.processed == final.counts.created == size
    assert len(read) == size - written, "the resumed batch read again what its checkpoint covered"
    assert sandbox.writes_since(since) == {"create": size - written}

    summary = finish_run(ctx)
    assert (summary["total"], summary["processed"], summary["created"], summary["failed"]) == (ACCOUNTS,) * 3 + (0,)
    assert summary["notion_requests"] >= ACCOUNTS and summary["resumes"] == 1
    assert len(sandbox.pages()) == ACCOUNTS
