"""A million records: Bulk 2.0 extraction into staging on SQLite and PostgreSQL, the plan of a million
staged records, what a first sync costs at Notion's budgets, and the dashboard's queries at that size.

Run: .venv/bin/python benchmarks/bench_scale.py [--accounts 1000000] [--backends sqlite,postgresql]
     [--airflow-accounts 100000] [--window-requests 1200] [--window-s 6]
Extraction: the Salesforce emulator serves `--accounts` Accounts (in a child process, engine_sandbox);
extract_to_staging reads them through Bulk API 2.0 into a fresh state database, then plan_batches plans
them, both in a spawned process of their own, so that its peak RSS is the extraction's alone (not the
emulator's, nor this process's). PostgreSQL (127.0.0.1:5432, trust) gets a database of its own, dropped
after; unreachable, it is skipped with the reason. Airflow: a real local Airflow (API server,
scheduler with LocalExecutor, DAG processor, triggerer; SQLite) on the sandbox with
`--airflow-accounts` Accounts at a high budget, `--window-requests` per `--window-s` (the emulator's
latency scaled like the window), runs the DAGs through the scheduler: a first full sync (floor ratio =
the DAG run's wall time ÷ (N ÷ budget rate), and its sync phase's; budget use; requests per record;
duplicates = page creates the emulator served beyond N), an unchanged re-run (requests per 100 records,
wall time) and, after the incremental DAG's first run set its watermark, an incremental run after 1%
changed (requests ÷ changed); without the duplicate sweep, an optional cost of its own (one query per
100 pages). `--airflow-accounts 0` skips them. The projection shows the hours
a first sync of a million records takes at 180 and 600 per minute, at the nominal one
request per record and at the measured figure. Dashboard: record_map and sync_log get a row per staged
record beside the extraction's staging (INSERT .. SELECT; each row's seq decides its status), and each
query the dashboard's JSON endpoints make (ui/queries.py, check_ready included) is timed. The data is
the emulator's seeded generator's, so runs are comparable. One JSON line per figure set; a table of the
goals follows.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import resource
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

from _common import (
    FULL_DAG,
    NO_SWEEP,
    Sandbox,
    account_contexts,
    airflow_run,
    engine_sandbox,
    is_limited,
    notion_log,
    unscheduled_config,
)

MAX_MAP_LENGTH = 1024
"""Airflow's default [core] max_map_length: the most mapped sync_batch tasks one run may have."""
BUDGETS_PER_MIN = (180, 600)
"""Notion's budgets per connection: Free and Plus, Business and Enterprise."""
OBJECTS = ("Account", "Contact", "Opportunity")
LOG_STATUS_BOUNDS = (("Pending", 1), ("Failed", 5), ("Rate Limited", 8), ("Dead", 10))
"""sync_log statuses by a record's seq % 100: below each bound (and not an earlier one); the rest Success."""
POLLS = 5
"""Reads per endpoint, as the page polls (every 5 s): the median counts; the first also warms the cache,
and the slowest shows what the other engineers' load on this shared machine added."""
PEAK_RSS_GOAL_MB = 500
DASHBOARD_GOAL_S = 1.0


def extract_and_plan(box: Sandbox, url: str, budget: Any) -> dict[str, Any]:
    """In a spawned process: extract every Account into staging, then plan it; its own peak RSS."""
    from sf_notion_sync.config import load_config
    from sf_notion_sync.state.store import StateStore
    from sf_notion_sync.sync import extract_to_staging, plan_batches

    logging.getLogger("sf_notion_sync").setLevel(logging.ERROR)  # the generated records' data warnings
    store = StateStore.from_url(url)
    context = account_contexts(box, load_config(), store, budget)
    run_id = f"scale-{uuid.uuid4().hex[:8]}"
    ctx = context(run_id)
    try:
        started = time.perf_counter()
        extracted = extract_to_staging(ctx)
        extract_s = time.perf_counter() - started
        started = time.perf_counter()
        batches = plan_batches(ctx, max_map_length=MAX_MAP_LENGTH)
        plan_s = time.perf_counter() - started
    finally:
        ctx.close()
    store.engine.dispose()
    return {
        "run_id": run_id, "records": extracted["staged"], "mode": [s["mode"] for s in extracted["extract"]],
        "extract_s": round(extract_s, 1), "records_per_s": round(extracted["staged"] / extract_s),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "plan_s": round(plan_s, 3), "batches": len(batches), "batch_size": max(b["size"] for b in batches),
    }


