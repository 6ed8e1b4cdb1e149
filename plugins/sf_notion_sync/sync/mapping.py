"""Salesforce record -> staged record: the Notion properties to write and their content hash.

Properties are built at extraction, once, so that a batch only compares hashes and sends what is
stored: the hash covers exactly what would be written (plus the mapping version), which is what
makes "unchanged costs no request" sound (invariant 8). A value Notion would reject, or a property
transform that raised, is staged as an error (no request will be sent for it) so the batch records it
in sync_log with its reason. Records of an external source are staged the same way, keyed by the
object's ``id_field``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sf_notion_sync.notion.errors import PropertyValueError
from sf_notion_sync.notion.properties import KIND_CLEARED, build_properties, build_property, content_hash
from sf_notion_sync.state.rows import StagedRecord
from sf_notion_sync.transforms import TRANSFORM_FAILED, TransformFailed

from .changes import KIND_RELATION_PENDING, change
from .context import SyncContext
from .timeutil import parse_sf_datetime

ERROR_KEY = "error"
PROPERTIES_KEY = "properties"
WARNINGS_KEY = "warnings"
"""Values Notion gets cut short (truncated, capped, cleared), as sync.changes dicts: kept per record
when written, and counted in the batch's log."""
NOTES_KEY = "notes"
"""Values only normalised on the way (a URL scheme added), as sync.changes dicts: counted in the log."""
INVALID_PROPERTY = "invalid_property"


class RecordBuilder:
    """Builds the staged form of records of one object, a chunk at a time (relations resolved per chunk)."""

    def __init__(self, ctx: SyncContext) -> None:
        self.ctx = ctx
        self.mappings = ctx.obj.properties
        self.types = {p.name: p.type for p in self.mappings}
        self.relations = [p for p in self.mappings if p.type == "relation"]

    def stage(self, records: Sequence[dict[str, Any]]) -> list[StagedRecord]:
        values = [self._values(record) for record in records]
        pages = self._related_pages([v for v in values if isinstance(v, dict)])
        return [self._stage_one(record, v, pages) for record, v in zip(records, values, strict=True)]

    def deleted(self, sf_id: str) -> StagedRecord:
        """A record Salesforce reports deleted: nothing to build, only a page to trash."""
        return StagedRecord(sf_id=sf_id, system_modstamp=None, payload={}, content_hash="", is_deleted=True)

    def _values(self, record: dict[str, Any]) -> dict[str, Any] | tuple[str, TransformFailed]:
        """The value of each property, by name: the record's field, or what its transform returns; or the
        property whose transform raised, and how."""
        values: dict[str, Any] = {}
        for prop in self.mappings:
            try:
                values[prop.name] = prop.transform(record) if prop.transform else record.get(prop.field)
            except TransformFailed as exc:
                return prop.name, exc
        return values

    def _modified(self, record: dict[str, Any], sf_id: str) -> datetime | None:
        """The record's last-change time as aware UTC (an external source may give a datetime or ISO text)."""
        name = self.ctx.obj.modified_field
        value = record.get(name) if name else None
        if isinstance(value, datetime):
            return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        try:
            return parse_sf_datetime(value)
        except (AttributeError, TypeError, ValueError):
            raise ValueError(f"record {sf_id}: field {name!r} is not an ISO 8601 date-time "
                             f"(got a {type(value).__name__})") from None

    def _related_pages(self, values: Sequence[dict[str, Any]]) -> dict[str, dict[str, str]]:
        """Notion page ids of referenced records, per related object (unsynced ones are absent)."""
        pages: dict[str, dict[str, str]] = {}
        for prop in self.relations:
            ids = {v[prop.name] for v in values if v.get(prop.name) and isinstance(v[prop.name], str)}
            entries = self.ctx.store.get_record_map(prop.related_object or "", ids)
            pages.setdefault(prop.related_object or "", {}).update(
                (sf_id, e.notion_page_id) for sf_id, e in entries.items() if not e.trashed
            )
        return pages

    def _stage_one(self, record: dict[str, Any], values: dict[str, Any] | tuple[str, TransformFailed],
                   pages: dict[str, dict[str, str]]) -> StagedRecord:
        obj = self.ctx.obj
        sf_id = record[obj.id_field]
        payload: dict[str, Any]
        pending: list[dict[str, str]] = []
        try:
            if isinstance(values, tuple):
                name, failure = values
                raise PropertyValueError(str(failure), record_id=sf_id, property_name=name) from failure
            for prop in self.relations:
                value = values[prop.name]
                if value and not isinstance(value, str):
                    raise PropertyValueError("a relation takes the id of one related record, as text",
                                             record_id=sf_id, property_name=prop.name, property_type="relation")
                if value:
                    values[prop.name] = page = pages.get(prop.related_object or "", {}).get(value)
                    if page is None:
                        pending.append(change(KIND_RELATION_PENDING, prop.name,
                                              f"related {prop.related_object} {value} is not synced yet; left empty"))
            built = build_properties(values, self.types, record_id=sf_id, on_invalid=self.ctx.on_invalid)
        except PropertyValueError as exc:
            code = TRANSFORM_FAILED if isinstance(exc.__cause__, TransformFailed) else INVALID_PROPERTY
            payload = {ERROR_KEY: {"code": code, "message": str(exc), "property": exc.property_name}}
        else:
            properties = built.properties
            id_property = self.ctx.obj.salesforce_id_property
            properties[id_property] = build_property("rich_text", sf_id, property_name=id_property, record_id=sf_id)
            payload = {PROPERTIES_KEY: properties}
            lost = [change(w.kind, w.property_name, w.message) for w in built.warnings if w.lossy]
            lost += [change(KIND_CLEARED, e.property_name or "?", str(e)) for e in built.nulled]
            notes = pending + [change(w.kind, w.property_name, w.message) for w in built.warnings if not w.lossy]
            if lost:
                payload[WARNINGS_KEY] = lost
            if notes:
                payload[NOTES_KEY] = notes
        return StagedRecord(
            sf_id=sf_id,
            system_modstamp=self._modified(record, sf_id),
            payload=payload,
            content_hash=content_hash({k: v for k, v in payload.items() if k not in (WARNINGS_KEY, NOTES_KEY)},
                                      [self.ctx.mapping_version]),
            is_deleted=bool(obj.deleted_field and record.get(obj.deleted_field)),
        )
