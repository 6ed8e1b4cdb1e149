"""Avro schemas of the emulated Change Data Capture events, and their `changedFields` bitmaps.

Modelled on Salesforce's Change Data Capture Developer Guide ("Change Event Message Structure",
"Change Event Header Fields") and the Pub/Sub API Developer Guide ("Event Deserialization
Considerations"): an `<Object>ChangeEvent` record whose first field is `ChangeEventHeader`, every record
field optional (a union with null, null when unchanged), DateTime as long epoch ms, Date as int days.
`changedFields`, `nulledFields` and `diffFields` carry bitmaps over the top-level schema fields (a hex
string, "0x...", bit i = field i), which a subscriber decodes with the schema -- the harsher of the
two forms the guide describes, so clients must decode them rather than read names.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache

from sf_notion_sync.salesforce.pubsub.client import change_event_topic as topic_name

from ...datagen.schema import ObjectDef

_AVRO_TYPES = {"boolean": "boolean", "int": "int", "currency": "double", "double": "double", "percent": "double",
               "datetime": "long", "date": "int"}
CHANGE_TYPES = ("CREATE", "UPDATE", "DELETE", "UNDELETE")
GAP_TYPES = ("GAP_CREATE", "GAP_UPDATE", "GAP_DELETE", "GAP_UNDELETE", "GAP_OVERFLOW")

_HEADER = {
    "type": "record", "name": "ChangeEventHeader", "namespace": "com.sforce.eventbus",
    "fields": [
        {"name": "entityName", "type": "string"},
        {"name": "recordIds", "type": {"type": "array", "items": "string"}},
        {"name": "changeType", "type": {"type": "enum", "name": "ChangeType", "namespace": "com.sforce.eventbus",
                                        "symbols": [*CHANGE_TYPES, *GAP_TYPES]}},
        {"name": "changeOrigin", "type": "string"},
        {"name": "transactionKey", "type": "string"},
        {"name": "sequenceNumber", "type": "int"},
        {"name": "commitTimestamp", "type": "long"},
        {"name": "commitNumber", "type": "long"},
        {"name": "commitUser", "type": "string"},
        {"name": "nulledFields", "type": {"type": "array", "items": "string"}},
        {"name": "diffFields", "type": {"type": "array", "items": "string"}},
        {"name": "changedFields", "type": {"type": "array", "items": "string"}},
    ],
}


@lru_cache(maxsize=16)
def change_event_schema(obj: ObjectDef) -> str:
    """The Avro schema (JSON text) of `obj`'s change events."""
    fields: list[dict] = [{"name": "ChangeEventHeader", "type": _HEADER}]
    for f in obj.fields:
        if f.name in ("Id", "IsDeleted", "SystemModstamp"):
            continue  # not in change event bodies (the guide's "Fields Not Included")
        fields.append({"name": f.name, "type": ["null", _AVRO_TYPES.get(f.type, "string")], "default": None})
    fields.append({"name": "SystemModstamp", "type": ["null", "long"], "default": None})
    name = topic_name(obj.name).rsplit("/", 1)[1]
    return json.dumps({"type": "record", "name": name, "namespace": "com.sforce.eventbus", "fields": fields},
                      separators=(",", ":"))


def schema_id(schema_json: str) -> str:
    """A fingerprint of the schema, as the opaque schema_id Salesforce gives it."""
    return hashlib.sha256(schema_json.encode()).hexdigest()[:22]


def field_bitmap(schema_json: str, names: list[str]) -> str:
    """The bitmap of `names` over the schema's top-level fields, "0x" + hex (bit i = field i)."""
    position = {f["name"]: i for i, f in enumerate(json.loads(schema_json)["fields"])}
    bits = 0
    for name in names:
        bits |= 1 << position[name]
    digits = format(bits, "x")
    return "0x" + digits.zfill(len(digits) + len(digits) % 2)
