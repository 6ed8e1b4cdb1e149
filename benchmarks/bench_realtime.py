"""Real time while a full sync runs: N Accounts synced at a scaled window budget while M records change
in Salesforce one at a time; each change travels as the real-time lane carries it and is timed
change -> Notion page written.

First every Account is synced once and then (almost) every one changes, unmeasured; the measured full
sync rewrites them at the budget while the M changes are made (on records with pages, as in a live
org; a change to a record the full sync is still creating waits for that create to settle).

Run: .venv/bin/python benchmarks/bench_realtime.py [--accounts 10000] [--changes 100] [--change-every 1.5]
     [--window-requests 600] [--window-s 10] [--workers 4]
The sandbox runs in a child process (its Pub/Sub API too). The path of a change: the emulator's
mutation publishes a change event; our Pub/Sub client receives it over gRPC; the trigger's subscription
loop (realtime/follow.py, the code ChangeEventTrigger runs) debounces it (1 s or 200 ids); then the
real-time DAG's tasks run in-process: re-read by Id, plan, sync_batch in the fast lane, finish, ack.
Airflow's own scheduling of the asset-triggered run (seconds per task under LocalExecutor) is not in
these figures; the e2e test covers that path. Normalised to the real budget: the time in Notion calls
(slot waits, round trips: CallStats.elapsed_s) x 60/window_s, the rest (delivery, debounce, re-read,
planning, engine work) as measured. The full sync's budget use is judged as in bench_full_sync
(requests served in its sync phase ÷ budget × windows).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import queue
import ssl
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from _common import REAL_WINDOW_S, account_contexts, engine_sandbox
from bench_full_sync import _p95, figures, full_sync

GOALS = {"p95_real_s": (None, 10.0), "together_use": (0.95, None), "lost": (None, 0)}


def _pubsub(box: Any, tmp: Path):
    """A client of the sandbox's Pub/Sub API, with the settings the sandbox wrote."""
    from sf_notion_sync.local.sandbox_env import read_env_file
    from sf_notion_sync.salesforce.pubsub.client import Credentials, PubSubClient

    extra = json.loads(read_env_file(tmp / "sandbox" / "airflow.env")["AIRFLOW_CONN_SALESFORCE_DEFAULT"])["extra"]
    creds = Credentials.from_session(box.session_id, box.salesforce_url)
    return PubSubClient(extra["pubsub_endpoint"], creds, root_certificates=Path(box.ca_bundle).read_bytes())


def realtime_consumer(box: Any, tmp: Path, budget: Any, written: Any, stop: Any) -> None:
    """The real-time lane in a process of its own (as the triggerer and the DAG's tasks are): subscription
    loop -> fast-lane tasks per batch, each record's timings put on `written`, until `stop`."""
    import os

    from sf_notion_sync.config import load_config
    from sf_notion_sync.notion.limiter import LANE_FAST
    from sf_notion_sync.realtime.batches import consume
    from sf_notion_sync.realtime.follow import follow_changes
    from sf_notion_sync.state.store import StateStore
    from sf_notion_sync.sync import extract_to_staging, finish_run, plan_batches, sync_batch

    os.environ["REQUESTS_CA_BUNDLE"] = box.ca_bundle
    store = StateStore.from_url(f"sqlite:///{tmp / 'state.db'}", migrate=False)
    context = account_contexts(box, load_config(), store, budget)

    def apply(payload: dict[str, Any], received: float) -> None:
        got = consume("Account", [payload])
        known = len(context.clients)
        ctx = context(f"rt-{uuid.uuid4().hex[:8]}", LANE_FAST)
        try:
            extract_to_staging(ctx, record_ids=list(got.record_ids))
            batches = plan_batches(ctx)
            planned = time.time()
            for batch in batches:
                sync_batch(ctx, batch, allow_defer=False)
            done = time.time()
            finish_run(ctx)
        finally:
            ctx.close()
        store.advance_replay("Account", bytes.fromhex(got.replay_id), got.position)
        in_notion = sum(c.totals.elapsed_s for c in context.clients[known:] if c.lane == LANE_FAST)
        for record_id in got.record_ids:  # (written at, time in Notion calls, batch received at, re-read + plan)
            written.put((record_id, (done, in_notion, received, planned - received)))

    async def run() -> None:
        async def open_client(_refresh: bool):
            return _pubsub(box, tmp)

        follow = follow_changes("Account", "/data/AccountChangeEvent", open_client, store)
        first = asyncio.ensure_future(anext(follow))
        while not stop.is_set():
            done, _ = await asyncio.wait({first}, timeout=0.2)
            if done:
                await asyncio.to_thread(apply, first.result(), time.time())
                first = asyncio.ensure_future(anext(follow))
        first.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await first
        await follow.aclose()

    asyncio.run(run())


