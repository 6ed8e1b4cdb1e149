"""Bulk API 2.0 throughput of the Salesforce emulator, and peak memory of emulator and client.

Starts the emulator as its own process (so its RSS is its own), runs a Bulk 2.0 query of every
Account through simple-salesforce's bulk2, page by page, and prints records/s, time and peak RSS.
Several --accounts values show whether memory grows with N (it should not).

    .venv/bin/python benchmarks/bench_salesforce_emulator.py [--accounts 100000,1000000]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

FIELDS = ("Id, Name, Type, Industry, Rating, AnnualRevenue, NumberOfEmployees, Phone, Website, BillingCity, "
          "BillingCountry, Description, Regions__c, Is_Strategic__c, CreatedDate, LastModifiedDate, SystemModstamp")


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process: throughput per CPU-second is stable on a shared machine."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_once(accounts: int, max_records: int) -> dict:
    from simple_salesforce import Salesforce

    state = tempfile.mkdtemp(prefix="sf-bench-")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sf_notion_sync.sandbox.salesforce_emulator", "--port", "0", "--state-dir", state,
         "--accounts", str(accounts), "--contacts", "0", "--opportunities", "0"],
        stdout=subprocess.PIPE, text=True)
    try:
        ready = json.loads(proc.stdout.readline())
        os.environ["REQUESTS_CA_BUNDLE"] = ready["ca_bundle"]
        from sf_notion_sync.sandbox.salesforce_emulator import DEFAULT_SESSION_ID

        sf = Salesforce(instance_url=ready["url"], session_id=DEFAULT_SESSION_ID)
        records = pages = 0
        rows_bytes = 0
        cpu_before = cpu_seconds(proc.pid)
        started = time.perf_counter()
        first_page_at = None
        for page in sf.bulk2.Account.query(f"SELECT {FIELDS} FROM Account", max_records=max_records, wait=0.1):
            pages += 1
            records += sum(1 for _ in csv.reader(io.StringIO(page))) - 1  # parse, as a real client would
            rows_bytes += len(page)
            first_page_at = first_page_at or time.perf_counter() - started
        elapsed = time.perf_counter() - started
        emulator_cpu = cpu_seconds(proc.pid) - cpu_before
        return {
            "accounts": accounts, "records": records, "pages": pages, "seconds": round(elapsed, 2),
            "first_page_s": round(first_page_at or 0, 2), "records_per_s": round(records / elapsed),
            "mb_per_s": round(rows_bytes / elapsed / 1e6, 1), "emulator_cpu_s": round(emulator_cpu, 1),
            "records_per_emulator_cpu_s": round(records / emulator_cpu) if emulator_cpu else None,
            "emulator_peak_rss_mb": round(peak_rss_mb(proc.pid), 1),
            "client_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", default="100000,1000000", help="comma-separated record counts")
    parser.add_argument("--max-records", type=int, default=50_000, help="Bulk 2.0 page size (maxRecords)")
    args = parser.parse_args()
    for n in (int(x) for x in args.accounts.split(",")):
        result = run_once(n, args.max_records)
        print(json.dumps(result), flush=True)
        if result["records"] != n:
            print(f"expected {n} records, got {result['records']}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
