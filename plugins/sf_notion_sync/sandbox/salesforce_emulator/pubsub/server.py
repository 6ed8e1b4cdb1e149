"""The emulated Pub/Sub API: Salesforce's PubSub gRPC service (the official proto) on loopback with TLS.

Modelled on the Pub/Sub API Developer Guide: auth by the `accesstoken`, `instanceurl` and `tenantid`
metadata headers (checked against the emulator's sessions: an expired or unknown token is
UNAUTHENTICATED), GetTopic, GetSchema, and Subscribe with pull flow control (events are sent only
against FetchRequest.num_requested, more requested adds up; replay presets LATEST, EARLIEST and CUSTOM
read from the first FetchRequest only; a later FetchRequest naming another topic is INVALID_ARGUMENT).
A CUSTOM replay id that is not retained (older than 72 hours, or never issued) fails the stream with
INVALID_ARGUMENT and the error-code trailer `sfdc.platform.eventbus.grpc.subscription.fetch.replayid
.corrupted`, as the guide's "Handle Errors" and "Retry Long-Lived RPC Calls" pages show. With nothing to
deliver the server sends an empty FetchResponse carrying the latest replay id (keepalive; the guide
says within 270 s, `keepalive_s` here). Publish and change-event topics: CDC channels cannot be
published to (can_publish false).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc

from sf_notion_sync.salesforce.pubsub import pubsub_api_pb2 as pb2
from sf_notion_sync.salesforce.pubsub import pubsub_api_pb2_grpc as pb2_grpc

from ...datagen.schema import OBJECTS
from ..errors import SalesforceError
from ..sessions import Sessions
from .bus import ChangeEventBus
from .schema import topic_name

ORG_ID = "00D5g0000000001EAA"
AUTH_ERROR = "sfdc.platform.eventbus.grpc.service.auth.error"
REPLAY_CORRUPTED = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"
TOPIC_NOT_FOUND = "sfdc.platform.eventbus.grpc.topic.not.found"  # assumed: the guide names no code for it
KEEPALIVE_S = 270.0


@dataclass(frozen=True)
class RunningPubSub:
    endpoint: str
    host: str
    port: int


class PubSubService(pb2_grpc.PubSubServicer):
    def __init__(self, bus: ChangeEventBus, sessions: Sessions, instance_url: Callable[[], str], keepalive_s: float = KEEPALIVE_S):
        self.bus = bus
        self.sessions = sessions
        self.instance_url = instance_url
        self.keepalive_s = keepalive_s
        self.topics = {topic_name(o.name): o for o in OBJECTS.values()}

    async def _fail(self, context, status: grpc.StatusCode, code: str, message: str):
        rpc_id = str(uuid.uuid4())
        context.set_trailing_metadata((("error-code", code), ("rpc-id", rpc_id)))
        await context.abort(status, f"{message} rpcId: {rpc_id}")

    async def _authenticate(self, context) -> None:
        headers = {k: v for k, v in context.invocation_metadata() or ()}
        token, instance, tenant = headers.get("accesstoken", ""), headers.get("instanceurl", ""), headers.get("tenantid", "")
        try:
            self.sessions.check(token)
        except SalesforceError:
            await self._fail(context, grpc.StatusCode.UNAUTHENTICATED, AUTH_ERROR, "An authentication exception "
                             "occurred. Provide valid authentication via metadata headers.")
        if instance.rstrip("/") != self.instance_url().rstrip("/") or tenant not in (ORG_ID, ORG_ID[:15]):
            await self._fail(context, grpc.StatusCode.UNAUTHENTICATED, AUTH_ERROR, "An authentication exception "
                             "occurred: instanceurl or tenantid does not match the access token's org.")

    async def _topic(self, context, name: str):
        obj = self.topics.get(name)
        if obj is None:
            await self._fail(context, grpc.StatusCode.NOT_FOUND, TOPIC_NOT_FOUND, f"Topic {name!r} not found.")
        return obj

    async def GetTopic(self, request, context):
        await self._authenticate(context)
        obj = await self._topic(context, request.topic_name)
        sid, _ = self.bus.schema_for(obj)
        return pb2.TopicInfo(topic_name=request.topic_name, tenant_guid=ORG_ID, can_publish=False, can_subscribe=True,
                             schema_id=sid, rpc_id=str(uuid.uuid4()))

    async def GetSchema(self, request, context):
        await self._authenticate(context)
        text = self.bus.schema_json(request.schema_id)
        if text is None:
            await self._fail(context, grpc.StatusCode.NOT_FOUND, "sfdc.platform.eventbus.grpc.schema.not.found",
                             f"Schema {request.schema_id!r} not found.")
        return pb2.SchemaInfo(schema_json=text, schema_id=request.schema_id, rpc_id=str(uuid.uuid4()))

    async def Publish(self, request, context):
        await self._authenticate(context)
        await self._fail(context, grpc.StatusCode.PERMISSION_DENIED, "sfdc.platform.eventbus.grpc.publish.not.allowed",
                         f"Publishing to {request.topic_name!r} is not allowed.")

    async def Subscribe(self, request_iterator: AsyncIterator, context) -> AsyncIterator:
        await self._authenticate(context)
        first = await anext(aiter(request_iterator), None)
        if first is None:
            return
        topic = first.topic_name
        await self._topic(context, topic)
        position = await self._start(context, topic, first)
        credit = max(0, first.num_requested)
        ready = asyncio.Event()
        loop = asyncio.get_running_loop()
        self.bus.register(loop, ready)
        failure: list[tuple] = []

        async def more_credit() -> None:
            nonlocal credit
            async for req in request_iterator:
                if req.topic_name and req.topic_name != topic:
                    failure.append((grpc.StatusCode.INVALID_ARGUMENT, "sfdc.platform.eventbus.grpc.subscription."
                                    "topic.mismatch", f"topic {req.topic_name!r} differs from {topic!r}"))
                credit += max(0, req.num_requested)
                loop.call_soon(ready.set)

        reader = asyncio.create_task(more_credit())
        try:
            while not context.done():
                if failure:
                    await self._fail(context, *failure[0])
                pending = [e for e in self.bus.retained(topic) if e.replay > position][:max(0, credit)]
                if pending:
                    credit -= len(pending)
                    position = pending[-1].replay
                    yield pb2.FetchResponse(
                        events=[pb2.ConsumerEvent(event=pb2.ProducerEvent(id=e.event_id, schema_id=e.schema_id,
                                                                          payload=e.payload), replay_id=e.replay_id)
                                for e in pending],
                        latest_replay_id=pending[-1].replay_id, rpc_id=str(uuid.uuid4()), pending_num_requested=credit)
                    continue
                ready.clear()
                try:
                    await asyncio.wait_for(ready.wait(), timeout=self.keepalive_s)
                except TimeoutError:
                    latest = max(position, self.bus.latest_replay())
                    yield pb2.FetchResponse(latest_replay_id=latest.to_bytes(8, "big"), rpc_id=str(uuid.uuid4()),
                                            pending_num_requested=credit)
        finally:
            reader.cancel()
            self.bus.unregister(ready)

    async def _start(self, context, topic: str, first) -> int:
        """The replay position the subscription starts after."""
        if first.replay_preset == pb2.ReplayPreset.LATEST:
            return self.bus.latest_replay()
        if first.replay_preset == pb2.ReplayPreset.EARLIEST:
            retained = self.bus.retained(topic)
            return retained[0].replay - 1 if retained else self.bus.latest_replay()
        replay = int.from_bytes(first.replay_id, "big") if len(first.replay_id) == 8 else -1
        if self.bus.resumable(topic, replay):
            return replay
        await self._fail(context, grpc.StatusCode.INVALID_ARGUMENT, REPLAY_CORRUPTED,
                         "The Replay ID validation failed.")


@contextlib.contextmanager
def serve_pubsub(bus: ChangeEventBus, sessions: Sessions, instance_url, cert: Path, key: Path,
                 host: str = "127.0.0.1", port: int = 0, keepalive_s: float = KEEPALIVE_S) -> Iterator[RunningPubSub]:
    """The gRPC server in a background thread with its own event loop, until the block exits."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict = {}

    async def main() -> None:
        server = grpc.aio.server()
        pb2_grpc.add_PubSubServicer_to_server(PubSubService(bus, sessions, instance_url, keepalive_s), server)
        credentials = grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())])
        holder["port"] = server.add_secure_port(f"{host}:{port}", credentials)
        holder["stop"] = stop = asyncio.Event()
        await server.start()
        started.set()
        await stop.wait()
        await server.stop(grace=0.5)

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(main())

    thread = threading.Thread(target=run, daemon=True, name="sf-pubsub")
    thread.start()
    if not started.wait(timeout=10):
        raise RuntimeError("the Pub/Sub API emulator did not start")
    try:
        yield RunningPubSub(f"{host}:{holder['port']}", host, holder["port"])
    finally:
        loop.call_soon_threadsafe(holder["stop"].set)
        thread.join(timeout=10)
        if not thread.is_alive():
            loop.close()


def serve_emulator_pubsub(emulator, host: str = "127.0.0.1", port: int = 0,
                          keepalive_s: float = KEEPALIVE_S) -> contextlib.AbstractContextManager[RunningPubSub]:
    """The Pub/Sub API of a running SalesforceEmulator: its bus, sessions, instance URL and TLS files."""
    app = emulator.app
    return serve_pubsub(app.change_events, app.sessions, lambda: app.base_url, emulator.tls.server_cert,
                        emulator.tls.server_key, host, port, keepalive_s)
