"""Run-time settings of the emulator: limits, latency and fault shares, changeable while it serves."""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from .endpoints import check_endpoint_key

FAULT_KINDS = (
    "429", "500", "502", "503", "504", "409", "529", "hang", "drop",
    "lost_create", "committed_503", "committed_503_silent",
)

LIMIT_MODES = ("window", "gcra")
WINDOW_ALIGNMENTS = ("epoch", "first_request")

DEFAULT_WINDOW_REQUESTS = 180
"""The per-connection budget of the Free and Plus plans per window ("Request limits"); Business and
Enterprise have 600."""
DEFAULT_WINDOW_S = 60.0
DEFAULT_RATE = 3.0
DEFAULT_BURST = 10
DEFAULT_LATENCY_MEDIAN_MS = 250.0
DEFAULT_HANG_SECONDS = 70.0
DEFAULT_WORKSPACE = "Sandbox workspace"


@dataclass
class EmulatorConfig:
    """What `/_sandbox/config` reads and patches. A budget of 0 requests (or a rate of 0) turns it off.

    The rate limits follow "Request limits" (developers.notion.com): a per-connection budget per window
    (`limit_mode` "window", the default) or the older GCRA model (`limit_mode` "gcra": `rate` per
    second plus `burst`); a workspace budget shared by every token (`workspace_window_requests` per
    `workspace_window_s`, or the older `workspace_rate`, whatever the mode) per workspace; per-endpoint
    budgets; and blocked tokens. Which workspace a token belongs to (`token_workspaces`) and which
    integrations a database is shared with (`shared_with`) are set here too.
    """

    limit_mode: str = "window"
    window_requests: int = DEFAULT_WINDOW_REQUESTS
    window_s: float = DEFAULT_WINDOW_S
    window_alignment: str = "epoch"
    """"epoch": windows start at multiples of window_s since the epoch; "first_request": at a token's
    first request after its previous window ended. Applies to every window budget."""
    rate: float = DEFAULT_RATE
    burst: int = DEFAULT_BURST
    workspace_window_requests: int = 0
    workspace_window_s: float = DEFAULT_WINDOW_S
    workspace_retry_after_s: int = 0
    """0: the workspace's Retry-After is the time to its window's reset; more: it stays closed at least
    this long once full (Notion: "can be longer than a minute")."""
    workspace_rate: float = 0.0
    workspace_burst: int = 0
    endpoint_limits: dict[str, dict[str, float]] = field(default_factory=dict)
    """{"POST /v1/data_sources/{id}/query": {"requests": N, "window_s": W}}: a budget per token and endpoint."""
    blocked_tokens: list[str] = field(default_factory=list)
    """Token fingerprints (as the request log shows them) answered `public_api_request_blocked`."""
    token_workspaces: dict[str, str] = field(default_factory=dict)
    """Token fingerprint -> the name of the workspace its integration belongs to (unlisted: the default
    workspace). Each workspace has its own workspace budget, shared by its tokens alone."""
    shared_with: dict[str, list[str]] = field(default_factory=dict)
    """Database id -> the token fingerprints of the integrations it is shared with; the others get 404
    object_not_found for it, its data sources and pages (unlisted: shared with every integration)."""
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
        self.patch({k: getattr(self, k) for k in (*LIMIT_KEYS, "query_lag_s")})
        if self.latency_p95_ms is None:
            self.latency_p95_ms = self.latency_median_ms * 3

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def workspace_of(self, token_fingerprint: str) -> str:
        return self.token_workspaces.get(token_fingerprint, DEFAULT_WORKSPACE)

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
            elif key in _CHECKS:
                setattr(self, key, _CHECKS[key](key, value))
            else:
                raise ValueError(f"unknown config key {key!r}")
        if self.rate > 0 and self.burst < 1:
            self.burst = 1
        if self.workspace_rate > 0 and self.workspace_burst < 1:
            self.workspace_burst = max(1, int(self.workspace_rate))