def database_size_mb(store: Any) -> float:
    """The state database on disk: SQLite's file with its WAL, or PostgreSQL's database."""
    from sqlalchemy import text

    url = store.engine.url
    if url.get_backend_name() == "sqlite":
        size = sum(p.stat().st_size for p in Path(url.database).parent.glob(Path(url.database).name + "*"))
    else:
        with store.engine.connect() as conn:
            size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
    return round(size / 2**20, 1)


def fill_dashboard(store: Any, run_id: str) -> None:
    """A record_map entry and a sync_log row per record staged by `run_id` (bulk INSERT .. SELECT; the
    row's seq decides its operation and status: 10% of records open, 1% deduplicated), a week of finished
    runs per object and two weeks of hourly API usage, beside the extraction's run (still running, with
    its planned batches) and its staging."""
    from sqlalchemy import case, func, insert, literal, select

    from sf_notion_sync.state.db import write_connection
    from sf_notion_sync.state.models import RecordMap, StagingRecord, SyncLog
    from sf_notion_sync.state.rows import UsageDelta
    from sf_notion_sync.state.store import utcnow

    now, staged = utcnow(), StagingRecord.__table__
    percent, stamp = staged.c.seq % 100, func.coalesce(staged.c.system_modstamp, literal(now, RecordMap.synced_at.type))
    status = case(*((percent < bound, name) for name, bound in LOG_STATUS_BOUNDS), else_="Success")
    operation = case((percent == 99, "dedupe"), (percent < 60, "create"), else_="update")
    rows = select(staged.c.object_name, staged.c.sf_id).where(staged.c.run_id == run_id)
    with write_connection(store.engine) as conn:
        conn.execute(insert(RecordMap.__table__).from_select(
            ["object_name", "sf_id", "notion_page_id", "content_hash", "system_modstamp", "synced_at",
             "mapping_version", "trashed"],
            rows.add_columns(staged.c.content_hash, staged.c.content_hash, stamp, stamp, literal("v1"),
                             literal(False))))
        conn.execute(insert(SyncLog.__table__).from_select(
            ["object_name", "sf_id", "run_id", "operation", "status", "attempts", "error_message", "created_at",
             "updated_at"],
            rows.add_columns(staged.c.run_id, operation, status, 1 + staged.c.seq % 5,
                             case((status != "Success", "body failed validation")), stamp, stamp)))
    for obj in OBJECTS:
        for day in range(7):
            done = f"{obj}-day-{day}"
            store.start_run(done, "bench", obj, "incremental", now=now - timedelta(days=day, hours=1))
            store.finish_run(done, "success", {"duration_s": 60.0}, now=now - timedelta(days=day))
    store.add_api_usage(
        UsageDelta(now - timedelta(hours=h), api, f"/v1/{api}/{e}", status, requests=100, latency_ms_sum=2.5e4,
                   latency_ms_max=900.0)
        for h in range(14 * 24) for api in ("notion", "salesforce") for e in range(10) for status in (200, 429)
    )


def time_dashboard(store: Any) -> list[dict[str, Any]]:
    """Seconds per JSON endpoint of the dashboard, as the app answers it (check_ready, then its query)."""
    from sf_notion_sync.ui import queries

    endpoints = {
        "/api/overview": lambda: queries.overview(store),
        "/api/runs": lambda: queries.runs(store),
        "/api/failures": lambda: queries.failures(store, limit=queries.MAX_FAILURES),
        "/api/usage": lambda: queries.usage(store),
        f"/api/usage?hours={queries.MAX_USAGE_HOURS}": lambda: queries.usage(store, hours=queries.MAX_USAGE_HOURS),
    }
    results = []
    for endpoint, query in endpoints.items():
        seconds = []
        for _ in range(POLLS):
            started = time.perf_counter()
            queries.check_ready(store)
            query()
            seconds.append(time.perf_counter() - started)
        results.append({"endpoint": endpoint, "seconds": round(statistics.median(seconds), 3),
                        "first_s": round(seconds[0], 3), "max_s": round(max(seconds), 3)})
    return results


