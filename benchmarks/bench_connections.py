"""Several Notion connections writing one workspace: does a full sync through Airflow spend K times one
connection's budget, and, under a workspace limit nobody configured, learn it and keep to it?

Run: .venv/bin/python benchmarks/bench_connections.py [--accounts 10000] [--window-requests 120]
     [--window-s 10] [--cases k1,k2,k4,k4-learned]
Each case is a fresh sandbox (its emulators in this process's threads: the engine runs in Airflow's task
processes) with K integrations of one emulated workspace, each with its own token and the emulator's
window budget (`--window-requests` per `--window-s`, the latency scaled like the window), and a fresh
local Airflow (scheduler with LocalExecutor) with a fresh state database; sync.yaml lists the K
connections for Account (notion_default, notion_bulk_2, ...) and no workspace budget. The case triggers
the full-sync DAG over `--accounts` Accounts and reads the emulator's request log: the achieved rate =
requests served between the first and the last page write ÷ that span (÷ the goal's rate: its use);
requests per record over the whole run, and per connection (the spread); 429s (by reason) ÷ requests;
pages per Salesforce Id in the emulator's database. k1, k2, k4: no workspace limit, goal 0.95 × K ×
one connection's rate. k4-learned: the emulator's workspace limit is 2.5 × one connection's budget,
which the sync must learn from its 429s (the level it stored is shown): goal 0.90 of that limit with at
most 2% of requests answered 429. Every case: exactly one page per record, 1.00 ± 0.02 requests per
record. The projection: hours a first sync of a million records takes at 180 and 600 per minute per
connection for K = 1, 2, 4, nominal and at the measured requests per record and budget use. One JSON
line per case; a table of the goals follows. It depends on sandbox.run.start(notion_connections=K).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import (
    FULL_DAG,
    NO_SWEEP,
    airflow_run,
    is_limited,
    limited_by_reason,
    notion_log,
    unscheduled_config,
)

CONNECTIONS = ("notion_default", "notion_bulk_2", "notion_bulk_3", "notion_bulk_4")
"""The Airflow connections of the sandbox's integrations, in the order sync.yaml lists them."""
BUDGETS_PER_MIN = (180, 600)
"""Notion's budgets per connection: Free and Plus, Business and Enterprise."""
PROJECTED_RECORDS = 1_000_000
RATE_GOAL, LEARNED_RATE_GOAL, LEARNED_429_GOAL = 0.95, 0.90, 0.02
REQUESTS_PER_RECORD_GOAL = (0.98, 1.02)


@dataclass(frozen=True)
class Case:
    """K connections; `workspace_share`: the emulator's workspace limit in connection budgets (0: none)."""

    name: str
    connections: int
    workspace_share: float = 0.0


CASES = {c.name: c for c in (Case("k1", 1), Case("k2", 2), Case("k4", 4), Case("k4-learned", 4, 2.5))}


