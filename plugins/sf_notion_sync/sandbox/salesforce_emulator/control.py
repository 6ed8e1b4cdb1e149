"""The emulator's /_sandbox/ control API: mutate records, tune behaviour, move the clock, end sessions,
purge the delete log, reset, and read counters. Not part of Salesforce's API: never authenticated or counted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..datagen import make_id
from ..datagen.schema import object_def
from .errors import SalesforceError
from .pubsub.control import ChangeEventControl
from .replication import parse_time

if TYPE_CHECKING:
    from .app import Req, SalesforceApp


class SandboxControl:
    def __init__(self, app: SalesforceApp) -> None:
        self.app = app
        self.change_events = ChangeEventControl(app.change_events)

    def routes(self) -> list[tuple[str, object, list[str]]]:
        return [("mutate", self.mutate, ["POST"]), ("config", self.config, ["GET", "PATCH"]),
                ("reset", self.reset, ["POST"]), ("expire_sessions", self.expire_sessions, ["POST"]),
                ("purge_deletes", self.purge_deletes, ["POST"]), ("stats", self.stats, ["GET"]),
                *self.change_events.routes()]

    def mutate(self, req: Req) -> dict:
        body = req.json()
        obj = object_def(str(body.get("object", "")))
        if obj is None:
            raise SalesforceError(400, "INVALID_TYPE", f"unknown object: {body.get('object')!r}")
        counts = {}
        for kind in ("update", "delete", "undelete"):
            value = body.get(kind, 0)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise SalesforceError(400, "INVALID_FIELD", f"{kind} must be a non-negative integer")
            counts[kind] = value
        result = self.app.store.overlay.mutate(self.app.gen, obj.name, same_timestamp=bool(body.get("same_timestamp")),
                                               now_ms=self.app.clock.ms(), **counts)
        ids = {k: [make_id(obj.key_prefix, i) for i in v] for k, v in result.items()}
        self.app.change_events.publish_mutation(obj, ids, self.app.store)
        return {"object": obj.name, **ids}

    def config(self, req: Req) -> dict:
        """GET the behaviour knobs; PATCH any of them (see `_configure`)."""
        if req.request.method == "PATCH":
            self._configure(req.json())
        return {"daily_limit": self.app.usage.daily_limit, "api_usage": self.app.usage.used,
                "min_job_seconds": self.app.bulk.min_job_seconds, "session_timeout_s": self.app.sessions.timeout_s,
                "bulk_order_limit": self.app.bulk.order_limit, "pk_chunk_size": self.app.bulk.pk_chunk_size,
                "short_batches": self.app.short_batches, "open_transaction_s": self.app.replication.open_transaction_s,
                "now": self.app.clock.now().isoformat(), "clock_frozen": self.app.clock.frozen}

    def _configure(self, body: dict) -> None:
        def number(key: str, kind: type = float, minimum: float = 0, nullable: bool = False):
            value = body[key]
            if value is None and nullable:
                return None
            if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum \
                    or (kind is int and not isinstance(value, int)):
                raise SalesforceError(400, "INVALID_FIELD", f"{key} must be a {kind.__name__} >= {minimum}"
                                      f"{' or null' if nullable else ''}, got {value!r}")
            return kind(value)

        if "daily_limit" in body or "api_usage" in body:
            self.app.usage.set(number("daily_limit", int) if "daily_limit" in body else None,
                           number("api_usage", int) if "api_usage" in body else None)
        if "min_job_seconds" in body:
            self.app.bulk.min_job_seconds = number("min_job_seconds")
        if "session_timeout_s" in body:
            self.app.sessions.timeout_s = number("session_timeout_s", nullable=True)
        if "bulk_order_limit" in body:
            self.app.bulk.order_limit = number("bulk_order_limit", int)
        if "pk_chunk_size" in body:
            self.app.bulk.pk_chunk_size = number("pk_chunk_size", int, minimum=1)
        if "open_transaction_s" in body:
            self.app.replication.open_transaction_s = number("open_transaction_s")
        if "short_batches" in body:
            if not isinstance(body["short_batches"], bool):
                raise SalesforceError(400, "INVALID_FIELD", "short_batches must be true or false")
            self.app.short_batches = body["short_batches"]
        if "now" in body:
            self.app.clock.freeze(None if body["now"] is None else parse_time(body["now"], "now"))
        if "advance_s" in body:
            self.app.clock.advance(number("advance_s", minimum=-1e12))

    def reset(self, req: Req) -> dict:
        self.app.store.overlay.reset()
        self.app.bulk.clear()
        self.app.cursors.clear()
        self.app.usage.set(used=0)
        self.app.replication.reset()
        self.app.change_events.reset()
        self.app.sessions.renew_default()
        return {"reset": True}

    def expire_sessions(self, req: Req) -> dict:
        """End every session and access token now, as an org's timeout would."""
        return {"expired": self.app.sessions.expire_all()}

    def purge_deletes(self, req: Req) -> dict:
        """Physically drop an object's delete log before `before` (default now): earliestDateAvailable moves."""
        body = req.json()
        obj = object_def(str(body.get("object", "")))
        if obj is None:
            raise SalesforceError(400, "INVALID_TYPE", f"unknown object: {body.get('object')!r}")
        before = parse_time(body["before"], "before") if body.get("before") else None
        return {"object": obj.name, "earliestDateAvailable": self.app.replication.purge(obj.name, before)}

    def stats(self, req: Req) -> dict:
        overlay = {}
        for name in self.app.gen.counts:
            rows = self.app.store.snapshot(name)
            overlay[name] = {"mutated": len(rows), "deleted": sum(1 for r in rows.values() if r.is_deleted)}
        return {
            "counts": dict(self.app.gen.counts), "seed": self.app.gen.seed, "overlay": overlay,
            "api_usage": self.app.usage.used, "daily_limit": self.app.usage.daily_limit,
            "bulk_jobs": len(self.app.bulk.jobs), "open_query_cursors": len(self.app.cursors),
            "requests_served": self.app.requests_served,
        }


