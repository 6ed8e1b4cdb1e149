"""One token's window budget shared by 1, 2, 4 and 8 worker processes: budget use, the busiest
window-length span (reserved and at the server), 429s, latency, per backend (SQL, Redis).

Run: .venv/bin/python benchmarks/bench_notion_client.py [--window-requests 600] [--window-s 10] [--windows 3]
The Notion emulator counts `--window-requests` per `--window-s` per token in fixed (epoch-aligned)
windows, its latency scaled like the window (250 ms x 10/60 ≈ 42 ms), so time runs 60/window_s faster
than at Notion's real budget. The limiter runs as in production: its slack and burst are the same
shares of the window (1% and 10%). Each run gives N warm processes (spawn) a fresh token; each keeps as
many requests in flight as a batch task on N slots would (`NotionBudget.in_flight`), a thread and a
client apiece, and reads as fast as the shared limiter (SQL on a SQLite file, and Redis when
127.0.0.1:6379 answers) allows for `--windows` windows. Figures: budget use = requests served in
the run ÷ (budget × windows); the busiest window-length span of the reservations (the limiter's
guarantee: never above the budget) and of the arrivals at the server (a request reserved at t arrives
a little later: jitter the slack absorbs); 429s; latency p50/p95. Goals (issue 11): use >= 0.97, no
reserved span above the budget, no 429. Exits 1 if a goal is missed. Bounded by --budget-s.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from _common import busiest_span

WORKER_COUNTS = (1, 2, 4, 8)
REDIS_URL = "redis://127.0.0.1:6379/15"
USE_GOAL = 0.97


def _worker(base_url: str, db_url: str, data_source_id: str, commands: Any, results: Any) -> None:
    """Serve runs until told to stop: each is (token, backend, budget, threads, start_at, run_s); puts
    (reserved slots, latencies in ms, 429s met by the clients)."""
    from sf_notion_sync.state.db import make_engine

    engine = make_engine(db_url)
    results.put("ready")
    while True:
        command = commands.get(timeout=900)
        if command is None:
            break
        token, backend, requests, window_s, threads, start_at, run_s = command
        args = (base_url, engine, backend, token, requests, window_s, data_source_id, start_at, run_s)
        with ThreadPoolExecutor(threads) as pool:
            found = [f.result() for f in [pool.submit(_read, *args) for _ in range(threads)]]
        results.put(([s for f in found for s in f[0]], [x for f in found for x in f[1]], sum(f[2] for f in found)))
    engine.dispose()


def _read(base_url: str, engine: Any, backend: str, token: str, requests: int, window_s: float,
          data_source_id: str, start_at: float, run_s: float) -> tuple[list[float], list[float], int]:
    """One in-flight request's loop: its own limiter and client on the shared state, as a batch part has."""
    from sf_notion_sync.notion.client import ThrottledNotionClient
    from sf_notion_sync.notion.limiter import build_limiter

    limiter = build_limiter(token, requests=requests, window_s=window_s, backend=backend, engine=engine,
                            redis_url=REDIS_URL)
    slots: list[float] = []
    reserve = limiter.reserve

    def recording_reserve(now: float | None = None, **kwargs: Any) -> float:
        now = limiter.clock() if now is None else now
        wait = reserve(now, **kwargs)
        slots.append(now + wait)
        return wait

    limiter.reserve = recording_reserve  # the slot of every reservation, to check the guarantee
    client = ThrottledNotionClient(token, base_url=base_url, limiter=limiter)
    latencies, limited = [], 0
    time.sleep(max(0.0, start_at - time.time()))
    stop_at = start_at + run_s
    try:
        while time.time() < stop_at and len(latencies) < 100_000:
            started = time.perf_counter()
            result = client.retrieve_data_source(data_source_id)
            elapsed = time.perf_counter() - started
            latencies.append((elapsed - result.stats.waited_s) * 1000 / result.stats.attempts)
            limited += result.stats.rate_limited
    finally:
        client.close()
        limiter.close()
    return slots, latencies, limited