def state_scale(box: Sandbox, backend: str, url: str, budget: Any) -> list[dict[str, Any]]:
    """Extraction and plan (spawned), the database's size, then the dashboard at scale on that database."""
    from sf_notion_sync.state.models import RecordMap, StagingRecord, SyncLog
    from sf_notion_sync.state.store import StateStore

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as child:
        scale = child.submit(extract_and_plan, box, url, budget).result()
    store = StateStore.from_url(url)
    try:
        results = [{"figure": "extraction", "backend": backend, **scale, "state_db_mb": database_size_mb(store),
                    "peak_rss_ratio": round(scale["peak_rss_mb"] / PEAK_RSS_GOAL_MB, 3),
                    "batches_ratio": round(scale["batches"] / MAX_MAP_LENGTH, 3)}]
        started = time.perf_counter()
        fill_dashboard(store, scale["run_id"])
        counts = {model.__tablename__: _count(store, model) for model in (RecordMap, StagingRecord, SyncLog)}
        print(f"{backend}: filled the dashboard's tables in {time.perf_counter() - started:.0f} s: {counts}", flush=True)
        for timing in time_dashboard(store):
            results.append({"figure": "dashboard", "backend": backend, **timing, "rows": counts,
                            "ratio": round(timing["seconds"] / DASHBOARD_GOAL_S, 3)})
        results[0]["state_db_mb_with_dashboard"] = database_size_mb(store)
        return results
    finally:
        store.engine.dispose()


def _count(store: Any, model: Any) -> int:
    from sqlalchemy import func, select

    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model.__table__)).scalar_one()


INCREMENTAL_DAG = "sf_notion_incremental__account"


