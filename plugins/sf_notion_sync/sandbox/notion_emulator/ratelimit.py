"""Notion's request budget: GCRA per token (average rate plus a burst) and an optional workspace-wide one."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from .config import EmulatorConfig
from .errors import NotionError

# The names the public docs give for additional_data.rate_limit_reason.
CONNECTION_REASON = "public_api_request_rate_limit"
WORKSPACE_REASON = "public_api_space_request_rate_limit"
WORKSPACE_KEY = "\x00workspace"


class RateLimiter:
    """Admits a request only if both budgets have room; a refused request consumes neither."""

    def __init__(self, config: EmulatorConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        self._clock = clock
        self._tat: dict[str, float] = {}
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._tat.clear()

    def admit(self, token_key: str) -> None:
        """Raise the 429 `rate_limited` error, with Retry-After, when the request is over budget."""
        cfg = self._config
        now = self._clock()
        with self._lock:
            checks = [(token_key, cfg.rate, cfg.burst, CONNECTION_REASON)]
            if cfg.workspace_rate > 0:
                checks.append((WORKSPACE_KEY, cfg.workspace_rate, cfg.workspace_burst, WORKSPACE_REASON))
            updates = []
            for key, rate, burst, reason in checks:
                if rate <= 0:
                    continue
                interval = 1.0 / rate
                new_tat = max(self._tat.get(key, now), now) + interval
                wait = new_tat - burst * interval - now
                if wait > 1e-9:  # float slack: exactly on time is on time
                    retry_after = max(1, math.ceil(wait))
                    raise NotionError(
                        429,
                        "rate_limited",
                        additional_data={"rate_limit_reason": reason},
                        headers={"Retry-After": str(retry_after)},
                    )
                updates.append((key, new_tat))
            self._tat.update(updates)
