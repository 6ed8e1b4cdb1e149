"""Shared Notion budget: achieved rate / budget, 429 share, request latency, for 1-8 worker processes.

Run: .venv/bin/python benchmarks/bench_notion_client.py [--rate 20] [--seconds 8]
Starts the Notion emulator (budget R, a realistic latency) and 8 warm worker processes (spawn);
each run gives N of them a fresh token and lets them read as fast as the shared limiter allows
(SQL backend on a SQLite file; Redis too when 127.0.0.1:6379 answers). Bounded: every run lasts
--seconds, and the whole benchmark stops after --budget-s.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path

import httpx

WORKER_COUNTS = (1, 2, 4, 8)
REDIS_URL = "redis://127.0.0.1:6379/15"


def _worker(base_url: str, db_url: str, data_source_id: str, commands, results) -> None:
    from sf_notion_sync.notion.client import ThrottledNotionClient
    from sf_notion_sync.notion.limiter import build_limiter
    from sf_notion_sync.state.db import make_engine

    engine = make_engine(db_url)
    results.put("ready")
    while True:
        command = commands.get(timeout=600)
        if command is None:
            break
        token, backend, rate, burst, start_at, run_s = command
        limiter = build_limiter(  # the emulator's GCRA rate per 10 s window, bursts below the emulator's
            token, requests=round(rate * 10), window_s=10.0, burst=burst, backend=backend, engine=engine,
            redis_url=REDIS_URL,
        )
        client = ThrottledNotionClient(token, base_url=base_url, limiter=limiter)
        latencies, waited, limited = [], 0.0, 0
        time.sleep(max(0.0, start_at - time.time()))
        stop_at = start_at + run_s
        while time.time() < stop_at and len(latencies) < 100_000:
            started = time.perf_counter()
            result = client.retrieve_data_source(data_source_id)
            elapsed = time.perf_counter() - started
            latencies.append((elapsed - result.stats.waited_s) * 1000 / result.stats.attempts)
            waited += result.stats.waited_s
            limited += result.stats.rate_limited
        client.close()
        limiter.close()
        results.put((latencies, waited, limited))
    engine.dispose()


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20.0, help="emulated budget R (req/s)")
    parser.add_argument("--burst", type=int, default=2, help="our burst (the emulator allows twice this)")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each run")
    parser.add_argument("--latency-ms", type=float, default=25.0, help="emulator median latency")
    parser.add_argument("--budget-s", type=float, default=300.0, help="stop the whole benchmark after this")
    args = parser.parse_args()

    from sf_notion_sync.local.runtime import reachable
    from sf_notion_sync.sandbox.notion_emulator import NotionEmulator
    from sf_notion_sync.state.db import make_engine, upgrade

    deadline = time.time() + args.budget_s
    backends = ["sql"] + (["redis"] if reachable("127.0.0.1", 6379, timeout=0.5) else [])
    tmp = Path(tempfile.mkdtemp(prefix="bench_notion_"))
    db_url = f"sqlite:///{tmp / 'state.db'}"
    upgrade(make_engine(db_url))
    emulator = NotionEmulator(
        state_dir=tmp / "emu", tokens=None, rate=args.rate, burst=args.burst * 2,
        latency_median_ms=args.latency_ms, latency_p95_ms=args.latency_ms * 2.5, seed=1,
    )  # fmt: skip
    ds = emulator.create_database("Bench", {"Name": {"type": "title"}})["data_source_id"]
    ctx = multiprocessing.get_context("spawn")
    print(f"budget R = {args.rate:g} req/s, burst {args.burst} (emulator {args.burst * 2}), "
          f"emulator latency p50 {args.latency_ms:g} ms, {args.seconds:g} s per run, backends: {', '.join(backends)}")  # fmt: skip
    print(f"{'backend':8} {'workers':>7} {'req/s':>7} {'÷ R':>6} {'429 %':>6} {'p50 ms':>7} {'p95 ms':>7} {'wait/req ms':>11}")
    with emulator.serve() as server:
        results = ctx.Queue()
        queues = [ctx.Queue() for _ in range(max(WORKER_COUNTS))]
        procs = [ctx.Process(target=_worker, args=(server.base_url, db_url, ds, q, results)) for q in queues]
        for proc in procs:
            proc.start()
        try:
            for _ in procs:
                results.get(timeout=120)
            run = 0
            for backend in backends:
                for n in WORKER_COUNTS:
                    if time.time() + args.seconds + 5 > deadline:
                        print("time budget reached; stopping early")
                        break
                    run += 1
                    token = f"secret_bench_{run}_{time.time_ns()}"
                    start_at = time.time() + 1.0
                    for q in queues[:n]:
                        q.put((token, backend, args.rate, args.burst, start_at, args.seconds))
                    outcomes = [results.get(timeout=args.seconds + 120) for _ in range(n)]
                    fp = hashlib.sha256(token.encode()).hexdigest()[:12]
                    log = httpx.get(f"{server.url}/_sandbox/requests", params={"since": start_at}).json()
                    mine = [r for r in log if r["token"] == fp and r["ts"] <= start_at + args.seconds]
                    ok = sum(r["status"] != 429 for r in mine)
                    limited = len(mine) - ok
                    latencies = [x for lat, _, _ in outcomes for x in lat]
                    calls = max(1, len(latencies))
                    wait_ms = sum(w for _, w, _ in outcomes) * 1000 / calls
                    achieved = ok / args.seconds
                    print(f"{backend:8} {n:7d} {achieved:7.2f} {achieved / args.rate:6.3f} "
                          f"{100 * limited / max(1, len(mine)):6.2f} {_percentile(latencies, 50):7.1f} "
                          f"{_percentile(latencies, 95):7.1f} {wait_ms:11.1f}", flush=True)  # fmt: skip
        finally:
            for q in queues:
                q.put(None)
            for proc in procs:
                proc.join(timeout=30)
                if proc.is_alive():
                    proc.terminate()
    emulator.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
