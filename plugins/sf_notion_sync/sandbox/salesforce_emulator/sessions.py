"""Sessions and OAuth access tokens that expire, as an org's session timeout makes them.

The configured session id is issued when the emulator starts; each OAuth grant issues a new token.
A token is valid for `timeout_s` after it was issued (None: forever); past that, or after
`expire_all()`, every call with it answers 401 INVALID_SESSION_ID. The timeout counts from issue,
not from the last use: the harsher reading of "the org's timeout", so clients must re-authenticate.
"""

from __future__ import annotations

import itertools
import secrets
import threading

from .clock import Clock
from .errors import SalesforceError


class Sessions:
    def __init__(self, session_id: str, clock: Clock, timeout_s: float | None = None) -> None:
        self.session_id = session_id
        self.clock = clock
        self.timeout_s = timeout_s
        self._issued: dict[str, int] = {}
        self._serial = itertools.count(1)
        self._lock = threading.Lock()
        self.issue(session_id)

    def issue(self, token: str | None = None) -> str:
        """Register `token` (default: a new one) as issued now, and return it."""
        token = token or f"00D5g0000000001!AQ{next(self._serial):06d}{secrets.token_urlsafe(24)}"
        with self._lock:
            self._issued[token] = self.clock.ms()
        return token

    def renew_default(self) -> str:
        """Issue the configured session id again (what a sandbox login hands out)."""
        return self.issue(self.session_id)

    def expire_all(self) -> int:
        with self._lock:
            count = len(self._issued)
            self._issued.clear()
        return count

    def check(self, token: str) -> None:
        """401 INVALID_SESSION_ID unless `token` was issued and has not timed out."""
        with self._lock:
            issued = self._issued.get(token)
        if issued is None or (self.timeout_s is not None and self.clock.ms() - issued >= self.timeout_s * 1000):
            raise SalesforceError(401, "INVALID_SESSION_ID", "Session expired or invalid")
