"""The real-time DAG and its trigger as Airflow sees them: built only for realtime objects, scheduled on a
watched asset, and a trigger whose serialised kwargs (its identity for the triggerer) hold no state."""

from __future__ import annotations

from dataclasses import replace

from airflow.triggers.base import BaseEventTrigger

from sf_notion_sync.airflow.dag_factory import build_dags
from sf_notion_sync.airflow.realtime_dag import change_event_asset
from sf_notion_sync.airflow.realtime_trigger import ChangeEventTrigger
from sf_notion_sync.config import load_config
from sf_notion_sync.realtime.batches import consume


def _config(realtime: bool):
    config = load_config()
    objects = dict(config.objects)
    objects["Account"] = replace(objects["Account"], realtime=realtime)
    return replace(config, objects=objects)


def test_a_realtime_dag_only_for_objects_that_ask():
    assert not [d for d in build_dags(_config(False)) if d.startswith("sf_notion_realtime__")]
    dag = build_dags(_config(True))["sf_notion_realtime__account"]
    assert {t.task_id for t in dag.tasks} == {"changes", "route", "stage", "plan", "sync_batch", "finish",
                                              "catch_up", "ack"}
    assert dag.max_active_runs == 1 and dag.get_task("sync_batch").priority_weight == 100
    assert dag.get_task("catch_up").trigger_dag_id == "sf_notion_incremental__account"


def test_the_watched_asset_and_its_trigger_identity():
    asset = change_event_asset(_config(True).objects["Account"])
    (watcher,) = asset.watchers
    trigger = watcher.trigger
    assert isinstance(trigger, BaseEventTrigger) and asset.uri.endswith("/data/AccountChangeEvent")
    classpath, kwargs = trigger.serialize()
    assert classpath == "sf_notion_sync.airflow.realtime_trigger.ChangeEventTrigger"
    assert set(kwargs) == {"object_name", "salesforce_conn_id", "sync_state_conn_id", "debounce_s", "max_ids"}
    again = ChangeEventTrigger(**kwargs)  # the triggerer rebuilds it from these
    assert BaseEventTrigger.hash(*again.serialize()) == BaseEventTrigger.hash(classpath, kwargs)


def test_a_run_takes_the_furthest_replay_and_every_id_once():
    payloads = [
        {"object": "Account", "record_ids": ["a", "b"], "gap": None, "replay_id": "02", "position": 2},
        {"object": "Account", "record_ids": ["b", "c"], "gap": "GAP_UPDATE", "replay_id": "01", "position": 1},
        {"object": "Contact", "record_ids": ["x"], "gap": None, "replay_id": "09", "position": 9},
    ]
    got = consume("Account", payloads)
    assert got.record_ids == ("a", "b", "c") and got.gaps == ("GAP_UPDATE",)
    assert (got.replay_id, got.position) == ("02", 2)
