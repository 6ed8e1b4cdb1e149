"""NotionEmulator: wires store, workspace, limits and faults, and serves them with uvicorn."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from .app import EmulatorApp
from .config import (
    DEFAULT_HANG_SECONDS,
    DEFAULT_LATENCY_MEDIAN_MS,
    LIMIT_KEYS,
    EmulatorConfig,
    with_legacy_mode,
)
from .faults import FaultInjector
from .ratelimit import RateLimiter
from .store import Store
from .workspace import Workspace

_START_TIMEOUT_S = 15.0
_STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class RunningServer:
    """A server started by `NotionEmulator.serve()`."""

    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What notion_client's ClientOptions(base_url=...) takes (the client appends /v1/)."""
        return self.url


class NotionEmulator:
    """A local Notion API (versions in versions.SUPPORTED). `tokens=None` accepts any bearer token.

    `limits` are the rate-limit keys of `/_sandbox/config` (config.LIMIT_KEYS), validated the same way;
    none given = Notion's Free-plan budget, 180 requests per 60-second window per token. Naming `rate`
    or `burst` without `limit_mode` selects the older GCRA model (rate=0: unlimited).
    """

    def __init__(
        self,
        state_dir: Path | str,
        tokens: Iterable[str] | None = None,
        latency_median_ms: float = DEFAULT_LATENCY_MEDIAN_MS,
        latency_p95_ms: float | None = None,
        faults: dict[str, float] | None = None,
        hang_seconds: float = DEFAULT_HANG_SECONDS,
        seed: int | None = None,
        query_lag_s: float = 0.0,
        **limits: Any,
    ) -> None:
        unknown = sorted(limits.keys() - set(LIMIT_KEYS))
        if unknown:
            raise TypeError(f"NotionEmulator() got unexpected keyword arguments: {', '.join(unknown)}")
        self.config = EmulatorConfig(
            **with_legacy_mode(limits),
            latency_median_ms=latency_median_ms,
            latency_p95_ms=latency_p95_ms,
            faults=dict(faults or {}),
            hang_seconds=hang_seconds,
            query_lag_s=query_lag_s,
        )
        self.store = Store(state_dir)
        self.workspace = Workspace(self.store, query_lag=lambda: self.config.query_lag_s)
        self.limiter = RateLimiter(self.config)
        self.injector = FaultInjector(self.config, seed)
        self.app = EmulatorApp(
            self.workspace,
            self.store,
            self.config,
            self.limiter,
            self.injector,
            None if tokens is None else frozenset(tokens),
        )

    # Python conveniences for tests and the sandbox runner (same effects as the control API).
    def create_database(self, title: str, properties: dict[str, Any]) -> dict[str, str]:
        database, source = self.workspace.create_database(title, properties)
        return {"database_id": database["id"], "data_source_id": source["id"]}

    def seed_pages(
        self, data_source_id: str, properties: Iterable[dict[str, Any]], created_at: float | None = None
    ):
        """Create many pages at once, validated as API creates are, without HTTP or limits."""
        return self.workspace.seed_pages(data_source_id, properties, created_at)

    def _uvicorn(self) -> uvicorn.Server:
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_level="warning",
            access_log=False,
            http="httptools",
            loop="uvloop",
            timeout_graceful_shutdown=1,
            timeout_keep_alive=30,
        )
        return uvicorn.Server(config)

    @contextlib.contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[RunningServer]:
        """Serve in a background thread; the socket is bound before this yields."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        server = self._uvicorn()
        self.app.stopping = False
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="notion-emulator", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.005)
        if not server.started:
            server.should_exit = True
            thread.join(_STOP_TIMEOUT_S)
            sock.close()
            raise RuntimeError("the Notion emulator did not start")
        try:
            yield RunningServer(host, sock.getsockname()[1])
        finally:
            self.app.stopping = True
            server.should_exit = True
            thread.join(_STOP_TIMEOUT_S)
            sock.close()

    def serve_forever(self, host: str = "127.0.0.1", port: int = 8790) -> None:
        """Serve in the foreground until interrupted (SIGINT/SIGTERM)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
        print(f"Notion emulator listening on http://{host}:{sock.getsockname()[1]}", flush=True)
        try:
            self._uvicorn().run(sockets=[sock])
        finally:
            self.app.stopping = True
            sock.close()

    def close(self) -> None:
        self.store.close()
