"""The change-event subscription loop without Airflow or gRPC: debounce, size cap, resume, gaps, reconnects."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from sf_notion_sync.realtime.batches import consume
from sf_notion_sync.realtime.follow import follow_changes
from sf_notion_sync.salesforce.pubsub.client import ChangeEvent, PubSubError
from sf_notion_sync.state.replay_ids import ReplayState

EXPIRED = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"


def event(n: int, change_type: str = "UPDATE", ids: tuple[str, ...] | None = None) -> ChangeEvent:
    return ChangeEvent("Account", change_type, ids if ids is not None else (f"001{n:015d}",), (), n, "tx",
                       n.to_bytes(8, "big"))


@dataclass
class Book:
    stored: ReplayState | None = None
    gaps: list[tuple[str, bool]] = field(default_factory=list)

    def get_replay(self, object_name):
        return self.stored

    def record_gap(self, object_name, reason, *, forget_replay=False):
        self.gaps.append((reason, forget_replay))


class FakeClient:
    """Plays scripted subscriptions: each is a list of event groups and pauses (or an error); then the
    stream stays quiet, or with `drop` ends as a dropped connection does while more is scripted."""

    def __init__(self, script: list, drop: bool = False) -> None:
        self.script, self.drop = script, drop
        self.subscribed: list[bytes | None] = []
        self.refreshes: list[bool] = []

    async def subscribe(self, topic, replay_id=None, *, batch=100):
        self.subscribed.append(replay_id)
        step = self.script.pop(0) if self.script else []
        if isinstance(step, Exception):
            raise step
        for group in step:
            if isinstance(group, float):
                await asyncio.sleep(group)
                continue
            yield group, b""
        if self.drop and self.script:
            raise PubSubError("UNAVAILABLE", "", "dropped")
        await asyncio.Event().wait()

    async def close(self):
        pass


async def take(gen, n: int, timeout: float = 5.0) -> list[dict]:
    out = []
    async def run():
        async for payload in gen:
            out.append(payload)
            if len(out) == n:
                return
    await asyncio.wait_for(run(), timeout)
    await gen.aclose()
    return out


def follow(client: FakeClient, book: Book, **kwargs):
    async def open_client(refresh):
        client.refreshes.append(refresh)
        return client
    async def no_sleep(_):
        pass
    return follow_changes("Account", "/data/AccountChangeEvent", open_client, book, sleep=no_sleep, **kwargs)


def test_a_burst_becomes_one_batch_after_the_debounce():
    client = FakeClient([[[event(1), event(2)], [event(3, "DELETE")], 0.3, [event(4)]]])
    payloads = asyncio.run(take(follow(client, Book(), debounce_s=0.15), 2))
    assert [p["record_ids"] for p in payloads] == [[event(1).record_ids[0], event(2).record_ids[0],
                                                    event(3).record_ids[0]], [event(4).record_ids[0]]]
    assert payloads[0]["change_types"][event(3).record_ids[0]] == "DELETE"
    assert payloads[0]["replay_id"] == (3).to_bytes(8, "big").hex()
    assert [p["position"] for p in payloads] == [1, 2]


def test_a_batch_closes_at_max_ids_without_waiting():
    client = FakeClient([[[event(i) for i in range(5)]]])
    payloads = asyncio.run(take(follow(client, Book(), debounce_s=60, max_ids=5), 1, timeout=2))
    assert len(payloads[0]["record_ids"]) == 5


def test_resumes_after_the_stored_replay_id_and_counts_on_from_its_position():
    stored = ReplayState("Account", b"\x00" * 7 + b"\x09", 41, 0, None)
    client = FakeClient([[[event(10)]]])
    payloads = asyncio.run(take(follow(client, Book(stored), debounce_s=0.05), 1))
    assert client.subscribed == [stored.replay_id] and payloads[0]["position"] == 42


def test_an_expired_replay_id_records_a_gap_hands_over_and_restarts_at_the_tip():
    stored = ReplayState("Account", b"\x00" * 8, 3, 0, None)
    book = Book(stored)
    client = FakeClient([PubSubError("INVALID_ARGUMENT", EXPIRED, "The Replay ID validation failed."), [[event(7)]]])
    payloads = asyncio.run(take(follow(client, book, debounce_s=0.05), 2))
    assert payloads[0]["gap"] and payloads[0]["record_ids"] == [] and payloads[0]["position"] == 4
    assert book.gaps and book.gaps[0][1] is True  # the stored id is forgotten
    assert client.subscribed == [stored.replay_id, None]  # then LATEST
    assert payloads[1]["record_ids"] == list(event(7).record_ids)


def test_gap_events_are_recorded_and_travel_in_their_batch():
    book = Book()
    client = FakeClient([[[event(1, "GAP_OVERFLOW", ids=()), event(2)]]])
    payloads = asyncio.run(take(follow(client, book, debounce_s=0.05), 1))
    assert payloads[0]["gap"] == "GAP_OVERFLOW" and book.gaps == [("GAP_OVERFLOW", False)]
    merged = consume("Account", payloads)
    assert merged.gaps == ("GAP_OVERFLOW",) and merged.record_ids == event(2).record_ids


def test_reconnects_resume_after_the_last_event_received():
    client = FakeClient([[[event(1)]], PubSubError("UNAUTHENTICATED", "auth", "expired"), [[event(2)]]], drop=True)
    payloads = asyncio.run(take(follow(client, Book(), debounce_s=0.05), 2))
    assert [p["record_ids"] for p in payloads] == [list(event(1).record_ids), list(event(2).record_ids)]
    assert client.subscribed == [None, event(1).replay_id, event(1).replay_id]
    assert client.refreshes == [False, False, True]  # new credentials only after the auth failure


def test_too_many_failures_in_a_row_end_it():
    client = FakeClient([PubSubError("UNAVAILABLE", "", "down")] * 5)
    with pytest.raises(PubSubError):
        asyncio.run(take(follow(client, Book(), max_failures=3), 1))
