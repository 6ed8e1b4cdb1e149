"""`make bench`: run every benchmarks/bench_*.py in turn, each bounded in time (20 min; the
scale benchmark 4 h), and report.

Each benchmark prints its own figures and ratios to the limits; this runner adds a one-line verdict
per benchmark and exits non-zero if any fell short of its goal. BENCH=name runs only that one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TIME_LIMIT_S = 1200
LONGER = {"bench_scale": 4 * 3600, "bench_realtime": 1800, "bench_connections": 3600}
"""Benchmarks whose figures take longer: a million records extracted twice (SQLite, PostgreSQL); two
10,000-record full syncs in turn (real time is measured during the second); four 10,000-record full
syncs through Airflow, each on a fresh stack (~30 min of syncing at 12 to 48 requests per second)."""


def main() -> int:
    only = os.environ.get("BENCH", "")
    scripts = sorted(p for p in HERE.glob("bench_*.py") if only in p.stem)
    if not scripts:
        print(f"no benchmark matches BENCH={only!r}")
        return 2
    verdicts = []
    for script in scripts:
        print(f"\n=== {script.stem} ===", flush=True)
        started = time.monotonic()
        try:
            limit = LONGER.get(script.stem, TIME_LIMIT_S)
            code = subprocess.run([sys.executable, str(script)], timeout=limit).returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
        verdicts.append((script.stem, code, time.monotonic() - started))
    print("\n=== summary ===")
    for name, code, seconds in verdicts:
        print(f"{name:<32} {'ok' if code == 0 else f'FAILED ({code})':<14} {seconds:7.1f} s")
    return 0 if all(code == 0 for _, code, _ in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
