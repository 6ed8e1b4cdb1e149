"""The ASGI application: /v1 behind auth, version check, rate limits and faults; /_sandbox untouched.

A plain ASGI callable rather than a Starlette router because dropping a connection (a transport
error for the client, not an HTTP status) needs the server's own `send`, which routers wrap.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from typing import Any
from urllib.parse import parse_qs

from . import versions
from .config import EmulatorConfig
from .control import ControlApi
from .endpoints import endpoint_key
from .errors import BAD_GATEWAY_HTML, NotionError, committed, from_status
from .faults import AFTER_WRITE_FAULTS, Fault, FaultInjector
from .ratelimit import RateLimiter
from .routes import Call, resolve
from .sharing import Sharing
from .store import Store
from .validation import PAYLOAD_LIMIT
from .workspace import Workspace

log = logging.getLogger(__name__)
_JSON = b"application/json; charset=utf-8"


def fingerprint(token: str) -> str:
    """What the request log and bot ids use instead of the token: 12 hex digits of its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def _url(headers: dict[bytes, bytes], raw_path: str) -> str:
    host = headers.get(b"host", b"localhost").decode("latin-1")
    return f"http://{host}{raw_path}"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def encode(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


async def respond(send, status: int, body: bytes, headers: dict[str, str] | None = None, content_type=_JSON):
    raw = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


class EmulatorApp:
    def __init__(
        self,
        workspace: Workspace,
        store: Store,
        config: EmulatorConfig,
        limiter: RateLimiter,
        injector: FaultInjector,
        tokens: frozenset[str] | None,
    ) -> None:
        self.workspace = workspace
        self.store = store
        self.config = config
        self.limiter = limiter
        self.injector = injector
        self.control = ControlApi(workspace, store, config, injector)
        self.sharing = Sharing(config, store)
        self._fingerprints = None if tokens is None else {fingerprint(t) for t in tokens}
        self.stopping = False

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path.startswith("/_sandbox/"):
            body = await read_body(receive)
            status, payload = self.control.handle(scope["method"], path, scope.get("query_string", b""), body)
            await respond(send, status, encode(payload))
        else:
            await self._api(scope, receive, send)

    async def _api(self, scope, receive, send) -> None:
        started = time.perf_counter()
        request_id = str(uuid.uuid4())
        method, path = scope["method"], scope["path"]
        headers = dict(scope["headers"])
        token_fp = self._token_fingerprint(headers.get(b"authorization", b""))
        status, reason = 0, None
        try:
            delay = self.injector.latency_seconds()
            if delay:
                await asyncio.sleep(delay)
            status, reason = await self._serve(scope, headers, token_fp, request_id, receive, send)
        except Exception:
            log.exception("notion emulator: unexpected error on %s %s (request %s)", method, path, request_id)
            status = 500
            await self._error(send, NotionError(500, "internal_server_error"), request_id)
        finally:
            self.store.log_request(
                {
                    "ts": time.time(),
                    "token": token_fp,
                    "method": method,
                    "path": path,
                    "status": status,
                    "reason": reason,
                    "latency_ms": round((time.perf_counter() - started) * 1000, 3),
                    "request_id": request_id,
                }
            )

    async def _serve(self, scope, headers, token_fp, request_id, receive, send) -> tuple[int, str | None]:
        """Answer one /v1 request; the status returned is 0 when the client got no HTTP answer, the
        reason a 429's rate_limit_reason (for the request log)."""
        method, path = scope["method"], scope["path"]
        raw_path = scope.get("raw_path", path.encode()).decode("latin-1")
        fault: Fault | None = None
        try:
            if token_fp is None or (self._fingerprints is not None and token_fp not in self._fingerprints):
                raise NotionError(401, "unauthorized")
            version = versions.check(headers.get(b"notion-version"))
            handler, args = resolve(method, raw_path)
            fault = self.injector.scripted(method, path)
            if fault is None:
                self.limiter.admit(token_fp, endpoint_key(method, raw_path, args))
                fault = self.injector.random_fault(method, path)
            if fault is not None and fault.kind not in AFTER_WRITE_FAULTS:
                return await self._inject(fault, send, request_id)
            body = await self._json_body(method, receive)
            self.sharing.check(token_fp, args, body)  # after admit: a refused look still costs a request
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            workspace = self.config.workspace_of(token_fp)
            call = Call(args, body, token_fp, version, query, _url(headers, raw_path), workspace)
            result = handler(self.workspace, call)
        except NotionError as error:
            return await self._error(send, error, request_id)
        if fault is not None and fault.kind == "lost_create":  # stored; the answer never arrives
            await self._drop(send)
            return 0, None
        if fault is not None:  # stored; the answer is a 503, with or without the saved id
            error = committed(result["id"] if fault.kind == "committed_503" else None)
            return await self._error(send, error, request_id)
        await respond(
            send, 200, encode({**result, "request_id": request_id}), {"x-notion-request-id": request_id}
        )
        return 200, None

    async def _json_body(self, method: str, receive) -> Any:
        raw = await read_body(receive)
        if method == "GET":
            return None
        if len(raw) > PAYLOAD_LIMIT:
            raise NotionError(
                400,
                "validation_error",
                f"body failed validation: body.length should be ≤ `{PAYLOAD_LIMIT}` bytes, instead was `{len(raw)}`.",
            )
        if not raw.strip():
            return None
        try:
            return json.loads(raw, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            raise NotionError(400, "invalid_json", f"Error parsing JSON body: {exc}") from None

    def _token_fingerprint(self, authorization: bytes) -> str | None:
        scheme, _, token = authorization.decode("latin-1").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        return fingerprint(token)

    async def _inject(self, fault: Fault, send, request_id: str) -> tuple[int, str | None]:
        if fault.kind == "drop":
            await self._drop(send)
            return 0, None
        if fault.kind == "hang":
            deadline = time.monotonic() + self.config.hang_seconds
            while not self.stopping and time.monotonic() < deadline:
                await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
            await self._drop(send)
            return 0, None
        status = int(fault.kind)
        if status == 502:
            await respond(send, 502, BAD_GATEWAY_HTML.encode(), content_type=b"text/html")
            return 502, None
        error = from_status(status, retry_after=fault.retry_after, reason=fault.rate_limit_reason)
        if fault.message:
            error.message = fault.message
        return await self._error(send, error, request_id)

    @staticmethod
    async def _error(send, error: NotionError, request_id: str) -> tuple[int, str | None]:
        headers = {"x-notion-request-id": request_id, **error.headers}
        await respond(send, error.status, encode(error.body(request_id)), headers)
        return error.status, error.reason

    @staticmethod
    async def _drop(send) -> None:
        """Close the connection without an answer, so the client sees a transport error."""
        transport = getattr(getattr(send, "__self__", None), "transport", None)
        if transport is None:
            raise RuntimeError("dropping a connection needs uvicorn's transport")
        transport.abort()
        for _ in range(3):  # let the server notice the disconnect before the app returns
            await asyncio.sleep(0)