def run_case(case: Case, accounts: int, window_requests: int, window_s: float) -> dict[str, Any]:
    """One case on a fresh sandbox, Airflow and state database: the DAG run, then the emulator's figures."""
    import httpx

    from sf_notion_sync.local.runtime import running_airflow
    from sf_notion_sync.sandbox.run import start

    workspace_limit = round(case.workspace_share * window_requests)
    rate = window_requests / window_s
    timeout = 900 + 4 * accounts / (rate * (case.workspace_share or case.connections))
    with tempfile.TemporaryDirectory(prefix=f"bench-connections-{case.name}-") as tmp:
        root = Path(tmp)
        with start(root / "sandbox", accounts=accounts, contacts=0, opportunities=0,
                   notion_window_requests=window_requests, notion_window_s=window_s,
                   notion_connections=case.connections) as box:
            if workspace_limit:
                httpx.patch(f"{box.notion_url}/_sandbox/config", timeout=30, json={
                    "workspace_window_requests": workspace_limit, "workspace_window_s": window_s}).raise_for_status()
            config = unscheduled_config(root / "sync.yaml", {"connections": list(CONNECTIONS[:case.connections])})
            state_url = f"sqlite:///{root / 'state.db'}"
            env = {**box.env(), "SF_NOTION_SYNC_CONFIG": str(config), "AIRFLOW_CONN_SYNC_STATE_DB": state_url}
            with running_airflow(root / "airflow", env, (FULL_DAG,)) as airflow:
                run = airflow_run(airflow, FULL_DAG, NO_SWEEP, timeout)
            log = notion_log(box, run["since"], run["until"])
            pages = pages_per_id(box.notion_url, box.databases["Account"]["data_source_id"])
        learned = learned_limits(state_url)
    goal_rate = (workspace_limit or case.connections * window_requests) / window_s
    return {"case": case.name, "connections": case.connections, "records": accounts, "state": run["state"],
            "wall_s": run["wall_s"], "budget_per_window": window_requests, "window_s": window_s,
            "workspace_limit": workspace_limit or None, "goal_rate": round(goal_rate, 2),
            **log_figures(log, accounts, goal_rate), **window_figures(log, window_s), **page_figures(pages, accounts),
            "learned": learned, "created": run["summary"].get("created"), "failed": run["summary"].get("failed")}


def log_figures(log: list[dict[str, Any]], records: int, goal_rate: float) -> dict[str, Any]:
    """The run's rate between its first and last page write, its cost per record and its 429s."""
    served = [r for r in log if not is_limited(r)]
    writes = sorted(r["ts"] for r in served if r["status"] < 300 and r["path"].startswith("/v1/pages")
                    and r["method"] in ("POST", "PATCH"))
    span = writes[-1] - writes[0] if len(writes) > 1 else 0.0
    in_span = sum(1 for r in served if writes and writes[0] <= r["ts"] <= writes[-1])
    achieved = in_span / span if span else 0.0
    limited = limited_by_reason(log)
    return {"requests": len(served), "requests_per_record": round(len(served) / max(1, records), 4),
            "requests_by_connection": sorted(Counter(r["token"] for r in served).values(), reverse=True),
            "sync_s": round(span, 1), "achieved_rate": round(achieved, 2), "use": round(achieved / goal_rate, 4),
            "share_429": round(sum(limited.values()) / max(1, len(log)), 5), "limited_by_reason": limited}


def window_figures(log: list[dict[str, Any]], window_s: float) -> dict[str, Any]:
    """Requests served and refused per window of the emulator's clock (epoch-aligned), whole windows only:
    where a run lost its budget (a pause after a 429, a slow start) shows as a low window."""
    served, refused = Counter(), Counter()
    for r in log:
        (refused if is_limited(r) else served)[math.floor(r["ts"] / window_s)] += 1
    whole = sorted(served)[1:-1]
    return {"served_per_window": [served[w] for w in whole], "limited_per_window": [refused[w] for w in whole]}


def pages_per_id(notion_url: str, data_source_id: str) -> Counter[str]:
    """Live pages of the Account database per Salesforce Id, as the emulator holds them."""
    import httpx

    pages = httpx.get(f"{notion_url}/_sandbox/data_sources/{data_source_id}/pages", timeout=120).json()["pages"]
    return Counter("".join(t["plain_text"] for t in p["properties"]["Salesforce Id"]["rich_text"]) for p in pages)


def page_figures(pages: Counter[str], records: int) -> dict[str, Any]:
    """Exactly one page per record: the pages, the records with one, duplicates beyond the first."""
    return {"pages": sum(pages.values()), "records_with_page": len(pages),
            "duplicates": sum(n - 1 for n in pages.values()), "records_without_page": records - len(pages)}