def airflow_costs(accounts: int, window_requests: int, window_s: float) -> list[dict[str, Any]]:
    """Through a real local Airflow (scheduler, LocalExecutor, triggerer) on the sandbox at
    `window_requests` per `window_s`: a first full sync of `accounts` Accounts, an unchanged re-run, and
    an incremental run after 1% of them changed (after the incremental DAG's first run set its watermark),
    each with its Notion requests from the emulator's log."""
    import ssl

    import httpx

    from sf_notion_sync.local.runtime import running_airflow
    from sf_notion_sync.local.sandbox_process import sandbox_process
    from sf_notion_sync.sync.budget import NotionBudget

    budget = NotionBudget(window_requests, window_s)
    timeout = 900 + 4 * accounts / budget.rate
    with tempfile.TemporaryDirectory(prefix="bench-scale-airflow-") as tmp:
        root = Path(tmp)
        with sandbox_process(root / "sandbox", "--accounts", str(accounts), "--contacts", "10", "--opportunities",
                             "10", "--notion-window-requests", str(window_requests),
                             "--notion-window-s", str(window_s)) as settings:
            box = Sandbox.from_settings(settings)
            env = {**settings, "SF_NOTION_SYNC_CONFIG": str(unscheduled_config(root / "sync.yaml"))}
            with running_airflow(root / "airflow", env, (FULL_DAG, INCREMENTAL_DAG)) as airflow:
                def run(dag_id: str, conf: dict[str, Any]) -> dict[str, Any]:
                    done = airflow_run(airflow, dag_id, conf, timeout)
                    log = notion_log(box, done["since"])
                    served = [r for r in log if not is_limited(r)]
                    creates = sum(1 for r in served if r["status"] < 300 and r["method"] == "POST"
                                  and r["path"].rstrip("/") == "/v1/pages")
                    return {"state": done["state"], "wall_s": done["wall_s"], "requests": len(served),
                            "rate_limited": len(log) - len(served), "creates": creates, "summary": done["summary"]}

                first = run(FULL_DAG, NO_SWEEP)
                rerun = run(FULL_DAG, NO_SWEEP)
                run(INCREMENTAL_DAG, NO_SWEEP)  # the first incremental run: a full read, then its watermark
                changed = accounts // 100
                httpx.post(f"{box.salesforce_url}/_sandbox/mutate", json={"object": "Account", "update": changed},
                           verify=ssl.create_default_context(cafile=box.ca_bundle), timeout=60).raise_for_status()
                incremental = run(INCREMENTAL_DAG, NO_SWEEP)
    floor_s = accounts / budget.rate
    s = first["summary"]
    return [
        {"figure": "full sync (Airflow)", "records": accounts, "state": first["state"], "wall_s": first["wall_s"],
         "floor_s": round(floor_s, 1), "floor_ratio": round(first["wall_s"] / floor_s, 3),
         "sync_phase_ratio": round(s.get("sync_seconds", 0) / floor_s, 3), "budget_use": s.get("budget_use"),
         "requests": first["requests"], "requests_per_record": round(first["requests"] / accounts, 4),
         "rate_limited": first["rate_limited"], "created": s.get("created"), "failed": s.get("failed"),
         "duplicates": first["creates"] - accounts, "budget_per_window": window_requests, "window_s": window_s},
        {"figure": "unchanged re-run (Airflow)", "records": accounts, "state": rerun["state"],
         "wall_s": rerun["wall_s"], "requests": rerun["requests"], "page_writes": rerun["creates"],
         "skipped": rerun["summary"].get("skipped"),
         "requests_per_100_records": round(100 * rerun["requests"] / accounts, 3)},
        {"figure": "incremental, 1% changed (Airflow)", "changed": changed, "state": incremental["state"],
         "wall_s": incremental["wall_s"], "requests": incremental["requests"],
         "updated": incremental["summary"].get("updated"), "staged": incremental["summary"].get("total"),
         "requests_ratio": round(incremental["requests"] / changed, 4),
         # what any run costs (preflight's reads), as the unchanged re-run shows: left out here
         "fixed_requests": rerun["requests"],
         "requests_ratio_less_fixed": round((incremental["requests"] - rerun["requests"]) / changed, 4)},
    ]


def projection(records: int, measured: float) -> list[dict[str, Any]]:
    """Hours a first full sync of `records` takes at each Notion budget: the floor is its requests ÷ rate."""
    return [
        {"figure": "projection", "records": records, "budget_per_min": per_min, "requests_per_record": rpr,
         "requests": round(records * rpr), "hours": round(records * rpr / per_min / 60, 1),
         "days": round(records * rpr / per_min / 60 / 24, 2)}
        for rpr in (1.0, measured) for per_min in BUDGETS_PER_MIN
    ]


