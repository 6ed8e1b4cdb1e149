"""The emulated Pub/Sub API through our client over real gRPC + TLS: auth headers, change events of
sandbox mutations (Avro, changedFields bitmaps), flow control, replay presets, retention, gap events."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sf_notion_sync.salesforce.pubsub.client import Credentials, PubSubClient, PubSubError
from sf_notion_sync.sandbox.salesforce_emulator import SalesforceEmulator
from sf_notion_sync.sandbox.salesforce_emulator.pubsub import RETENTION_S, serve_emulator_pubsub
from tests.integration._salesforce import control

TOPIC = "/data/AccountChangeEvent"
WAIT_S = 10.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    emu = SalesforceEmulator(state_dir=tmp_path_factory.mktemp("sf"), accounts=200, contacts=10, opportunities=10)
    with emu.serve() as server, serve_emulator_pubsub(emu, keepalive_s=0.3) as pubsub:
        yield server, pubsub
    emu.close()


@contextlib.asynccontextmanager
async def _opened(stack, token: str | None = None) -> AsyncIterator[PubSubClient]:
    """Our client on the emulated Pub/Sub API (its session id, or `token`), closed afterwards."""
    server, pubsub = stack
    creds = Credentials.from_session(token or server.session_id, server.url)
    client = PubSubClient(pubsub.endpoint, creds, root_certificates=Path(server.ca_bundle).read_bytes())
    try:
        yield client
    finally:
        await client.close()


async def _collect(client: PubSubClient, want: int, until_gap_count: int = 0, **subscribe) -> list:
    """Events until `want` arrived, or `until_gap_count` gap events (keepalives skipped), bounded by WAIT_S."""
    got: list = []

    async def run() -> None:
        async for events, _latest in client.subscribe(TOPIC, **subscribe):
            got.extend(events)
            if len(got) >= want or (until_gap_count and sum(e.is_gap for e in got) >= until_gap_count):
                return

    await asyncio.wait_for(run(), WAIT_S)
    return got


def test_get_topic_needs_valid_auth_headers(stack):
    async def go():
        async with _opened(stack) as client:
            info = await client.get_topic(TOPIC)
            assert info.can_subscribe and not info.can_publish and info.schema_id
            with pytest.raises(PubSubError) as missing:
                await client.get_topic("/data/NoSuchChangeEvent")
            assert missing.value.status == "NOT_FOUND"
        async with _opened(stack, token="00D5g0000000001!AQnotIssued") as bad:
            with pytest.raises(PubSubError) as denied:
                await bad.get_topic(TOPIC)
            assert denied.value.status == "UNAUTHENTICATED"
            assert denied.value.error_code == "sfdc.platform.eventbus.grpc.service.auth.error"
            assert "AQnotIssued" not in str(denied.value)

    asyncio.run(go())


def test_mutations_arrive_as_change_events_in_order_with_flow_control(stack):
    server, _ = stack

    async def go():
        async with _opened(stack) as client:
            start = bytes.fromhex(control(server, "GET", "change_events")["topics"].get(TOPIC, {})
                                  .get("latest_replay_id") or "") or None
            mutated = control(server, "POST", "mutate", object="Account", update=3, delete=2)
            # batch=2: the server may send only what was asked for; the client asks again
            events = await _collect(client, 4, replay_id=start, earliest=start is None, batch=2)
        updates = [e for e in events if e.change_type == "UPDATE"]
        deletes = [e for e in events if e.change_type == "DELETE"]
        assert [e.record_ids[0] for e in updates] == mutated["updated"]
        assert deletes and set(deletes[0].record_ids) == set(mutated["deleted"])  # one transaction, one event
        assert {"Name", "Industry", "SystemModstamp"} <= set(updates[0].changed_fields)
        replays = [e.replay_id for e in events]
        assert replays == sorted(replays) and len(set(replays)) == len(replays)

    asyncio.run(go())


def test_custom_replay_resumes_after_the_given_event_and_latest_sees_only_new(stack):
    server, _ = stack

    async def go():
        async with _opened(stack) as client:
            control(server, "POST", "mutate", object="Account", update=2)
            first = await _collect(client, 2, earliest=True, batch=500)
            tail = first[-2:]
            resumed = await _collect(client, 1, replay_id=tail[0].replay_id)
            assert resumed[0].replay_id == tail[1].replay_id
            async def latest_then_mutate():
                gen = client.subscribe(TOPIC, batch=10)
                task = asyncio.ensure_future(anext(gen))  # subscribed at the tip
                await asyncio.sleep(0)
                events, _ = await asyncio.wait_for(task, WAIT_S)  # a keepalive first: nothing old
                assert events == []
                mutated = control(server, "POST", "mutate", object="Account", update=1)
                while not events:
                    events, _ = await asyncio.wait_for(anext(gen), WAIT_S)
                await gen.aclose()
                return events, mutated
            events, mutated = await latest_then_mutate()
            assert [e.record_ids[0] for e in events] == mutated["updated"]

    asyncio.run(go())


def test_a_replay_id_past_the_72_hour_retention_fails_as_salesforce_does(stack):
    server, _ = stack

    async def go():
        async with _opened(stack) as client:
            control(server, "POST", "mutate", object="Account", update=1)
            old = (await _collect(client, 1, earliest=True))[0].replay_id
            control(server, "PATCH", "config", advance_s=RETENTION_S + 60)
            try:
                with pytest.raises(PubSubError) as info:
                    await _collect(client, 1, replay_id=old)
            finally:
                control(server, "PATCH", "config", advance_s=-(RETENTION_S + 60))
            assert info.value.status == "INVALID_ARGUMENT" and info.value.replay_id_expired

    asyncio.run(go())


def test_gap_and_overflow_events_on_request(stack):
    server, _ = stack

    async def go():
        async with _opened(stack) as client:
            control(server, "POST", "change_events", object="Account", change_type="GAP_UPDATE",
                    record_ids=["001000000000001AAA"])
            control(server, "POST", "change_events", object="Account", change_type="GAP_OVERFLOW")
            events = (await _collect(client, 99, earliest=True, batch=500, until_gap_count=2))
        assert [(e.change_type, e.record_ids, e.is_gap) for e in events if e.is_gap] == [
            ("GAP_UPDATE", ("001000000000001AAA",), True), ("GAP_OVERFLOW", (), True)]

    asyncio.run(go())
