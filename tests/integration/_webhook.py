"""A webhook receiver on loopback that keeps every JSON POST, for the alert tests.

A real HTTP server, so alerts go through the webhook connection and httpx exactly as in production.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class WebhookReceiver:
    """Serves on 127.0.0.1 (an ephemeral port) while entered; `received` holds path, auth and body."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        received = self.received

        class Receiver(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                received.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def connection(self, token: str) -> str:
        """The Airflow HTTP connection to this receiver (path /hooks/sync), as AIRFLOW_CONN_* JSON."""
        return json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": self.server.server_port,
                           "schema": "http", "password": token, "extra": {"endpoint": "hooks/sync"}})

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
