"""A small asyncio client of Salesforce's Pub/Sub API: subscribe to a change event channel and decode it.

The subscription is pull-based (Pub/Sub API Developer Guide, "Flow Control"): we ask for `batch` events
and ask again once they have arrived. Payloads are Avro, decoded with the schema GetSchema returns for
the event's schema id (cached); the ChangeEventHeader's `changedFields` bitmap is decoded against that
schema ("Event Deserialization Considerations"). Errors keep Pub/Sub's `error-code` trailer, so callers
can tell an expired replay id (`...fetch.replayid.corrupted`) from a lost connection. Tokens travel only
in the call metadata; they are never logged or put in an error.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import fastavro
import grpc

from sf_notion_sync.salesforce.pubsub import pubsub_api_pb2 as pb2
from sf_notion_sync.salesforce.pubsub import pubsub_api_pb2_grpc as pb2_grpc

DEFAULT_ENDPOINT = "api.pubsub.salesforce.com:7443"
REPLAY_ID_INVALID = frozenset({
    "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted",
    "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.invalid",
})
"""Error codes of a replay id that can no longer be resumed from (e.g. past the 72-hour retention)."""
GAP_PREFIX = "GAP_"


def change_event_topic(object_name: str) -> str:
    """An object's Change Data Capture channel: /data/AccountChangeEvent, /data/Thing__ChangeEvent."""
    base = object_name.removesuffix("__c") + "__" if object_name.endswith("__c") else object_name
    return f"/data/{base}ChangeEvent"


class PubSubError(Exception):
    """A failed Pub/Sub call: the gRPC status name, Pub/Sub's error code, the server's message."""

    def __init__(self, status: str, error_code: str, message: str) -> None:
        super().__init__(f"Pub/Sub API {status} ({error_code or 'no error code'}): {message}")
        self.status, self.error_code = status, error_code

    @property
    def replay_id_expired(self) -> bool:
        return self.error_code in REPLAY_ID_INVALID


@dataclass(frozen=True)
class ChangeEvent:
    """What a change event says about records: its header and the event's replay id."""

    entity: str
    change_type: str
    record_ids: tuple[str, ...]
    changed_fields: tuple[str, ...]
    commit_timestamp: int
    transaction_key: str
    replay_id: bytes

    @property
    def is_gap(self) -> bool:
        """A gap or overflow event: the change happened, its details did not make it onto the bus."""
        return self.change_type.startswith(GAP_PREFIX)


@dataclass(frozen=True)
class Credentials:
    access_token: str
    instance_url: str
    tenant_id: str

    def __repr__(self) -> str:  # the token never reaches a log
        return f"Credentials(instance_url={self.instance_url!r}, tenant_id={self.tenant_id!r})"

    @classmethod
    def from_session(cls, access_token: str, instance_url: str) -> Credentials:
        """The org id (tenant id) is the part of a session id before the '!'."""
        return cls(access_token, instance_url.rstrip("/"), access_token.partition("!")[0])

    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("accesstoken", self.access_token), ("instanceurl", self.instance_url), ("tenantid", self.tenant_id))


def _error(exc: grpc.aio.AioRpcError) -> PubSubError:
    trailers = dict(exc.trailing_metadata() or ())
    return PubSubError(exc.code().name, str(trailers.get("error-code", "")), exc.details() or "")


def changed_field_names(bitmaps: list[str], schema: dict) -> tuple[str, ...]:
    """Field names from the top-level `changedFields` bitmap ("0x..." hex, bit i = schema field i);
    names already given as names pass through."""
    names: list[str] = []
    fields = schema["fields"]
    for entry in bitmaps:
        if not entry.startswith("0x"):
            if "-" not in entry:
                names.append(entry)
            continue
        bits = int(entry, 16)
        names.extend(fields[i]["name"] for i in range(min(bits.bit_length(), len(fields))) if bits >> i & 1)
    return tuple(names)


class PubSubClient:
    """One channel to the Pub/Sub API; `credentials` is called again after an auth failure."""

    def __init__(self, endpoint: str, credentials: Credentials, *, root_certificates: bytes | None = None) -> None:
        self.credentials = credentials
        self.channel = grpc.aio.secure_channel(endpoint, grpc.ssl_channel_credentials(root_certificates))
        self.stub = pb2_grpc.PubSubStub(self.channel)
        self._schemas: dict[str, tuple[dict, object]] = {}

    async def close(self) -> None:
        await self.channel.close()

    async def get_topic(self, topic: str) -> pb2.TopicInfo:
        try:
            return await self.stub.GetTopic(pb2.TopicRequest(topic_name=topic), metadata=self.credentials.metadata())
        except grpc.aio.AioRpcError as exc:
            raise _error(exc) from None

    async def schema(self, schema_id: str) -> tuple[dict, object]:
        """(schema as JSON, parsed for fastavro) of a schema id, fetched once."""
        if schema_id not in self._schemas:
            try:
                info = await self.stub.GetSchema(pb2.SchemaRequest(schema_id=schema_id),
                                                 metadata=self.credentials.metadata())
            except grpc.aio.AioRpcError as exc:
                raise _error(exc) from None
            raw = json.loads(info.schema_json)
            self._schemas[schema_id] = (raw, fastavro.parse_schema(raw))
        return self._schemas[schema_id]

    async def decode(self, event: pb2.ConsumerEvent) -> ChangeEvent:
        raw, parsed = await self.schema(event.event.schema_id)
        body = fastavro.schemaless_reader(io.BytesIO(event.event.payload), parsed)
        header = body["ChangeEventHeader"]
        return ChangeEvent(
            entity=header["entityName"], change_type=header["changeType"], record_ids=tuple(header["recordIds"]),
            changed_fields=changed_field_names(list(header.get("changedFields") or ()), raw),
            commit_timestamp=int(header["commitTimestamp"]), transaction_key=header.get("transactionKey") or "",
            replay_id=bytes(event.replay_id))

    async def subscribe(self, topic: str, replay_id: bytes | None = None, *, earliest: bool = False,
                        batch: int = 100) -> AsyncIterator[tuple[list[ChangeEvent], bytes]]:
        """(events, latest replay id) per FetchResponse, forever: after `replay_id` (CUSTOM), else from the
        earliest retained event or the tip (LATEST). An empty list is the server's keepalive."""
        if replay_id:
            first = pb2.FetchRequest(topic_name=topic, replay_preset=pb2.ReplayPreset.CUSTOM, replay_id=replay_id,
                                     num_requested=batch)
        else:
            preset = pb2.ReplayPreset.EARLIEST if earliest else pb2.ReplayPreset.LATEST
            first = pb2.FetchRequest(topic_name=topic, replay_preset=preset, num_requested=batch)
        call = self.stub.Subscribe(metadata=self.credentials.metadata())
        try:
            await call.write(first)
            while True:
                response = await call.read()
                if response is grpc.aio.EOF:
                    raise PubSubError("UNAVAILABLE", "", "the server closed the subscription")
                events = [await self.decode(e) for e in response.events]
                if response.events and response.pending_num_requested == 0:
                    await call.write(pb2.FetchRequest(topic_name=topic, num_requested=batch))
                yield events, bytes(response.latest_replay_id)
        except grpc.aio.AioRpcError as exc:
            raise _error(exc) from None
        finally:
            call.cancel()