def _percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window-requests", type=int, default=600, help="budget per window (real: 180 or 600)")
    parser.add_argument("--window-s", type=float, default=10.0, help="the window (real: 60 s; shorter scales time)")
    parser.add_argument("--windows", type=float, default=3.0, help="windows each run lasts")
    parser.add_argument("--budget-s", type=float, default=900.0, help="stop the whole benchmark after this")
    args = parser.parse_args()

    from sf_notion_sync.local.runtime import reachable
    from sf_notion_sync.sandbox.notion_emulator import NotionEmulator
    from sf_notion_sync.sandbox.run import scaled_latency_ms
    from sf_notion_sync.state.db import make_engine, upgrade
    from sf_notion_sync.sync.budget import NotionBudget

    deadline = time.time() + args.budget_s
    tmp = Path(tempfile.mkdtemp(prefix="bench_notion_"))
    db_url = f"sqlite:///{tmp / 'state.db'}"  # PostgreSQL: tests/integration/test_notion_client_emulator.py
    upgrade(make_engine(db_url))
    backends = ["sql"] + (["redis"] if reachable("127.0.0.1", 6379, timeout=0.5) else [])
    budget, window_s, run_s = args.window_requests, args.window_s, args.windows * args.window_s
    latency = scaled_latency_ms(window_s)
    emulator = NotionEmulator(state_dir=tmp / "emu", tokens=None, latency_median_ms=latency, seed=1,
                              window_requests=budget, window_s=window_s, window_alignment="epoch")
    ds = emulator.create_database("Bench", {"Name": {"type": "title"}})["data_source_id"]
    ctx = multiprocessing.get_context("spawn")
    print(f"budget {budget} per {window_s:g} s (fixed windows), latency p50 {latency:.0f} ms, "
          f"{args.windows:g} windows per run, backends: {', '.join(backends)}")
    print(f"{'backend':9} {'procs':>5} {'threads':>7} {'req/s':>7} {'use':>6} {'reserved':>8} {'arrived':>7} "
          f"{'429s':>5} {'p50 ms':>7} {'p95 ms':>7}  met")
    missed = 0
    with emulator.serve() as server:
        results = ctx.Queue()
        queues = [ctx.Queue() for _ in range(max(WORKER_COUNTS))]
        procs = [ctx.Process(target=_worker, args=(server.base_url, db_url, ds, q, results)) for q in queues]
        for proc in procs:
            proc.start()
        try:
            for _ in procs:
                results.get(timeout=120)
            for backend in backends:
                for n in WORKER_COUNTS:
                    if time.time() + run_s + 10 > deadline:
                        print("time budget reached; stopping early")
                        return 1
                    token = f"secret_bench_{backend}_{n}_{time.time_ns()}"
                    threads = NotionBudget(budget, window_s, pool_slots=n).in_flight
                    start_at = time.time() + 1.0
                    for q in queues[:n]:
                        q.put((token, backend, budget, window_s, threads, start_at, run_s))
                    outcomes = [results.get(timeout=run_s + 120) for _ in range(n)]
                    fingerprint = hashlib.sha256(token.encode()).hexdigest()[:12]
                    log = httpx.get(f"{server.url}/_sandbox/requests", params={"since": start_at}).json()
                    mine = [r for r in log if r["token"] == fingerprint]
                    served = [r for r in mine if r["status"] != 429 and r["ts"] <= start_at + run_s]
                    limited = sum(r["status"] == 429 for r in mine)
                    reserved = busiest_span([s for slots, _, _ in outcomes for s in slots], window_s)
                    arrived = busiest_span([r["ts"] for r in mine if r["status"] != 429], window_s)
                    latencies = [x for _, lat, _ in outcomes for x in lat]
                    use = len(served) / (budget * args.windows)
                    met = use >= USE_GOAL and reserved <= budget and limited == 0
                    missed += not met
                    print(f"{backend:9} {n:5d} {threads:7d} {len(served) / run_s:7.2f} {use:6.3f} "
                          f"{reserved / budget:8.3f} {arrived / budget:7.3f} {limited:5d} "
                          f"{_percentile(latencies, 50):7.1f} {_percentile(latencies, 95):7.1f}  "
                          f"{'yes' if met else 'NO'}", flush=True)  # fmt: skip
        finally:
            for q in queues:
                q.put(None)
            for proc in procs:
                proc.join(timeout=30)
                if proc.is_alive():
                    proc.terminate()
    emulator.close()
    print(f"use = served ÷ (budget × {args.windows:g} windows), goal >= {USE_GOAL}; reserved / arrived = busiest "
          f"window-length span ÷ budget (reserved must stay <= 1); 429s must be 0")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
