"""Keep one object's change-event subscription going and yield its debounced batches as payloads.

Resumes after the replay id the state database holds (what the fast lane last applied), else at the
tip. An expired replay id (past the 72-hour retention) is a gap: recorded in the state database, handed
on as a gap payload (the consumer runs the incremental sync), and the subscription starts again at the
tip -- never silently. Gap and overflow events are recorded the same way and travel in their batch.
Other failures reconnect with capped exponential backoff, re-reading the credentials after an auth
failure; `max_failures` in a row end it. Events received before a failure are still yielded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from sf_notion_sync.realtime.batches import DEBOUNCE_S, MAX_IDS, ChangeBatch, gap_payload
from sf_notion_sync.salesforce.pubsub.client import ChangeEvent, PubSubError

FETCH_BATCH = 100
MAX_FAILURES = 30
BACKOFF_CAP_S = 30.0


class ReplayBook(Protocol):
    """The part of the StateStore this needs (state/replay_ids.py)."""

    def get_replay(self, object_name: str) -> Any: ...

    def record_gap(self, object_name: str, reason: str, *, forget_replay: bool = False) -> None: ...


class Subscriber(Protocol):
    def subscribe(self, topic: str, replay_id: bytes | None = None, *, batch: int = ...) -> AsyncIterator: ...

    async def close(self) -> None: ...


def backoff_s(failures: int) -> float:
    return min(BACKOFF_CAP_S, 0.5 * 2 ** (failures - 1))


async def _pump(client: Subscriber, topic: str, resume: bytes | None, queue: asyncio.Queue[ChangeEvent]) -> None:
    async for events, _latest in client.subscribe(topic, resume, batch=FETCH_BATCH):
        for event in events:
            queue.put_nowait(event)


async def follow_changes(object_name: str, topic: str, open_client: Callable[[bool], Awaitable[Subscriber]],
                         book: ReplayBook, *, debounce_s: float = DEBOUNCE_S, max_ids: int = MAX_IDS,
                         max_failures: int = MAX_FAILURES, clock: Callable[[], float] = time.monotonic,
                         sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> AsyncIterator[dict[str, Any]]:
    """Payloads (batches.py) for `object_name`'s changes, forever. `open_client(refresh)` gives a client;
    `refresh` asks for new credentials (the last call failed authentication)."""
    stored = await asyncio.to_thread(book.get_replay, object_name)
    resume = stored.replay_id if stored else None
    position = stored.position if stored else 0
    failures, refresh = 0, False
    while True:
        client = await open_client(refresh)
        queue: asyncio.Queue[ChangeEvent] = asyncio.Queue()
        pump = asyncio.create_task(_pump(client, topic, resume, queue))
        batch: ChangeBatch | None = None
        try:
            while True:
                wait = None if batch is None else max(0.0, batch.opened_at + debounce_s - clock())
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getter, pump}, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    event = getter.result()
                    failures, resume = 0, event.replay_id
                    if event.is_gap:
                        await asyncio.to_thread(book.record_gap, object_name, event.change_type)
                    batch = batch or ChangeBatch(object_name, clock())
                    batch.add(event)
                else:
                    getter.cancel()
                if batch is not None and (batch.due(clock(), debounce_s, max_ids) or (pump.done() and queue.empty())):
                    position += 1
                    yield batch.payload(position)
                    batch = None
                if pump.done() and queue.empty():
                    pump.result()  # raises what ended the subscription
                    raise PubSubError("UNAVAILABLE", "", "the subscription ended")
        except PubSubError as exc:
            if exc.replay_id_expired and resume is not None:
                reason = f"stored replay id {resume.hex()} no longer retained ({exc.error_code}); incremental catches up"
                await asyncio.to_thread(book.record_gap, object_name, reason, forget_replay=True)
                position += 1
                yield gap_payload(object_name, reason, position)
                resume, failures, refresh = None, 0, False
                continue
            failures += 1
            refresh = exc.status == "UNAUTHENTICATED"
            if failures > max_failures:
                raise
            await sleep(backoff_s(failures))
        finally:
            pump.cancel()
            await client.close()
