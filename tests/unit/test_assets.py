"""Assets of the Notion databases: one URI per database, every sync DAG's finish emits it, with counts."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from sf_notion_sync.airflow.assets import (
    FAST_LANE_ALIAS,
    event_extra,
    notion_asset,
    object_asset,
    record_sync_event,
)
from sf_notion_sync.airflow.dag_factory import build_dags
from sf_notion_sync.config import load_config

DB = "c9f5c4df-3733-56b0-a8de-a091797858fb"
SUMMARY = {"object": "Account", "run_id": "r1", "status": "success", "created": 3, "updated": 1, "skipped": 7,
           "failed": 0, "duration_s": 1.5, "budget": {"requests": 180}}


def test_any_spelling_of_a_database_id_names_one_asset() -> None:
    assert notion_asset(DB) == notion_asset(DB.replace("-", "").upper()) == notion_asset(f" {DB} ")
    assert notion_asset(DB).uri == f"notion://{DB}/"
    with pytest.raises(ValueError, match="not a Notion database id"):
        notion_asset("accounts")


def test_the_event_carries_the_counts_not_timings_or_budget() -> None:
    assert event_extra(SUMMARY) == {"object": "Account", "run_id": "r1", "status": "success", "created": 3,
                                    "updated": 1, "skipped": 7, "failed": 0}


def test_every_sync_dag_finish_declares_its_database_and_the_fast_lane_the_alias() -> None:
    config = load_config()
    dags = build_dags(config)
    for obj in config.salesforce_objects():
        asset = object_asset(obj)
        for dag_id in (f"sf_notion_full_sync__{obj.name.lower()}", f"sf_notion_incremental__{obj.name.lower()}"):
            assert dags[dag_id].get_task("finish").outlets == [asset], dag_id
        assert dags["sf_notion_retry"].get_task(f"{obj.name.lower()}.finish").outlets == [asset]
    assert dags["sf_notion_fast_lane"].get_task("finish").outlets == [FAST_LANE_ALIAS]
    assert not any(d.endswith("supportticket") for d in dags), "an external object gets no Salesforce DAG"


class _Events(dict):
    def __missing__(self, key):
        self[key] = SimpleNamespace(extra={}, added=[], add=lambda asset, extra: self[key].added.append((asset, extra)))
        return self[key]


def test_the_counts_go_on_the_declared_outlet_or_through_the_alias() -> None:
    obj = load_config().objects["Account"]
    events = _Events()
    record_sync_event({"task": SimpleNamespace(outlets=[object_asset(obj)]), "outlet_events": events}, obj, SUMMARY)
    assert events[object_asset(obj)].extra == event_extra(SUMMARY)

    events = _Events()
    record_sync_event({"task": SimpleNamespace(outlets=[FAST_LANE_ALIAS]), "outlet_events": events}, obj, SUMMARY)
    assert events[FAST_LANE_ALIAS].added == [(object_asset(obj), event_extra(SUMMARY))]

    events = _Events()
    record_sync_event({"task": SimpleNamespace(outlets=[]), "outlet_events": events}, obj, SUMMARY)
    assert events == {}
