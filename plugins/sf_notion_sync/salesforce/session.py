"""A Salesforce client that logs in again when its session expires, and repeats only the call that failed.

Sessions end after the org's timeout. simple-salesforce refreshes one only after its own
username/password login, and its Bulk 2.0 path never does, so a long extraction would die with
SalesforceExpiredSession. Every call extraction makes goes through `SalesforceSession.call`: on
INVALID_SESSION_ID it builds a new client through `reconnect` (the Airflow provider's hook, with the
connection's credentials) and repeats that one call -- a REST page at its nextRecordsUrl, a Bulk page
at its locator -- so nothing is read twice. A connection that holds only a session id cannot log in
again; it stops with a message that names the connection and the fix.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from simple_salesforce.exceptions import SalesforceExpiredSession

T = TypeVar("T")
MAX_RELOGINS = 3
"""Logins in a row for one call: a session that expires again at once is not a timeout but a refusal."""
log = logging.getLogger(__name__)


class SessionExpiredError(RuntimeError):
    """The Salesforce session expired and the connection has nothing to log in again with."""


class SalesforceSession:
    """One logged-in client at a time; `reconnect` (None: session id only) builds the next one."""

    def __init__(self, client: Any, reconnect: Callable[[], Any] | None = None, *, conn_id: str | None = None) -> None:
        self._client = client
        self._reconnect = reconnect
        self.conn_id = conn_id
        self.relogins = 0
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The current simple_salesforce.Salesforce (replaced after a re-login: do not keep it)."""
        return self._client

    @property
    def api_usage(self) -> Any:
        return getattr(self._client, "api_usage", None)

    def limits(self) -> Any:
        return self.call(lambda sf: sf.limits())

    def call(self, operation: Callable[[Any], T]) -> T:
        """`operation(client)`, repeated with a new client after each expired session (up to MAX_RELOGINS)."""
        relogins = 0
        while True:
            client = self._client
            try:
                return operation(client)
            except SalesforceExpiredSession:
                if self._reconnect is None:
                    raise SessionExpiredError(self._no_relogin_message()) from None
                if relogins >= MAX_RELOGINS:
                    raise
                relogins += 1
                self._relogin(client)

    def _relogin(self, stale: Any) -> None:
        with self._lock:
            if self._client is stale:  # another thread may have logged in already
                log.info("Salesforce session of connection %r expired; logging in again", self.conn_id)
                self._client = self._reconnect()  # type: ignore[misc]
                self.relogins += 1

    def _no_relogin_message(self) -> str:
        conn = f"connection {self.conn_id!r}" if self.conn_id else "this Salesforce client"
        return (f"the Salesforce session of {conn} expired, and it holds only a session id, so it cannot log in "
                "again. Fix: give the connection credentials to log in with (login, password and extra "
                "'security_token'; or extras 'consumer_key' with 'private_key' for the JWT flow; or "
                "'consumer_key', 'consumer_secret' and 'domain' for client credentials), or set a fresh "
                "extra 'session_id' and re-run the task.")


def as_session(sf: Any) -> SalesforceSession:
    """`sf` itself if it is a SalesforceSession, else a session-id-only wrapper around that client."""
    return sf if isinstance(sf, SalesforceSession) else SalesforceSession(sf)
