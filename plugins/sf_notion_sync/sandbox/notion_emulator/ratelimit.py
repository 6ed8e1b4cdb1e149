"""Notion's request limits ("Request limits", developers.notion.com): which budgets a request spends
and which 429 a refusal answers; the arithmetic is in budgets.py.

Per connection (token): a budget per window, or the older GCRA; per workspace: a budget the tokens of
that workspace share (config.token_workspaces); per token and endpoint: `endpoint_limits`; and blocked
tokens. A request is admitted only if every budget has room, and a refused request spends none of them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .budgets import Gcra, Window, retry_after
from .config import EmulatorConfig
from .errors import rate_limited

CONNECTION_REASON = "public_api_request_rate_limit"
WORKSPACE_REASON = "public_api_space_request_rate_limit"
ENDPOINT_REASON = "public_api_endpoint_rate_limit"
BLOCKED_REASON = "public_api_request_blocked"
BLOCKED_MESSAGE = "Requests from this connection are blocked. Retrying will not help; contact Notion support."
BLOCKED_RETRY_AFTER_S = 60
"""A blocked request is a 429 `rate_limited` like every other reason ("Requests that exceed a limit
return a "rate_limited" error code and an HTTP 429 response"). Notion does not say whether it carries
Retry-After; we send one, the harsher case: a client that only honours Retry-After retries forever and
has to stop on the reason instead."""
_WORKSPACE = "\x00workspace:"


@dataclass(frozen=True)
class _Check:
    reason: str
    key: str
    budget: Window | Gcra
    hold_s: float = 0.0
    """Once this budget refuses, it stays closed at least this long: the workspace's Retry-After "can be
    longer than a minute", and Notion does not say it reopens sooner, so we assume not (the harsher case)."""


class RateLimiter:
    def __init__(self, config: EmulatorConfig, clock: Callable[[], float] = time.time) -> None:
        self._config = config
        self._clock = clock  # wall time: epoch-aligned windows start at multiples of window_s
        self._state: dict[tuple[type, str], Any] = {}
        self._holds: dict[str, float] = {}
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._state.clear()
            self._holds.clear()

    def admit(self, token_key: str, endpoint: str) -> None:
        """Spend one request of every budget that applies to this token and endpoint (see
        endpoints.endpoint_key), or raise a 429. Notion does not say which reason a request over several
        limits gets; we name the budget that frees last, so that its Retry-After is enough to pass."""
        if token_key in self._config.blocked_tokens:
            raise rate_limited(BLOCKED_REASON, BLOCKED_RETRY_AFTER_S, BLOCKED_MESSAGE)
        now = self._clock()
        with self._lock:
            checks = self._checks(token_key, endpoint)
            wait, refused = max(((self._wait(c, now), c) for c in checks), key=lambda r: r[0], default=(0.0, None))
            if refused is not None and wait > 0:
                raise rate_limited(refused.reason, retry_after(wait))
            for check in checks:
                slot = (type(check.budget), check.key)
                self._state[slot] = check.budget.spend(self._state.get(slot), now)

    def _wait(self, check: _Check, now: float) -> float:
        held = self._holds.get(check.key, 0.0) - now
        if held > 0:
            return held
        wait = check.budget.wait(self._state.get((type(check.budget), check.key)), now)
        if wait > 0 and check.hold_s > wait:
            self._holds[check.key] = now + check.hold_s
            return check.hold_s
        return wait

    def _checks(self, token_key: str, endpoint: str) -> list[_Check]:
        cfg = self._config
        aligned = cfg.window_alignment == "epoch"
        checks = []
        if cfg.limit_mode == "window" and cfg.window_requests > 0:
            checks.append(_Check(CONNECTION_REASON, token_key, Window(cfg.window_requests, cfg.window_s, aligned)))
        if cfg.limit_mode == "gcra" and cfg.rate > 0:
            checks.append(_Check(CONNECTION_REASON, token_key, Gcra(cfg.rate, cfg.burst)))
        hold, workspace = cfg.workspace_retry_after_s, _WORKSPACE + cfg.workspace_of(token_key)
        if cfg.workspace_window_requests > 0:
            window = Window(cfg.workspace_window_requests, cfg.workspace_window_s, aligned)
            checks.append(_Check(WORKSPACE_REASON, workspace, window, hold))
        if cfg.workspace_rate > 0:
            checks.append(_Check(WORKSPACE_REASON, workspace, Gcra(cfg.workspace_rate, cfg.workspace_burst), hold))
        limit = cfg.endpoint_limits.get(endpoint)
        if limit:
            window = Window(int(limit["requests"]), limit["window_s"], aligned)
            checks.append(_Check(ENDPOINT_REASON, f"{token_key} {endpoint}", window))
        return checks
