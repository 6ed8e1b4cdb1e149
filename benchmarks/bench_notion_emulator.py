"""Throughput of the Notion emulator on loopback with limits and latency off.

The emulator runs in its own process (as the sandbox runs it), so that the load generator does not
share its interpreter lock; several keep-alive connections (asyncio) drive it for a bounded count and time.
Exits non-zero when creates or updates stay below the 300 req/s goal.

    .venv/bin/python benchmarks/bench_notion_emulator.py [--clients 8] [--requests 3000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time

import httpx

GOAL_RPS = 300.0
TOKEN = "secret_bench"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Notion-Version": "2025-09-03"}


def start_emulator(state_dir: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sf_notion_sync.sandbox.notion_emulator",
            "--port",
            "0",
            "--state-dir",
            state_dir,
            "--token",
            TOKEN,
            "--rate",
            "0",
            "--latency-median-ms",
            "0",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()
    if not line.startswith("Notion emulator listening on "):
        process.kill()
        raise SystemExit(f"emulator did not start: {line!r}")
    return process, line.rsplit(" ", 1)[1].strip()


class KeepAliveConnection:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams.

    httpx's async pool costs more CPU per request than the emulator does, and on a small machine the
    load generator would then measure itself; this one only frames requests and reads Content-Length.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: dict | None) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        payload = json.dumps(body).encode() if body is not None else b""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Authorization: {HEADERS['Authorization']}\r\nNotion-Version: {HEADERS['Notion-Version']}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        self.writer.write(head.encode() + payload)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return int(status_line.split()[1]), await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def run_phase(name, url, clients, total, seconds, make_request) -> dict:
    """`total` requests spread over `clients` keep-alive connections, stopping early at `seconds`."""
    host, port = httpx.URL(url).host, httpx.URL(url).port
    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal errors
        connection = KeepAliveConnection(host, port)
        try:
            for index in counter:
                if time.monotonic() > deadline:
                    return
                method, path, body = make_request(index)
                started = time.perf_counter()
                status, _ = await connection.request(method, path, body)
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    errors += 1
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        "phase": name,
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / elapsed,
        "p50_ms": quantiles[49] * 1000,
        "p95_ms": quantiles[94] * 1000,
    }


async def bench(url: str, clients: int, total: int, seconds: float) -> list[dict]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as control:
        made = (
            await control.post(
                "/_sandbox/databases",
                json={
                    "title": "Bench",
                    "properties": {
                        "Name": {"type": "title"},
                        "SF Id": {"type": "rich_text"},
                        "Amount": {"type": "number"},
                        "Stage": {"type": "select"},
                    },
                },
            )
        ).json()
    source = made["data_source_id"]
    page_ids: list[str] = []

    def create(i: int):
        return (
            "POST",
            "/v1/pages",
            {
                "parent": {"data_source_id": source},
                "properties": {
                    "Name": {"title": [{"text": {"content": f"Account {i}"}}]},
                    "SF Id": {"rich_text": [{"text": {"content": f"001{i:015d}"}}]},
                    "Amount": {"number": i},
                    "Stage": {"select": {"name": ("Open", "Won", "Lost")[i % 3]}},
                },
            },
        )

    results = [await run_phase("create", url, clients, total, seconds, create)]
    async with httpx.AsyncClient(base_url=url, timeout=60) as control:
        listing = (await control.get(f"/_sandbox/data_sources/{source}/pages")).json()
    page_ids = [p["id"] for p in listing["pages"]]

    def update(i: int):
        return "PATCH", f"/v1/pages/{page_ids[i % len(page_ids)]}", {"properties": {"Amount": {"number": -i}}}

    def query(i: int):
        flt = {"property": "SF Id", "rich_text": {"equals": f"001{i % len(page_ids):015d}"}}
        return "POST", f"/v1/data_sources/{source}/query", {"filter": flt, "page_size": 100}

    results.append(await run_phase("update", url, clients, total, seconds, update))
    results.append(await run_phase("query", url, clients, max(1, total // 3), seconds, query))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=3000, help="requests per phase (queries: a third)")
    parser.add_argument("--seconds", type=float, default=20.0, help="time bound per phase")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as state_dir:
        process, url = start_emulator(state_dir)
        try:
            results = asyncio.run(bench(url, args.clients, args.requests, args.seconds))
        finally:
            process.terminate()
            process.wait(timeout=10)
    print(f"Notion emulator on loopback, limits and latency off, {args.clients} keep-alive clients")
    print(f"{'phase':<8}{'requests':>10}{'errors':>8}{'req/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'vs 300/s':>10}")
    for r in results:
        print(
            f"{r['phase']:<8}{r['requests']:>10}{r['errors']:>8}{r['rps']:>10.0f}"
            f"{r['p50_ms']:>9.2f}{r['p95_ms']:>9.2f}{r['rps'] / GOAL_RPS:>9.2f}x"
        )
    failing = [
        r["phase"]
        for r in results
        if r["phase"] in ("create", "update") and (r["rps"] < GOAL_RPS or r["errors"])
    ]
    if failing:
        print(f"FAIL: below {GOAL_RPS:.0f} req/s or with errors: {', '.join(failing)}")
        return 1
    print("OK: creates and updates sustain the 300 req/s goal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