def with_legacy_mode(limits: dict[str, Any]) -> dict[str, Any]:
    """Limits given at start: naming `rate` or `burst` without `limit_mode` asks for the GCRA model
    those keys belong to, so callers written before window mode keep their meaning."""
    if "limit_mode" not in limits and limits.keys() & {"rate", "burst"}:
        return {**limits, "limit_mode": "gcra"}
    return limits


def _number(name: str, value: Any, upper: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{name} must be a number >= 0")
    if upper is not None and value > upper:
        raise ValueError(f"{name} must be <= {upper}")
    return float(value)


def _positive(name: str, value: Any) -> float:
    if _number(name, value) == 0:
        raise ValueError(f"{name} must be a number > 0")
    return float(value)


def _count(name: str, value: Any) -> int:
    if not math.isfinite(_number(name, value)) or value != int(value):
        raise ValueError(f"{name} must be a whole number >= 0")
    return int(value)


def _choice(options: tuple[str, ...]) -> Callable[[str, Any], str]:
    def check(name: str, value: Any) -> str:
        if value not in options:
            raise ValueError(f"{name} must be one of {', '.join(options)}")
        return value

    return check


def _endpoint_limits(name: str, value: Any) -> dict[str, dict[str, float]]:
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be an object of endpoint -> {{requests, window_s}}")
    limits = {}
    for key, limit in value.items():
        check_endpoint_key(key)
        if not isinstance(limit, dict) or not limit.keys() <= {"requests", "window_s"}:
            raise ValueError(f"{name}[{key!r}] must be an object with requests and window_s")
        requests = _count(f"{name}[{key!r}].requests", limit.get("requests"))
        if requests < 1:
            raise ValueError(f"{name}[{key!r}].requests must be >= 1")
        limits[key] = {"requests": requests, "window_s": _positive(f"{name}[{key!r}].window_s",
                                                                   limit.get("window_s", DEFAULT_WINDOW_S))}
    return limits


_FINGERPRINT = re.compile(r"^[0-9a-f]{12}$")


def _fingerprints(name: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and _FINGERPRINT.match(v) for v in value):
        raise ValueError(f"{name} must be a list of token fingerprints (12 hex digits, as the request log shows)")
    return sorted(set(value))


def _token_workspaces(name: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) and v for v in value.values()):
        raise ValueError(f"{name} must be an object of token fingerprint -> workspace name")
    _fingerprints(name, list(value))
    return dict(value)


def _shared_with(name: str, value: Any) -> dict[str, list[str]]:
    from .validation import is_uuid, normalize_id

    if not isinstance(value, dict):
        raise ValueError(f"{name} must be an object of database id -> token fingerprints")
    shared = {}
    for database_id, fingerprints in value.items():
        if not is_uuid(database_id):
            raise ValueError(f"{name}: {database_id!r} is not a database id")
        shared[normalize_id(database_id)] = _fingerprints(f"{name}[{database_id!r}]", fingerprints)
    return shared


_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "limit_mode": _choice(LIMIT_MODES),
    "window_alignment": _choice(WINDOW_ALIGNMENTS),
    "window_s": _positive,
    "workspace_window_s": _positive,
    **dict.fromkeys(
        ("window_requests", "burst", "workspace_window_requests", "workspace_burst", "workspace_retry_after_s"),
        _count,
    ),
    **dict.fromkeys(
        ("rate", "workspace_rate", "latency_median_ms", "latency_p95_ms", "hang_seconds", "query_lag_s"), _number
    ),
    "endpoint_limits": _endpoint_limits,
    "blocked_tokens": _fingerprints,
    "token_workspaces": _token_workspaces,
    "shared_with": _shared_with,
}
LIMIT_KEYS = (
    "limit_mode", "window_requests", "window_s", "window_alignment", "rate", "burst",
    "workspace_window_requests", "workspace_window_s", "workspace_retry_after_s", "workspace_rate",
    "workspace_burst", "endpoint_limits", "blocked_tokens", "token_workspaces", "shared_with",
)
"""The rate-limit keys: what NotionEmulator(**limits) and sandbox.run.start take at start."""
