"""Real time under a real Airflow: Salesforce change events (the emulated Pub/Sub API) start the real-time
DAG through an AssetWatcher in the triggerer, with no manual trigger; a killed triggerer loses nothing and
applies nothing twice; an expired replay id is recorded as a gap and starts the incremental DAG.

An Airflow of its own (sync.yaml with `realtime: true` on Account, no schedules): the shared stack's
modules mutate Accounts, which would start real-time runs among theirs. Lean: 60 Accounts.
"""

from __future__ import annotations

import ssl
from collections import Counter
from pathlib import Path

import httpx
import pytest
import yaml

from sf_notion_sync.config import config_path
from sf_notion_sync.local.runtime import running_airflow
from sf_notion_sync.sandbox.run import start
from sf_notion_sync.sandbox.salesforce_emulator.pubsub import RETENTION_S
from sf_notion_sync.state.store import StateStore
from tests.integration._airflow_stack import poll

pytestmark = [pytest.mark.airflow_e2e, pytest.mark.timeout(900)]  # its own Airflow starts in the first test

ACCOUNTS = 60
REALTIME = "sf_notion_realtime__account"
FULL = "sf_notion_full_sync__account"
INCREMENTAL = "sf_notion_incremental__account"
REACH_S = 240


def _config(path: Path) -> Path:
    data = yaml.safe_load(config_path().read_text())
    for name, obj in data["objects"].items():
        if obj.get("source", "salesforce") == "salesforce":
            obj["schedules"] = {"full": None, "incremental": None}
            obj["realtime"] = name == "Account"
    data.setdefault("retry", {})["schedule"] = None
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class Stack:
    def __init__(self, airflow, box, state_url: str) -> None:
        self.airflow, self.box, self.state_url = airflow, box, state_url
        self.tls = ssl.create_default_context(cafile=box.ca_bundle)

    def salesforce(self, method: str, path: str, **body) -> dict:
        response = httpx.request(method, f"{self.box.salesforce_url}{path}", json=body or None, verify=self.tls,
                                 timeout=30, headers={"Authorization": f"Bearer {self.box.session_id}"})
        response.raise_for_status()
        return response.json()

    def notion(self, path: str) -> dict | list:
        response = httpx.get(f"{self.box.notion_url}{path}", timeout=30)
        response.raise_for_status()
        return response.json()

    def pages(self) -> dict[str, list[dict]]:
        data_source = self.box.databases["Account"]["data_source_id"]
        by_id: dict[str, list[dict]] = {}
        for page in self.notion(f"/_sandbox/data_sources/{data_source}/pages?include_trashed=1")["pages"]:
            sf_id = "".join(t["plain_text"] for t in page["properties"]["Salesforce Id"]["rich_text"])
            by_id.setdefault(sf_id, []).append(page)
        return by_id

    def name_in_salesforce(self, record_id: str) -> str:
        return self.salesforce("GET", f"/services/data/v59.0/sobjects/Account/{record_id}")["Name"]

    def live_title(self, record_id: str) -> str | None:
        live = [p for p in self.pages().get(record_id, []) if not p.get("in_trash")]
        assert len(live) <= 1, f"{record_id} has {len(live)} live pages"
        return "".join(t["plain_text"] for t in live[0]["properties"]["Name"]["title"]) if live else None

    def mutate(self, **counts) -> dict:
        return self.salesforce("POST", "/_sandbox/mutate", object="Account", **counts)

    def subscribed(self) -> bool:
        return self.salesforce("GET", "/_sandbox/change_events")["subscribers"] >= 1

    def store(self) -> StateStore:
        return StateStore.from_url(self.state_url, migrate=False)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("realtime-e2e")
    state_url = f"sqlite:///{root / 'state.db'}"
    with start(root / "sandbox", accounts=ACCOUNTS, contacts=10, opportunities=10, notion_window_requests=1200,
               notion_window_s=6, notion_latency_ms=0) as box:
        env = {**box.env(), "SF_NOTION_SYNC_CONFIG": str(_config(root / "sync.yaml")),
               "AIRFLOW_CONN_SYNC_STATE_DB": state_url, "AIRFLOW__CORE__MAX_TASK_RETRY_DELAY": "2"}
        with running_airflow(root / "airflow", env, (REALTIME, FULL, INCREMENTAL)) as airflow:
            stack = Stack(airflow, box, state_url)
            airflow.api("PATCH", f"/dags/{FULL}", json={"is_paused": False})
            assert airflow.wait_for_run(FULL, airflow.trigger(FULL), timeout=400) == "success"
            airflow.api("PATCH", f"/dags/{REALTIME}", json={"is_paused": False})
            poll(stack.subscribed, "the change-event trigger subscribed", 120)
            yield stack


