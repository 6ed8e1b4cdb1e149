"""Injected trouble: random fault shares, scripted responses, and a lognormal latency."""

from __future__ import annotations

import math
import random
import re
import threading
from dataclasses import dataclass
from typing import Any

from .config import EmulatorConfig

AFTER_WRITE_FAULTS = ("lost_create", "committed_503", "committed_503_silent")
"""The write is stored, then its answer is lost (lost_create) or a 503 ("Status codes": a write may
answer 503 after it was saved; the `_silent` one leaves out additional_data, an unknown outcome)."""
SCRIPT_FAULTS = ("hang", "drop", *AFTER_WRITE_FAULTS)
SCRIPT_STATUSES = (400, 401, 404, 409, 429, 500, 502, 503, 504, 529)
_Z95 = 1.6448536269514722


@dataclass
class Fault:
    """What to do instead of (or, for AFTER_WRITE_FAULTS, after) serving a request."""

    kind: str  # an HTTP status as text ("500", "429", ...) or one of SCRIPT_FAULTS
    retry_after: int | None = None
    rate_limit_reason: str | None = None
    message: str | None = None


@dataclass
class _Scripted:
    fault: Fault
    method: str | None
    path_prefix: str
    remaining: int


def parse_script(entries: Any) -> list[_Scripted]:
    """Validate a /_sandbox/script body's "responses"; a ValueError names what is wrong."""
    if not isinstance(entries, list):
        raise ValueError("responses must be an array")
    parsed = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ValueError(f"responses[{index}] must be an object")
        status, fault_name = entry.get("status"), entry.get("fault")
        if fault_name is not None:
            if fault_name not in SCRIPT_FAULTS:
                raise ValueError(f"responses[{index}].fault must be one of {', '.join(SCRIPT_FAULTS)}")
            kind = fault_name
        elif status in SCRIPT_STATUSES:
            kind = str(status)
        else:
            raise ValueError(f"responses[{index}] needs a status in {SCRIPT_STATUSES} or a fault")
        retry_after = entry.get("retry_after")
        if retry_after is None and status in (429, 529):
            retry_after = 1
        if retry_after is not None and (not isinstance(retry_after, int) or retry_after < 0):
            raise ValueError(f"responses[{index}].retry_after must be an integer >= 0")
        count = entry.get("count", 1)
        if not isinstance(count, int) or count < 1:
            raise ValueError(f"responses[{index}].count must be an integer >= 1")
        reason = entry.get("rate_limit_reason", "public_api_request_rate_limit" if status == 429 else None)
        parsed.append(
            _Scripted(
                Fault(kind, retry_after, reason, entry.get("message")),
                str(entry["method"]).upper() if entry.get("method") else None,
                str(entry.get("path_prefix", "/v1/")),
                count,
            )
        )
    return parsed


class FaultInjector:
    def __init__(self, config: EmulatorConfig, seed: int | None = None) -> None:
        self._config = config
        self._random = random.Random(seed)
        self._script: list[_Scripted] = []
        self._lock = threading.Lock()

    def add_script(self, entries: list[_Scripted]) -> None:
        with self._lock:
            self._script.extend(entries)

    def clear_script(self) -> None:
        with self._lock:
            self._script.clear()

    def pending_script(self) -> int:
        with self._lock:
            return sum(s.remaining for s in self._script)

    def scripted(self, method: str, path: str) -> Fault | None:
        """The first scripted response matching this request, consumed once."""
        with self._lock:
            for entry in self._script:
                if (entry.method is None or entry.method == method) and path.startswith(entry.path_prefix):
                    if not _applies(entry.fault.kind, method, path):
                        continue
                    entry.remaining -= 1
                    if entry.remaining <= 0:
                        self._script.remove(entry)
                    return entry.fault
        return None

    def random_fault(self, method: str, path: str) -> Fault | None:
        """Draw against the configured shares; a write fault drawn for a request it does not fit is none."""
        faults = self._config.faults
        if not any(faults.values()):
            return None
        with self._lock:
            draw = self._random.random()
        for kind, share in faults.items():
            if draw < share:
                if not _applies(kind, method, path):
                    return None
                if kind in ("429", "529"):  # Notion sends Retry-After with both
                    reason = "public_api_request_rate_limit" if kind == "429" else None
                    return Fault(kind, 1, reason)
                return Fault(kind)
            draw -= share
        return None

    def latency_seconds(self) -> float:
        """Lognormal with the configured median and p95; 0 when the median is 0."""
        median = self._config.latency_median_ms
        if median <= 0:
            return 0.0
        p95 = max(self._config.latency_p95_ms or median, median)
        sigma = math.log(p95 / median) / _Z95
        with self._lock:
            sample = self._random.lognormvariate(math.log(median), sigma)
        return sample / 1000.0


_PAGE_UPDATE = re.compile(r"^/v1/pages/[^/]+/?$")


def _applies(kind: str, method: str, path: str) -> bool:
    """lost_create hits page creates only; the committed 503s hit page creates and page updates."""
    is_create = method == "POST" and path.rstrip("/") == "/v1/pages"
    if kind == "lost_create":
        return is_create
    if kind in AFTER_WRITE_FAULTS:
        return is_create or (method == "PATCH" and bool(_PAGE_UPDATE.match(path)))
    return True
