"""`sync-records`: the fast lane from a shell -- trigger `sf_notion_fast_lane` through Airflow's REST API.

Only HTTP (no Airflow import), so it runs anywhere that reaches the API server. Auth: a bearer token
(`--token` / env AIRFLOW_API_TOKEN), or `--username` + env AIRFLOW_PASSWORD exchanged at /auth/token,
or none (a local Airflow with SimpleAuthManager's all-admins mode). Tokens are never printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx

FAST_LANE_DAG_ID = "sf_notion_fast_lane"
DEFAULT_BASE_URL = "http://127.0.0.1:8080"
FINISHED = ("success", "failed")


class FastLaneClient:
    """Trigger and watch fast-lane runs on one Airflow API server."""

    def __init__(self, base_url: str = DEFAULT_BASE_URL, *, token: str | None = None, username: str | None = None,
                 password: str | None = None, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout)
        if not token and username:
            response = self.http.post("/auth/token", json={"username": username, "password": password or ""})
            _check(response, "log in")
            token = response.json()["access_token"]
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"

    def close(self) -> None:
        self.http.close()

    def paused(self) -> bool:
        response = self.http.get(f"/api/v2/dags/{FAST_LANE_DAG_ID}")
        _check(response, "read the DAG")
        return bool(response.json()["is_paused"])

    def trigger(self, object_name: str, record_ids: list[str], *, dry_run: bool = False) -> str:
        """Start a run for these Ids; returns its run_id."""
        conf = {"object": object_name, "record_ids": record_ids, "dry_run": dry_run}
        response = self.http.post(f"/api/v2/dags/{FAST_LANE_DAG_ID}/dagRuns", json={"logical_date": None, "conf": conf})
        _check(response, "trigger")
        return response.json()["dag_run_id"]

    def state(self, run_id: str) -> str:
        response = self.http.get(f"/api/v2/dags/{FAST_LANE_DAG_ID}/dagRuns/{run_id}")
        _check(response, "read the run")
        return response.json()["state"]

    def wait(self, run_id: str, timeout: float, poll: float = 1.0,
             sleep: Callable[[float], None] = time.sleep) -> str:
        """The run's final state, or its state when ``timeout`` seconds have passed."""
        deadline = time.monotonic() + timeout
        while (state := self.state(run_id)) not in FINISHED and time.monotonic() < deadline:
            sleep(poll)
        return state

    def summary(self, run_id: str) -> dict[str, Any] | None:
        """The `finish` task's summary (counts), when the run got that far."""
        path = f"/api/v2/dags/{FAST_LANE_DAG_ID}/dagRuns/{run_id}/taskInstances/finish/xcomEntries/return_value"
        response = self.http.get(path)
        return response.json().get("value") if response.status_code == 200 else None


def _check(response: httpx.Response, doing: str) -> None:
    if response.status_code >= 400:
        detail = response.text[:500]
        raise SystemExit(f"sync-records: could not {doing}: HTTP {response.status_code} from {response.url}: {detail}")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("sync-records", help="sync given Salesforce records now (the fast lane)")
    parser.add_argument("--object", required=True, help="Salesforce object, e.g. Account")
    parser.add_argument("--ids", required=True, help="comma-separated Salesforce Ids")
    parser.add_argument("--base-url", default=os.environ.get("AIRFLOW_API_URL", DEFAULT_BASE_URL),
                        help=f"Airflow API server (default $AIRFLOW_API_URL or {DEFAULT_BASE_URL})")
    parser.add_argument("--username", default=os.environ.get("AIRFLOW_USERNAME"),
                        help="log in with this user and $AIRFLOW_PASSWORD (else $AIRFLOW_API_TOKEN, else no auth)")
    parser.add_argument("--wait", action="store_true", help="wait for the run and print its summary")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds --wait waits at most")
    parser.add_argument("--dry-run", action="store_true", help="validate, send no Notion write")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    ids = [i.strip() for i in args.ids.split(",") if i.strip()]
    if not ids:
        print("sync-records: --ids holds no Id", file=sys.stderr)
        return 2
    client = FastLaneClient(args.base_url, token=os.environ.get("AIRFLOW_API_TOKEN"), username=args.username,
                            password=os.environ.get("AIRFLOW_PASSWORD"))
    try:
        if client.paused():
            print(f"sync-records: {FAST_LANE_DAG_ID} is paused; the run waits until it is unpaused", file=sys.stderr)
        run_id = client.trigger(args.object, ids, dry_run=args.dry_run)
        print(f"triggered {FAST_LANE_DAG_ID} run {run_id} for {len(ids)} {args.object} record(s)")
        if not args.wait:
            return 0
        state = client.wait(run_id, args.timeout)
        print(f"run {run_id}: {state}")
        summary = client.summary(run_id)
        if summary:
            print(json.dumps(summary, indent=2, default=str))
        return 0 if state == "success" else 1
    finally:
        client.close()