def subscribed(box: Any) -> bool:
    verify = ssl.create_default_context(cafile=box.ca_bundle)
    return httpx.get(f"{box.salesforce_url}/_sandbox/change_events", verify=verify, timeout=30).json()["subscribers"] > 0


def scenario(args: argparse.Namespace, budget: Any) -> dict[str, Any]:
    from sf_notion_sync.config import load_config
    from sf_notion_sync.state.store import StateStore

    scale = REAL_WINDOW_S / budget.window_s
    with engine_sandbox("bench-realtime-", args.accounts, budget) as (box, tmp):
        store = StateStore.from_url(f"sqlite:///{tmp / 'state.db'}")
        context = account_contexts(box, load_config(), store, budget)
        verify = ssl.create_default_context(cafile=box.ca_bundle)
        # every record gets its page first, then (almost) all change: the measured full sync rewrites them
        # at the budget while the real-time changes land on pages that exist (a change to a record whose
        # create the full sync has claimed waits for that create to settle: exactly_once.settle_seconds)
        full_sync(context, f"first-{uuid.uuid4().hex[:8]}", args.workers)
        httpx.post(f"{box.salesforce_url}/_sandbox/mutate", json={"object": "Account", "update": args.accounts},
                   verify=verify, timeout=300).raise_for_status()
        written: dict[str, tuple[float, ...]] = {}
        spawn = multiprocessing.get_context("spawn")
        stop, results = spawn.Event(), spawn.Queue()
        consumer = spawn.Process(target=realtime_consumer, args=(box, tmp, budget, results, stop), daemon=True)
        consumer.start()
        deadline = time.monotonic() + 60
        while not subscribed(box) and time.monotonic() < deadline:  # LATEST: changes count from here on
            time.sleep(0.2)
        syncing, pool = threading.Event(), ThreadPoolExecutor(1)
        bulk = pool.submit(full_sync, context, f"bench-{uuid.uuid4().hex[:8]}", args.workers, syncing)
        while not (syncing.wait(0.5) or bulk.done()):  # until its batches run (a failure shows below)
            pass
        changed: dict[str, float] = {}
        for _ in range(args.changes):  # one at a time, while the full sync runs
            at = time.time()
            ids = httpx.post(f"{box.salesforce_url}/_sandbox/mutate", json={"object": "Account", "update": 1},
                             verify=verify, timeout=30).json()["updated"]
            changed.update(dict.fromkeys(ids, at))
            time.sleep(args.change_every)
        wait_until = time.monotonic() + 120
        while set(changed) - set(written) and time.monotonic() < wait_until:
            with contextlib.suppress(queue.Empty):
                record_id, timings = results.get(timeout=0.2)
                written[record_id] = timings
        result = bulk.result()  # raises what stopped the full sync
        pool.shutdown()
        stop.set()
        consumer.join(timeout=30)
        if consumer.is_alive():
            consumer.terminate()
        run = figures(box, budget, result, args.accounts)
    seen = [i for i in changed if i in written]
    raw = [written[i][0] - changed[i] for i in seen]
    real = [written[i][0] - changed[i] + written[i][1] * (scale - 1) for i in seen]
    return {"scenario": "full sync + real time", "changes": len(changed), "lost": len(changed) - len(seen),
            "during_sync": sum(1 for i in seen if changed[i] <= result["sync_to"]),
            "p50_s": round(sorted(raw)[len(raw) // 2], 3), "p95_s": round(_p95(raw), 3),
            "p50_real_s": round(sorted(real)[len(real) // 2], 3), "p95_real_s": round(_p95(real), 3),
            "delivery_debounce_p95_s": round(_p95([written[i][2] - changed[i] for i in seen]), 3),
            "reread_plan_p95_s": round(_p95([written[i][3] for i in seen]), 3),
            "notion_p95_s": round(_p95([written[i][1] for i in seen]), 3),
            "batches": len({written[i][0] for i in seen}),
            "together_use": run["budget_use"], **run}


def main() -> int:
    from sf_notion_sync.notion.constants import FAST_LANE_CAP
    from sf_notion_sync.sync.budget import NotionBudget

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--change-every", type=float, default=1.5, help="seconds between two changes")
    parser.add_argument("--window-requests", type=int, default=600)
    parser.add_argument("--window-s", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    budget = NotionBudget(args.window_requests, args.window_s, fast_lane_cap=FAST_LANE_CAP, pool_slots=args.workers)
    result = scenario(args, budget)
    print(json.dumps(result, default=str))
    ok = True
    print(f"{'figure':<16} {'measured':>10}  goal")
    for name, (low, high) in GOALS.items():
        value = result[name]
        met = (low is None or value >= low) and (high is None or value <= high)
        ok &= met
        print(f"{name:<16} {value:>10}  {'>= ' + str(low) if low is not None else '<= ' + str(high)}"
              f"  {'met' if met else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