def _reached(stack: Stack, ids: list[str]) -> bool:
    return all(stack.live_title(i) == stack.name_in_salesforce(i) for i in ids)


def _patches_since(stack: Stack, since: float) -> Counter:
    log = stack.notion(f"/_sandbox/requests?since={since}")
    return Counter(r["path"].rsplit("/", 1)[1] for r in log
                   if r["method"] == "PATCH" and r["path"].startswith("/v1/pages/") and r["status"] == 200)


def test_updates_deletes_and_undeletes_reach_notion_with_no_manual_trigger(stack):
    updated = stack.mutate(update=2)["updated"]
    poll(lambda: _reached(stack, updated), "updated records in Notion", REACH_S)

    deleted = stack.mutate(delete=1)["deleted"]
    poll(lambda: stack.live_title(deleted[0]) is None and deleted[0] in stack.pages(), "the page trashed", REACH_S)
    undeleted = stack.mutate(undelete=1)["undeleted"]
    assert undeleted == deleted
    poll(lambda: _reached(stack, undeleted), "the undeleted record back in Notion", REACH_S)

    runs = stack.airflow.api("GET", f"/dags/{REALTIME}/dagRuns?limit=100")["dag_runs"]
    assert runs and {r["run_type"] for r in runs} == {"asset_triggered"}
    assert stack.store().get_replay("Account").replay_id  # acked once the writes were in


def test_a_killed_triggerer_loses_no_change_and_applies_none_twice(stack):
    import time

    since = time.time()
    first = stack.mutate(update=3)["updated"]
    stack.airflow.kill("triggerer")  # SIGKILL, mid-stream: the batch may or may not have left it
    second = stack.mutate(update=2)["updated"]  # while no triggerer runs
    stack.airflow.start(["triggerer"])
    changed = first + second
    poll(lambda: _reached(stack, changed), "every change after the restart", REACH_S)
    poll(lambda: not stack.airflow.api("GET", f"/dags/{REALTIME}/dagRuns?state=running&state=queued")["total_entries"],
         "the real-time runs done", REACH_S)
    page_of = {i: next(p["id"] for p in stack.pages()[i] if not p.get("in_trash")) for i in changed}
    patches = _patches_since(stack, since)
    assert {i: patches[page_of[i].replace("-", "")] + patches[page_of[i]] for i in changed} == dict.fromkeys(changed, 1)


def test_an_expired_replay_id_records_a_gap_and_starts_the_incremental_sync(stack):
    airflow = stack.airflow
    airflow.api("PATCH", f"/dags/{INCREMENTAL}", json={"is_paused": False})
    airflow.kill("triggerer")
    gaps_before = stack.store().get_replay("Account").gaps
    stack.salesforce("PATCH", "/_sandbox/config", advance_s=RETENTION_S + 3600)  # the stored id is 73 h old
    airflow.start(["triggerer"])

    def caught_up() -> list[dict]:
        runs = airflow.api("GET", f"/dags/{INCREMENTAL}/dagRuns?limit=20")["dag_runs"]
        return [r for r in runs if (r.get("conf") or {}).get("caught_up_for")]

    runs = poll(caught_up, "an incremental run started by the real-time DAG", REACH_S)
    state = stack.store().get_replay("Account")
    assert state.gaps == gaps_before + 1 and "no longer retained" in state.last_gap_reason
    assert airflow.wait_for_run(INCREMENTAL, runs[0]["dag_run_id"], timeout=400) == "success"
