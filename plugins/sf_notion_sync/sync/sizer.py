"""Dynamic batch sizing from recorded batch throughput (the plan's DynamicBatchSizer).

A batch should last a few minutes: long enough that task start-up is negligible, short enough that
a retry or a deferral redoes little and progress stays visible. Its size is therefore the expected
records/s times the target duration. Without history the budget is the estimate (a fresh sync costs
about one Notion request per record); with history, recent batches say how fast records really went
(reruns skip unchanged records for free). Errors and 429s shrink batches, so a struggling run
checkpoints more often. Airflow maps at most ``max_map_length`` tasks, so the size grows past the
configured maximum rather than exceed that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

DEFAULT_TARGET_BATCH_SECONDS = 180.0
DEFAULT_MIN_BATCH = 50
DEFAULT_MAX_BATCH = 5000
DEFAULT_MAX_MAP_LENGTH = 1024
HISTORY = 20
MIN_HEALTH = 0.25
RATE_LIMIT_WEIGHT = 4.0
"""A 429 shrinks batches more than a plain error: it signals the budget is contended."""


class Metric(Protocol):
    size: int
    seconds: float
    records_per_s: float
    errors: int
    rate_limited_429s: int


@dataclass(frozen=True)
class SizeDecision:
    """The chosen size and why (JSON-ready, for logs and the run summary)."""

    batch_size: int
    batches: int
    records_per_s: float
    health: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DynamicBatchSizer:
    budget_rps: float
    min_size: int = DEFAULT_MIN_BATCH
    max_size: int = DEFAULT_MAX_BATCH
    target_seconds: float = DEFAULT_TARGET_BATCH_SECONDS
    max_map_length: int = DEFAULT_MAX_MAP_LENGTH
    parallelism: int = 1
    """Batches that can run at once (pool notion_api's slots). A run is cut into whole rounds of them,
    of equal batches: a small run is split across them so that the budget, not one worker's latency,
    bounds it, and a large one leaves no slot idle while a last, lone batch ends the run."""

    def __post_init__(self) -> None:
        if self.budget_rps <= 0:
            raise ValueError(f"budget_rps must be positive, got {self.budget_rps}")
        if not 1 <= self.min_size <= self.max_size:
            raise ValueError(f"batch bounds need 1 <= min ({self.min_size}) <= max ({self.max_size})")
        if self.max_map_length < 1:
            raise ValueError(f"max_map_length must be >= 1, got {self.max_map_length}")

    def estimate_rps(self, metrics: Sequence[Metric]) -> float:
        """Records/s of recent batches (size-weighted), or the budget when there is no history."""
        recent = [m for m in metrics[-HISTORY:] if m.seconds > 0 and m.size > 0]
        if not recent:
            return self.budget_rps
        return sum(m.size for m in recent) / sum(m.seconds for m in recent)

    def health(self, metrics: Sequence[Metric]) -> float:
        """1.0 when recent batches had no errors or 429s; down to MIN_HEALTH as they grow."""
        recent = [m for m in metrics[-HISTORY:] if m.size > 0]
        if not recent:
            return 1.0
        records = sum(m.size for m in recent)
        trouble = sum(m.errors for m in recent) + RATE_LIMIT_WEIGHT * sum(m.rate_limited_429s for m in recent)
        return max(MIN_HEALTH, 1.0 - trouble / records)

    def decide(self, total: int, metrics: Sequence[Metric] = (), requested: int | None = None) -> SizeDecision:
        """Batch size for ``total`` records; ``requested`` (a trigger Param) overrides the estimate."""
        rps = self.estimate_rps(metrics)
        health = self.health(metrics)
        if requested is not None:
            if requested < 1:
                raise ValueError(f"batch_size must be positive, got {requested}")
            size, reason = requested, "requested"
        else:
            raw = rps * self.target_seconds * health
            size = min(self.max_size, max(self.min_size, math.floor(raw)))
            reason = f"{rps:.2f} rec/s x {self.target_seconds:g}s x health {health:.2f}"
            if total and self.parallelism > 1:
                rounds = math.ceil(math.ceil(total / size) / self.parallelism)
                even = max(self.min_size, math.ceil(total / (rounds * self.parallelism)))
                if even < size:
                    size, reason = even, f"{reason}; {rounds} even round(s) across {self.parallelism} parallel slots"
        floor = math.ceil(total / self.max_map_length) if total else 1
        if size < floor:
            size, reason = floor, f"{reason}; grown to stay within max_map_length={self.max_map_length}"
        batches = math.ceil(total / size) if total else 0
        return SizeDecision(size, batches, round(rps, 3), round(health, 3), reason)

