"""What the engine benchmarks share: the sandbox they run on and the SyncContext a DAG task would build.

Not a benchmark itself (run_all.py runs bench_*.py only). The package is imported inside the functions,
so that a benchmark's `--help` stays quick.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sf_notion_sync.config import SyncConfig
    from sf_notion_sync.sandbox.run import Sandbox
    from sf_notion_sync.state.store import StateStore
    from sf_notion_sync.sync import SyncContext

REAL_RATE = 3.0  # Notion's budget, req/s


def demo_latency_ms(rate: float) -> float:
    """Notion request latency scaled like the demo's: 250 ms at the real 3 req/s, less at a larger budget R."""
    return 250.0 * REAL_RATE / rate


@contextmanager
def engine_sandbox(prefix: str, accounts: int, rate: float, latency_ms: float) -> Iterator[tuple[Sandbox, Path]]:
    """Both emulators in a fresh temporary directory (yielded with the sandbox, for a state DB beside it):
    `accounts` Accounts with 10 Contacts and Opportunities, Notion budget `rate` with a burst of 10 and
    `latency_ms`; REQUESTS_CA_BUNDLE trusts the Salesforce emulator's certificate."""
    from sf_notion_sync.sandbox.run import start

    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    with start(tmp / "sandbox", accounts=accounts, contacts=10, opportunities=10, notion_rate=rate,
               notion_burst=10, notion_latency_ms=latency_ms) as box:
        os.environ["REQUESTS_CA_BUNDLE"] = box.ca_bundle
        yield box, tmp


def account_contexts(box: Sandbox, config: SyncConfig, store: StateStore,
                     share: float) -> Callable[..., SyncContext]:
    """`context(run_id, lane=bulk)`: an Account SyncContext on the sandbox whose Notion clients share one
    SQL limiter in `store` at the emulator's budget (`share`: the fast lane's cap)."""
    from simple_salesforce import Salesforce

    from sf_notion_sync.notion.client import ThrottledNotionClient
    from sf_notion_sync.notion.limiter import LANE_BULK, build_limiter
    from sf_notion_sync.sync import SyncContext

    def context(run_id: str, lane: str = LANE_BULK) -> SyncContext:
        def notion() -> ThrottledNotionClient:
            if box.notion_window_requests:  # the emulator counts a window budget, as Notion does
                budget = {"requests": box.notion_window_requests, "window_s": box.notion_window_s}
            else:  # its older GCRA model: that rate per 10 s window, bursts of half the emulator's
                budget = {"requests": round(box.notion_rate * 10), "window_s": 10.0,
                          "burst": max(1, box.notion_burst // 2)}
            limiter = build_limiter(box.notion_token, **budget, engine=store.engine, fast_lane_cap=share)
            return ThrottledNotionClient(box.notion_token, base_url=box.notion_url, limiter=limiter, lane=lane)

        def salesforce() -> Salesforce:
            return Salesforce(instance_url=box.salesforce_url, session_id=box.session_id)

        return SyncContext(config, "Account", store, notion, salesforce, run_id, dag_id="bench")

    return context
