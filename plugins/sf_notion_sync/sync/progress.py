"""A batch's progress, where operators look: a log line at a steady interval, and per-minute run metrics.

At Notion's budget a 2,000-record batch runs for over ten minutes; without these lines its task log
says nothing until the end. A thread wakes every ``interval`` seconds (the records are written by the
batch's own threads meanwhile), reads the writers' counts, logs done / total, records/s, Notion
requests/s against the budget, 429s and the ETA of the batch and of the run, and adds what the batch
did since its last report to the run's minute (state/run_metrics.py), which the dashboard and the
demo draw from. The ETA arithmetic lives here once; the dashboard and the demo use it too.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from sf_notion_sync.state.rows import RunInfo
from sf_notion_sync.state.run_metrics import MinuteDelta
from sf_notion_sync.state.store import StateStore

if TYPE_CHECKING:
    from .context import SyncContext

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 30.0
INTERVAL_ENV = "SF_NOTION_SYNC_PROGRESS_INTERVAL_S"
"""Overrides the interval (seconds) for every batch of this process: the time-scaled demo uses a few."""
RECENT = timedelta(minutes=5)
"""The span the run's rate is measured over: recent enough to follow a pause, long enough to be steady."""


def interval_from_env() -> float:
    raw = os.environ.get(INTERVAL_ENV, "").strip()
    if not raw:
        return PROGRESS_INTERVAL_S
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{INTERVAL_ENV}={raw!r} is not a number of seconds") from None
    if not 0.1 <= value <= 3600:
        raise ValueError(f"{INTERVAL_ENV}={raw!r} must be between 0.1 and 3600 seconds")
    return value


def eta_seconds(remaining: int, rate: float | None, budget_rps: float | None) -> float | None:
    """Seconds left at the measured records/s; before there is one, at the budget (about one request a
    record, the cost of a create or an update). None when neither is known."""
    if remaining <= 0:
        return 0.0
    pace = rate if rate and rate > 0 else budget_rps
    return remaining / pace if pace and pace > 0 else None


@dataclass(frozen=True)
class RunPace:
    """A run's live figures: records done (finished batches, or the running ones' reports if further),
    429s, the records/s and Notion requests/s of the recent minutes, and the ETA from them."""

    done: int
    rate_limited_429s: int
    records_per_s: float | None
    requests_per_s: float | None
    eta_s: float | None
    eta_from: str
    """``rate`` (measured) or ``budget`` (nothing reported yet)."""


def run_pace(store: StateStore, run: RunInfo, now: datetime, since: datetime | None = None) -> RunPace:
    """``since``: when the run's batches began writing (default: its first batch's start, read here), so
    the time its extraction and planning took does not dilute the rate."""
    if since is None:
        since = min((b.started_at for b in store.list_batches(run.run_id) if b.started_at), default=None)
    reported, limited, recent, requests = store.run_done(run.run_id, now, RECENT)
    done = max(reported, run.processed)
    span = min(RECENT.total_seconds(), max((now - (since or run.started_at)).total_seconds(), 1.0))
    rate = recent / span if recent else None
    return RunPace(done, max(limited, run.rate_limited_429s), rate, requests / span if requests else None,
                   eta_seconds(run.total - done, rate, run.budget_rps), "rate" if rate else "budget")


def duration(seconds: float | None) -> str:
    """``1h 02m``, ``3m 05s``, ``42s``; ``?`` when unknown."""
    if seconds is None:
        return "?"
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 60}m {s % 60:02d}s" if s >= 60 else f"{s}s"


class Counted(Protocol):
    """What a writer reports: records done, and Notion requests and 429s so far (sent, not only flushed)."""

    def progress(self) -> tuple[int, int, int]: ...

    def budget_keys(self) -> tuple[str | None, str | None]: ...


@dataclass
class _Seen:
    records: int = 0
    requests: int = 0
    limited: int = 0


class BatchProgress:
    """Reports one batch attempt every ``interval`` s on a thread, and once more when it stops."""

    def __init__(self, ctx: SyncContext, batch_index: int, size: int, carried: int, writers: Sequence[Counted],
                 interval: float) -> None:
        self.ctx, self.index, self.size, self.carried = ctx, batch_index, size, carried
        self.writers, self.interval = writers, interval
        self._began = time.monotonic()
        self._seen = _Seen()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"batch-{batch_index}-progress", daemon=True)
        self._lock = threading.Lock()

    def __enter__(self) -> BatchProgress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=max(5.0, self.interval))
        self._safe_report()  # the last one: what the batch did since the previous report

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):  # ends when the batch stops; each wait is one interval
            self._safe_report()

    def _safe_report(self) -> None:
        """A report never fails the batch, nor hides the batch's own error; the next one tries again."""
        try:
            self.report()
        except Exception:
            log.exception("batch %s: progress report failed", self.index)

    def report(self) -> None:
        """Add what the writers did since the last report to the run's minute and log one line."""
        with self._lock:
            counts = [w.progress() for w in self.writers]
            now = _Seen(sum(c[0] for c in counts), sum(c[1] for c in counts), sum(c[2] for c in counts))
            delta = _Seen(now.records - self._seen.records, now.requests - self._seen.requests,
                          now.limited - self._seen.limited)
            ctx = self.ctx
            key, workspace = next((k for k in (w.budget_keys() for w in self.writers) if k[0]), (None, None))
            at = ctx.clock()
            if not ctx.dry_run:
                ctx.store.add_run_minute(MinuteDelta(ctx.run_id, ctx.object_name, at, delta.records, delta.requests,
                                                     delta.limited, ctx.budget_rps, key, workspace))
            self._seen = now  # only once stored: a failed write is carried into the next report
            self._log(now, at)

    def _log(self, now: _Seen, at: datetime) -> None:
        ctx = self.ctx
        elapsed = max(time.monotonic() - self._began, 1e-6)
        rate, rps = now.records / elapsed, now.requests / elapsed
        done = self.carried + now.records
        run = ctx.store.get_run(ctx.run_id)
        run_eta = run_pace(ctx.store, run, at).eta_s if run is not None and run.total else None
        budget = ctx.budget_rps
        log.info(
            "batch %s: %s / %s records (%.0f%%) · %.2f records/s · Notion %.2f req/s of %.2f budget (%.0f%%) · "
            "429s %s · ETA batch %s, run %s",
            self.index, f"{done:,}", f"{self.size:,}", 100 * done / max(self.size, 1), rate, rps, budget,
            100 * rps / budget if budget else 0, now.limited,
            duration(eta_seconds(self.size - done, rate, budget)), duration(run_eta),
        )
