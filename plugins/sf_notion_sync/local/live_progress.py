"""A run's progress in a terminal while it runs: the demo's live line, read from the sync state database.

The same figures as the dashboard's running-run view (sync/progress.run_pace): records done / total, the recent
records/s, Notion requests/s against the budget, 429s and the ETA. On a terminal the line is rewritten
in place; in a log (not a TTY) a line is printed every ``LOG_EVERY_S`` so the log stays short.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from sqlalchemy.exc import SQLAlchemyError

from sf_notion_sync.state.store import StateStore, utcnow
from sf_notion_sync.sync.progress import duration, run_pace

LOG_EVERY_S = 10.0


def progress_line(store: StateStore, run_id: str) -> str | None:
    """One line of the run's progress, or None before the run has its total (extraction not done)."""
    run = store.get_run(run_id)
    if run is None or not run.total:
        return None
    pace = run_pace(store, run, utcnow())
    rps = pace.requests_per_s or 0.0
    budget = f" of {run.budget_rps:.2f} budget ({rps / run.budget_rps:.0%})" if run.budget_rps else ""
    return (f"records {pace.done:,} / {run.total:,} ({pace.done / run.total:.0%}) · {pace.records_per_s or 0:.2f} "
            f"records/s · Notion {rps:.2f} req/s{budget} · 429s {pace.rate_limited_429s} · ETA {duration(pace.eta_s)}")


def follow(state_db: Path, run_id: str, is_done: Callable[[], bool], timeout: float, *, poll_s: float = 1.0,
           out: TextIO = sys.stdout) -> None:
    """Print the run's progress until ``is_done()``; raise TimeoutError after ``timeout`` seconds."""
    tty = out.isatty()
    store: StateStore | None = None
    deadline, printed = time.monotonic() + timeout, 0.0
    try:
        while not is_done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} not finished after {timeout:.0f}s")
            if store is None and state_db.exists():  # created by the run's first task; never created here
                store = StateStore.from_url(f"sqlite:///{state_db}", migrate=False)
            line = _read(store, run_id)
            if line and (tty or time.monotonic() - printed >= LOG_EVERY_S):
                out.write(f"\r\033[K    {line}" if tty else f"    {line}\n")
                out.flush()
                printed = time.monotonic()
            time.sleep(poll_s)
    finally:
        if tty:
            out.write("\n")
        if store is not None:
            store.engine.dispose()


def _read(store: StateStore | None, run_id: str) -> str | None:
    """The line, or None while the tables are not there yet (the first task migrates them)."""
    if store is None:
        return None
    try:
        return progress_line(store, run_id)
    except SQLAlchemyError:  # no tables before the first task migrates them: the next poll tries again
        return None
