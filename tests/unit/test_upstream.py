"""failed_upstream: which tasks before `finish` failed, from the Task SDK's task-state answer."""

from __future__ import annotations

from types import SimpleNamespace

from sf_notion_sync.airflow.upstream import failed_upstream


class FakeTI(SimpleNamespace):
    def get_task_states(self, dag_id: str, run_ids: list[str]) -> dict:
        assert (dag_id, run_ids) == ("d", ["r"])
        return {"r": self.states}


def context(upstream: list[str], states: dict[str, str]) -> dict:
    task = SimpleNamespace(get_flat_relative_ids=lambda upstream_=True, **_: set(upstream))
    return {"ti": FakeTI(dag_id="d", run_id="r", states=states), "task": task}


def test_mapped_and_grouped_failures_are_named_with_their_index() -> None:
    states = {"account.stage_due": "success", "account.sync_batch_0": "success", "account.sync_batch_12": "failed",
              "account.finish": "running", "contact.sync_batch_1": "failed", "purge_usage": "failed"}
    ctx = context(["account.stage_due", "account.plan", "account.sync_batch"], states)
    assert failed_upstream(ctx) == ["account.sync_batch[12]"]  # other groups and unrelated tasks are not ours


def test_upstream_failed_counts_and_a_task_id_ending_in_digits_is_not_a_map_index() -> None:
    ctx = context(["extract_2", "preflight"], {"extract_2": "upstream_failed", "preflight": "failed"})
    assert failed_upstream(ctx) == ["extract_2", "preflight"]


def test_nothing_failed_or_nothing_upstream() -> None:
    assert failed_upstream(context(["preflight"], {"preflight": "success"})) == []
    assert failed_upstream(context([], {"x": "failed"})) == []
