"""The budget is a value in the sync context: planning and finishing build no Notion client, budget_use
counts the windows a run spanned, and the 429s a context's requests met reach the run by reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from sf_notion_sync.config import load_config
from sf_notion_sync.notion.client import CallStats
from sf_notion_sync.notion.limiter import REASONS
from sf_notion_sync.state.rows import RATE_LIMIT_REASONS, Counters, StagedRecord
from sf_notion_sync.state.store import StateStore
from sf_notion_sync.sync import finish_run, plan_batches
from sf_notion_sync.sync.budget import NotionBudget
from sf_notion_sync.sync.context import SyncContext

CONFIG = """
objects:
  Account:
    database_id: "00000000000000000000000000000001"
    salesforce_id_property: Salesforce Id
    properties:
      Name: {field: Name, type: title}
"""
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path):
    store = StateStore.from_url(f"sqlite:///{tmp_path / 'state.db'}")
    yield store
    store.engine.dispose()


@pytest.fixture
def config(tmp_path: Path):
    (tmp_path / "sync.yaml").write_text(CONFIG)
    return load_config(tmp_path / "sync.yaml")


def no_client():
    raise AssertionError("this task sends no Notion request, so it builds no Notion client")


def context(config, store, notion=no_client, **kwargs) -> SyncContext:
    return SyncContext(config, "Account", store, notion, no_client, "run-1", dag_id="test", **kwargs)


def staged(n: int):
    return (StagedRecord(f"001A{i:014d}", T0, {"p": {}}, f"h{i}") for i in range(n))


def run_with_batches(ctx: SyncContext, store: StateStore, requests: int, seconds: float) -> list[dict]:
    """A run of 400 staged records planned by ``ctx``, its batches done in ``seconds`` with ``requests``."""
    store.start_run("run-1", "test", "Account", "full", budget_rps=ctx.budget_rps, now=T0)
    store.set_run_total("run-1", store.append_staging("run-1", "Account", staged(400)))
    batches = plan_batches(ctx)
    for batch in batches:
        store.start_batch("run-1", batch["batch_index"], now=T0)
        store.finish_batch("run-1", batch["batch_index"], "done",
                           Counters(processed=batch["size"], created=batch["size"],
                                    notion_requests=requests // len(batches)),
                           seconds=seconds, now=T0 + timedelta(seconds=seconds))
    return batches


def test_the_default_budget_is_notions_free_plan():
    budget = NotionBudget()
    assert (budget.requests, budget.window_s, budget.rate, budget.pool_slots) == (180, 60.0, 3.0, 1)
    with pytest.raises(ValueError, match="requests >= 1"):
        NotionBudget(requests=0)


@pytest.mark.parametrize(("requests", "seconds", "use"), [
    (1140, 20.0, 0.95),  # two windows
    (300, 5.0, 0.5),  # shorter than a window: it could have sent the window's 600
    (600, 10.0, 1.0),
])
def test_budget_use_counts_the_windows_spanned(requests, seconds, use):
    assert NotionBudget(600, 10.0).use(requests, seconds) == pytest.approx(use)


def test_plan_and_finish_read_the_budget_without_a_notion_client(config, store):
    budget = NotionBudget(requests=600, window_s=10.0, fast_lane_cap=0.1, pool_slots=4)
    ctx = context(config, store, budget=budget, clock=lambda: T0 + timedelta(seconds=30))
    batches = run_with_batches(ctx, store, requests=1140, seconds=20.0)
    assert len(batches) == 4  # split across the pool's slots, from the budget value
    summary = finish_run(ctx)
    assert summary["budget_rps"] == 60.0 and summary["achieved_rps"] == pytest.approx(57.0)
    assert summary["budget_use"] == pytest.approx(0.95)
    assert summary["budget"] == {"requests": 600, "window_s": 10.0, "fast_lane_cap": 0.1, "pool_slots": 4,
                                 "connections": 1, "workspace_requests": None}
    assert summary["rate_limited_by_reason"] == {"connection": 0, "workspace": 0, "endpoint": 0}


def test_several_connections_add_up_to_the_workspace_limit():
    two = NotionBudget(requests=180, window_s=60.0, pool_slots=4, connections=2)
    assert (two.total_requests, two.rate) == (360, 6.0)
    capped = NotionBudget(requests=180, window_s=60.0, pool_slots=4, connections=4, workspace_requests=450)
    assert capped.total_requests == 450 and capped.use(450, 60.0) == 1.0
    assert capped.in_flight == 2 and NotionBudget(requests=600, pool_slots=1, connections=4).in_flight == 4
    assert NotionBudget(requests=180, window_s=60.0, pool_slots=4).in_flight == 1  # half the slots carry 180
    assert NotionBudget(requests=600, window_s=60.0, pool_slots=4).in_flight == 3


def test_closing_a_context_books_its_429s_by_reason_and_closes_what_it_built(config, store):
    assert set(RATE_LIMIT_REASONS) == set(REASONS)
    store.start_run("run-1", "test", "Account", "full", now=T0)
    built = SimpleNamespace(totals=CallStats(), closed=False)
    built.close = lambda: setattr(built, "closed", True)
    ctx = context(config, store, notion=lambda: built)
    ctx.close()  # no client built: nothing to book or close
    ctx.notion_client().totals.rate_limited_by_reason.update({"workspace": 2, "connection": 1})
    ctx.close()
    assert built.closed
    given = SimpleNamespace(totals=CallStats(rate_limited_by_reason={"endpoint": 5}), close=no_client)
    other = context(config, store, notion=given)  # a client shared with earlier contexts: only what is new
    other.notion_client().totals.rate_limited_by_reason["endpoint"] += 1
    other.close()
    run = store.get_run("run-1")
    assert run.rate_limited_by_reason == {"connection": 1, "workspace": 2, "endpoint": 1}
    with pytest.raises(ValueError, match="unknown rate-limit reasons"):
        store.add_rate_limits("run-1", {"blocked": 1})
