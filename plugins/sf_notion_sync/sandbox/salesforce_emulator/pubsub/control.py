"""The /_sandbox/change_events control routes: read the bus, publish gap and overflow events on request.

POST {"object": "Account", "change_type": "GAP_UPDATE", "record_ids": [...]} publishes a gap event (the
Change Data Capture Developer Guide's "Gap Events": header only, the record ids, no field values);
"GAP_OVERFLOW" an overflow event (no record ids: "Overflow Events"). GET returns per-topic counts, the latest
replay id and the open subscriptions. Like the rest of /_sandbox/, never authenticated or counted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...datagen.schema import object_def
from ..errors import SalesforceError
from .schema import GAP_TYPES

if TYPE_CHECKING:
    from ..app import Req
    from .bus import ChangeEventBus


class ChangeEventControl:
    def __init__(self, bus: ChangeEventBus) -> None:
        self.bus = bus

    def routes(self) -> list[tuple[str, object, list[str]]]:
        return [("change_events", self.change_events, ["GET", "POST"])]

    def change_events(self, req: Req) -> dict:
        if req.request.method == "GET":
            return {"topics": self.bus.stats(), "retention_s": self.bus.retention_s,
                    "subscribers": self.bus.subscribers()}
        body = req.json()
        obj = object_def(str(body.get("object", "")))
        if obj is None:
            raise SalesforceError(400, "INVALID_TYPE", f"unknown object: {body.get('object')!r}")
        change_type = body.get("change_type")
        if change_type not in GAP_TYPES:
            raise SalesforceError(400, "INVALID_FIELD", f"change_type must be one of {', '.join(GAP_TYPES)}, "
                                  f"got {change_type!r}")
        ids = body.get("record_ids") or []
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise SalesforceError(400, "INVALID_FIELD", "record_ids must be a list of Salesforce Ids")
        event = self.bus.publish(obj, change_type, [] if change_type == "GAP_OVERFLOW" else ids)
        return {"object": obj.name, "change_type": change_type, "replay_id": event.replay_id.hex()}
