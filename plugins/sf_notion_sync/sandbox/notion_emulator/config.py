"""Run-time settings of the emulator: limits, latency and fault shares, changeable while it serves."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any

FAULT_KINDS = (
    "429", "500", "502", "503", "504", "409", "529", "hang", "drop",
    "lost_create", "committed_503", "committed_503_silent",
)

DEFAULT_RATE = 3.0
DEFAULT_BURST = 10
DEFAULT_LATENCY_MEDIAN_MS = 250.0
DEFAULT_HANG_SECONDS = 70.0


@dataclass
class EmulatorConfig:
    """What `/_sandbox/config` reads and patches. A rate of 0 turns that limit off."""

    rate: float = DEFAULT_RATE
    burst: int = DEFAULT_BURST
    workspace_rate: float = 0.0
    workspace_burst: int = 0
    latency_median_ms: float = DEFAULT_LATENCY_MEDIAN_MS
    latency_p95_ms: float | None = None
    faults: dict[str, float] = field(default_factory=lambda: dict.fromkeys(FAULT_KINDS, 0.0))
    hang_seconds: float = DEFAULT_HANG_SECONDS
    query_lag_s: float = 0.0
    """How long a page made by POST /v1/pages stays out of data-source queries (GET sees it at once)."""

    def __post_init__(self) -> None:
        given = dict(self.faults)
        self.faults = dict.fromkeys(FAULT_KINDS, 0.0)
        self.patch({"faults": given})
        self.patch({k: getattr(self, k) for k in ("rate", "burst", "workspace_rate", "workspace_burst", "query_lag_s")})
        if self.latency_p95_ms is None:
            self.latency_p95_ms = self.latency_median_ms * 3

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def patch(self, changes: dict[str, Any]) -> None:
        """Apply a partial update, all or nothing; a ValueError names the bad key (the caller answers 400)."""
        trial = copy.deepcopy(self)
        trial._apply(changes)
        self.__dict__.update(trial.__dict__)

    def _apply(self, changes: dict[str, Any]) -> None:
        for key, value in changes.items():
            if key == "faults":
                if not isinstance(value, dict):
                    raise ValueError("faults must be an object of shares")
                for kind, share in value.items():
                    if kind not in FAULT_KINDS:
                        raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
                    self.faults[kind] = _number(f"faults.{kind}", share, upper=1.0)
                if sum(self.faults.values()) > 1.0:
                    raise ValueError("fault shares add up to more than 1")
            elif key in ("burst", "workspace_burst"):
                setattr(self, key, int(_number(key, value)))
            elif key in (
                "rate", "workspace_rate", "latency_median_ms", "latency_p95_ms", "hang_seconds", "query_lag_s",
            ):
                setattr(self, key, _number(key, value))
            else:
                raise ValueError(f"unknown config key {key!r}")
        if self.rate > 0 and self.burst < 1:
            self.burst = 1
        if self.workspace_rate > 0 and self.workspace_burst < 1:
            self.workspace_burst = max(1, int(self.workspace_rate))


def _number(name: str, value: Any, upper: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{name} must be a number >= 0")
    if upper is not None and value > upper:
        raise ValueError(f"{name} must be <= {upper}")
    return float(value)
