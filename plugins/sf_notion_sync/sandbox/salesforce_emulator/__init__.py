"""Salesforce API emulator: HTTPS on loopback, REST query/queryAll, describe, limits, getDeleted/getUpdated,
Bulk API 2.0 query jobs and OAuth, over generated records plus a file-backed mutation overlay.

    emu = SalesforceEmulator(state_dir=tmp_path, accounts=1000)
    with emu.serve() as server:          # background thread; server.url, server.ca_bundle, server.session_id
        ...
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from ..datagen import Generator
from .app import SalesforceApp, Settings
from .bulk import DEFAULT_ORDER_LIMIT, DEFAULT_PK_CHUNK_SIZE
from .clock import Clock
from .limits import ApiUsage
from .store import RecordStore
from .tls import TlsFiles, ensure_tls

DEFAULT_SESSION_ID = "00D5g0000000001!AQsandboxSessionId"
DEFAULT_API_VERSION = "59.0"
DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET = "sandbox-client", "sandbox-secret"


@dataclass(frozen=True)
class RunningServer:
    url: str
    host: str
    port: int
    ca_bundle: str
    session_id: str
    api_version: str = DEFAULT_API_VERSION

    @property
    def connection(self) -> dict:
        """Airflow connection (salesforce provider) for session auth against this server."""
        return {"conn_type": "salesforce", "extra": {"instance_url": self.url, "session_id": self.session_id,
                                                     "version": self.api_version}}

    @property
    def relogin_connection(self) -> dict:
        """Session auth that can log in again once the session expires: the OAuth client-credentials grant
        (extras consumer_key, consumer_secret, domain), as a real org's connection would. simple-salesforce
        posts it to https://{domain}.salesforce.com/services/oauth2/token, so `domain` here ends in a query
        string that swallows that suffix: the same unmodified client reaches this server's token endpoint."""
        conn = self.connection
        conn["extra"].update(consumer_key=DEFAULT_CLIENT_ID, consumer_secret=DEFAULT_CLIENT_SECRET,
                             domain=f"{self.host}:{self.port}/services/oauth2/token?sandbox=")
        return conn


class SalesforceEmulator:
    def __init__(self, state_dir: str | Path, accounts: int = 1000, contacts: int | None = None,
                 opportunities: int | None = None, seed: int = 42, session_id: str = DEFAULT_SESSION_ID,
                 daily_limit: int = 100_000, username: str = "sandbox@example.com", password: str = "sandbox",
                 client_id: str = DEFAULT_CLIENT_ID, client_secret: str = DEFAULT_CLIENT_SECRET,
                 min_job_seconds: float = 0.2, session_timeout_s: float | None = None,
                 bulk_order_limit: int = DEFAULT_ORDER_LIMIT, pk_chunk_size: int = DEFAULT_PK_CHUNK_SIZE) -> None:
        """`session_timeout_s`: sessions and access tokens expire that long after issue (None: never);
        `bulk_order_limit`: matching records past which a Bulk job with ORDER BY/LIMIT fails."""
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.generator = Generator(seed=seed, accounts=accounts, contacts=contacts, opportunities=opportunities)
        self.store = RecordStore(self.generator, self.state_dir)
        self.usage = ApiUsage(daily_limit, Clock())
        self.settings = Settings(session_id, username, password, client_id, client_secret)
        self.app = SalesforceApp(self.generator, self.store, self.usage, self.settings, min_job_seconds,
                                 session_timeout_s)
        self.app.bulk.order_limit, self.app.bulk.pk_chunk_size = bulk_order_limit, pk_chunk_size
        self.tls: TlsFiles = ensure_tls(self.state_dir)

    def _server(self, host: str, port: int, access_log: bool) -> tuple[uvicorn.Server, socket.socket]:
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.set_inheritable(True)
        config = uvicorn.Config(
            self.app.app, ssl_certfile=str(self.tls.server_cert), ssl_keyfile=str(self.tls.server_key),
            log_level="warning", access_log=access_log, lifespan="off", timeout_keep_alive=30,
            timeout_graceful_shutdown=1,
        )
        return uvicorn.Server(config), sock

    def _running(self, host: str, sock: socket.socket) -> RunningServer:
        port = sock.getsockname()[1]
        url = f"https://{host}:{port}"
        self.app.base_url = url
        return RunningServer(url, host, port, str(self.tls.ca_bundle), self.settings.session_id)

    @contextlib.contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0, access_log: bool = False) -> Iterator[RunningServer]:
        """Serve in a background thread until the block exits."""
        server, sock = self._server(host, port, access_log)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="sf-emulator")
        thread.start()
        try:
            for _ in range(500):  # bounded: ~5 s
                if server.started or not thread.is_alive():
                    break
                threading.Event().wait(0.01)
            if not server.started:
                raise RuntimeError("the Salesforce emulator did not start")
            yield self._running(host, sock)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            sock.close()

    def run_forever(self, host: str = "127.0.0.1", port: int = 0, access_log: bool = False,
                    on_ready=None) -> None:
        """Serve in the calling thread until SIGINT/SIGTERM (uvicorn handles the signals)."""
        server, sock = self._server(host, port, access_log)
        running = self._running(host, sock)
        if on_ready:
            on_ready(running)
        try:
            server.run(sockets=[sock])
        finally:
            sock.close()

    def close(self) -> None:
        self.store.close()


__all__ = ["DEFAULT_SESSION_ID", "RunningServer", "SalesforceEmulator"]