def learned_limits(state_url: str) -> list[dict[str, Any]]:
    """The workspace limits the run stored (requests per window, and how many 429s taught them)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(state_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT requests, window_s, limited FROM notion_workspace_limit")).all()
    finally:
        engine.dispose()
    return [{"requests": r.requests, "window_s": r.window_s, "limited": r.limited} for r in rows]


def projection(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Hours a first sync of a million records takes per budget and K: nominal (1 request per record, the
    whole budget) and at the measured case's requests per record and use of the budget."""
    measured = {r["connections"]: r for r in results if not r["workspace_limit"]}
    rows = []
    for k in (1, 2, 4):
        figures = [("nominal", 1.0, 1.0)]
        if k in measured and measured[k]["use"]:
            figures.append(("measured", measured[k]["requests_per_record"], measured[k]["use"]))
        for basis, rpr, use in figures:
            hours = {per_min: round(PROJECTED_RECORDS * rpr / (k * per_min * 60) / use, 1)
                     for per_min in BUDGETS_PER_MIN}
            rows.append({"figure": "projection", "connections": k, "basis": basis, "requests_per_record": rpr,
                         "use": use, **{f"hours_at_{m}_per_min": h for m, h in hours.items()}})
    return rows


def goal_rows(r: dict[str, Any]) -> list[tuple[str, str, float, str, bool]]:
    """(case, figure, measured, goal, met) for each goal of a case."""
    low, high = REQUESTS_PER_RECORD_GOAL
    rate_goal = LEARNED_RATE_GOAL if r["workspace_limit"] else RATE_GOAL
    rows = [(r["case"], "run state", r["state"], "success", r["state"] == "success"),
            (r["case"], "requests/s", r["achieved_rate"], f">= {rate_goal * r['goal_rate']:.2f}", r["use"] >= rate_goal),
            (r["case"], "req/record", r["requests_per_record"], f"{low:g}..{high:g}",
             low <= r["requests_per_record"] <= high),
            (r["case"], "pages per record", f"{r['pages']}/{r['records']}", "exactly 1",
             r["pages"] == r["records_with_page"] == r["records"])]
    if r["workspace_limit"]:
        rows.append((r["case"], "429 share", r["share_429"], f"<= {LEARNED_429_GOAL:g}",
                     r["share_429"] <= LEARNED_429_GOAL))
    return rows


def report(results: list[dict[str, Any]], projected: list[dict[str, Any]]) -> int:
    """The table for people (each goal, met or not) and the projection; 1 when a goal was missed."""
    rows = [row for r in results for row in goal_rows(r)]
    print(f"\n{'case':<12} {'figure':<18} {'measured':>11}  {'goal':<18} met")
    for case, name, value, goal, met in rows:
        print(f"{case:<12} {name:<18} {value!s:>11}  {goal:<18} {'yes' if met else 'NO'}")
    print(f"\n{'first sync of 1,000,000':<24} {'K':>2} {'basis':<9} {'req/rec':>8} {'use':>7} {'180/min':>9} {'600/min':>9}")
    for p in projected:
        print(f"{'':<24} {p['connections']:>2} {p['basis']:<9} {p['requests_per_record']:>8} {p['use']:>7} "
              f"{p['hours_at_180_per_min']:>7} h {p['hours_at_600_per_min']:>7} h")
    return 0 if all(met for *_, met in rows) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--window-requests", type=int, default=120, help="each connection's budget per window")
    parser.add_argument("--window-s", type=float, default=10.0, help="the window (real: 60 s; shorter scales time)")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}")
    args = parser.parse_args()
    unknown = set(args.cases.split(",")) - CASES.keys()
    if unknown:
        parser.error(f"unknown cases {sorted(unknown)}; known: {', '.join(CASES)}")
    logging.getLogger("sf_notion_sync").setLevel(logging.ERROR)

    results = []
    for name in args.cases.split(","):
        result = run_case(CASES[name], args.accounts, args.window_requests, args.window_s)
        print(json.dumps(result), flush=True)
        results.append(result)
    projected = projection(results)
    for row in projected:
        print(json.dumps(row), flush=True)
    return report(results, projected)


if __name__ == "__main__":
    sys.exit(main())