def backends(names: list[str], tmp: Path) -> list[tuple[str, str | None, str]]:
    """(backend, SQLAlchemy URL or None, why not) per backend asked for: SQLite in `tmp`, PostgreSQL in
    a database of its own."""
    from sf_notion_sync.local.celery_runtime import PG_HOST, PG_PORT, create_database
    from sf_notion_sync.local.runtime import reachable

    found = []
    for name in names:
        if name == "sqlite":
            found.append((name, f"sqlite:///{tmp / 'state.db'}", ""))
        elif not reachable(PG_HOST, PG_PORT):
            found.append((name, None, f"PostgreSQL on {PG_HOST}:{PG_PORT} is not reachable"))
        else:
            found.append((name, create_database(f"bench_scale_{uuid.uuid4().hex[:10]}"), ""))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated; '' skips the extraction")
    parser.add_argument("--airflow-accounts", type=int, default=100_000,
                        help="Accounts of the full, unchanged and incremental syncs through Airflow (0: none)")
    parser.add_argument("--window-requests", type=int, default=1200, help="their Notion budget per window")
    parser.add_argument("--window-s", type=float, default=6.0, help="the window (real: 60 s; shorter scales time)")
    args = parser.parse_args()
    logging.getLogger("sf_notion_sync").setLevel(logging.ERROR)

    from sf_notion_sync.local.celery_runtime import drop_database
    from sf_notion_sync.sync.budget import NotionBudget

    results: list[dict[str, Any]] = []

    def emit(result: dict[str, Any]) -> None:
        print(json.dumps(result), flush=True)
        results.append(result)

    if args.backends:
        budget = NotionBudget(pool_slots=4)  # Notion's 180 per 60 s: what the planner sizes a first sync by
        with engine_sandbox("bench-scale-", args.accounts, budget) as (box, tmp):
            for backend, url, why in backends(args.backends.split(","), tmp):
                if url is None:
                    emit({"figure": "extraction", "backend": backend, "skipped": why})
                    continue
                try:
                    for result in state_scale(box, backend, url, budget):
                        emit(result)
                finally:
                    if backend != "sqlite":
                        drop_database(url.rsplit("/", 1)[1])
    costs = airflow_costs(args.airflow_accounts, args.window_requests, args.window_s) if args.airflow_accounts else []
    for result in costs + projection(1_000_000, costs[0]["requests_per_record"] if costs else 1.0):
        emit(result)
    return report(results)


def goal_rows(r: dict[str, Any]) -> list[tuple[str, str, float, float | None, float, str]]:
    """(where, figure, measured, lowest, highest, unit) for each goal a result line has."""
    if r["figure"] == "extraction" and "skipped" not in r:
        return [(r["backend"], "peak RSS", r["peak_rss_mb"], None, PEAK_RSS_GOAL_MB, "MB"),
                (r["backend"], "planned batches", r["batches"], None, MAX_MAP_LENGTH, "tasks")]
    if r["figure"] == "dashboard":
        return [(r["backend"], r["endpoint"], r["seconds"], None, DASHBOARD_GOAL_S, "s")]
    if r["figure"] == "full sync (Airflow)":
        return [("airflow", "duplicates", r["duplicates"], None, 0, "pages"),
                ("airflow", "req/record", r["requests_per_record"], 0.99, 1.01, ""),
                ("airflow", "wall ÷ floor", r["floor_ratio"], None, 1.05, "")]
    if r["figure"] == "unchanged re-run (Airflow)":
        return [("airflow", "re-run req/100", r["requests_per_100_records"], None, 1.0, "")]
    if r["figure"] == "incremental, 1% changed (Airflow)":
        return [("airflow", "incr. req/changed", r["requests_ratio"], 0.99, 1.01, "")]
    return []


def report(results: list[dict[str, Any]]) -> int:
    """The table for people: each figure with its goal, its ratio to it, met or not; and the projection."""
    rows = [row for r in results for row in goal_rows(r)]
    print(f"\n{'where':<11} {'figure':<18} {'measured':>9} {'goal':>14} {'ratio':>6} met")
    met_all = True
    for where, name, value, low, high, unit in rows:
        met = (low is None or value >= low) and value <= high
        met_all &= met
        goal = f"<= {high:g} {unit}".strip() if low is None else f"{low:g}..{high:g}"
        ratio = f"{value / high:.2f}" if high else "-"
        print(f"{where:<11} {name:<18} {value:>9} {goal:>14} {ratio:>6} {'yes' if met else 'NO'}")
    print(f"\n{'first sync of 1,000,000':<24} {'req/record':>10} {'180/min':>9} {'600/min':>9}")
    projected = [r for r in results if r["figure"] == "projection"]
    for rpr in dict.fromkeys(r["requests_per_record"] for r in projected):
        hours = {r["budget_per_min"]: r["hours"] for r in projected if r["requests_per_record"] == rpr}
        print(f"{'':<24} {rpr:>10} {hours[180]:>7} h {hours[600]:>7} h")
    return 0 if met_all else 1


if __name__ == "__main__":
    sys.exit(main())
