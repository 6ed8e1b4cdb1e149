"""BatchCheckpoint: a running batch's progress, saved each time one of its writers commits.

Why: a batch whose worker is killed (SIGKILL, a scheduler or machine restart) leaves no outcome; when
its task runs again it must go on after its last committed record, not from its first, and the run's
summary must still count what the killed attempt did (records and Notion requests).

Each part of the batch reports after its writer flushed: the next seq it will write and its tally,
which then counts exactly the committed records. The save is the batch's ``finish_batch`` with status
running and every part's position as the cursor; the counters the store replaces go as totals so far
(carried from earlier attempts + the parts'), those it adds up (requests, 429s, trashes) as what grew
since the last save of this attempt, so no attempt and no save counts them twice. The batch's last
save (done or deferred) goes through ``finish`` for the same reason. What a killed attempt sent after
its last save is redone on resume: updates are idempotent and creates are guarded by their intents.
"""

from __future__ import annotations

import threading
import time
from dataclasses import fields, replace

from sf_notion_sync.state.batch_store import ADDED_UP_COUNTERS
from sf_notion_sync.state.rows import Counters

from .context import SyncContext
from .outcome import Cursor

STATUS_RUNNING = "running"


class BatchCheckpoint:
    """Saves one batch attempt's progress; shared by the batch's part threads (one lock)."""

    def __init__(self, ctx: SyncContext, run_id: str, index: int, starts: list[int], carried: Counters,
                 prior_seconds: float) -> None:
        self.ctx, self.run_id, self.index = ctx, run_id, index
        self._carried = carried
        self._prior_seconds = prior_seconds
        self._began = time.monotonic()
        self._positions = list(starts)
        self._tallies = [Counters() for _ in starts]
        self._saved = Counters()
        """The added-up counters this attempt has saved so far."""
        self._lock = threading.Lock()

    def seconds(self) -> float:
        """The batch's time over all its attempts."""
        return time.monotonic() - self._began + self._prior_seconds

    def committed(self, part: int, next_seq: int, tally: Counters) -> None:
        """Part ``part`` committed every record before ``next_seq``, and ``tally`` counts them. Saved when
        it wrote something since its last report (a run of unchanged records is only re-read on resume)."""
        with self._lock:
            wrote = _writes(tally) != _writes(self._tallies[part])
            self._positions[part], self._tallies[part] = next_seq, replace(tally)
            if wrote:
                totals = replace(self._carried)
                for counted in self._tallies:
                    totals.add(counted)
                self._save(STATUS_RUNNING, totals, self._cursor(), record_metric=False)

    def finish(self, status: str, counts: Counters, cursor: Cursor | None, *, record_metric: bool) -> None:
        """The attempt's last save: ``counts`` as the batch's totals (carried + every writer's tally)."""
        with self._lock:
            self._save(status, counts, cursor, record_metric=record_metric)

    def _cursor(self) -> Cursor:
        return self._positions[0] if len(self._positions) == 1 else list(self._positions)

    def _save(self, status: str, totals: Counters, cursor: Cursor | None, *, record_metric: bool) -> None:
        counts = replace(totals)
        for name in ADDED_UP_COUNTERS:
            setattr(counts, name, getattr(totals, name) - getattr(self._saved, name))
            setattr(self._saved, name, getattr(totals, name))
        self.ctx.store.finish_batch(self.run_id, self.index, status, counts, seconds=self.seconds(),
                                    record_metric=record_metric, cursor=cursor, now=self.ctx.clock())


def _writes(tally: Counters) -> tuple[int, ...]:
    """Everything a tally counts except records skipped unchanged."""
    return tuple(getattr(tally, f.name) for f in fields(tally) if f.name not in ("processed", "skipped"))
