"""rebuild_record_map: recover the record map from the pages already in the Notion data source.

Used when the map is empty (a new state database, a lost one) but the database holds pages: without
it every record would be created again. Pages are listed with created_time windows, so more than
Notion's 10,000-result query cap are found; a minute with more than that (a CSV import) is split by
prefixes of the Salesforce Id property. Each page's properties are read back into the shape the
sync writes, so the content hash matches a record that has not changed since and the next run skips
it instead of rewriting every page. Pages are listed with ``filter_properties`` naming exactly the
mapped properties (from Notion-Version 2026-12-01 a query returns only the title without it), and a
relation holding more than the 25 references a page object lists is read through the page-property
endpoint, so it hashes like the record and is not rewritten needlessly.
"""

from __future__ import annotations

import logging
from typing import Any

from sf_notion_sync.notion.properties import content_hash
from sf_notion_sync.state.rows import RecordMapEntry

from .context import SyncContext
from .iterutil import chunked
from .mapping import PROPERTIES_KEY

log = logging.getLogger(__name__)

CHUNK = 500


def rebuild_record_map(ctx: SyncContext, *, force: bool = False) -> dict[str, Any]:
    """Map Salesforce Id -> page for every page of the data source; a no-op while the map has entries
    (unless ``force``). With two pages for one record the oldest wins; the others are reported."""
    store, obj = ctx.store, ctx.obj
    existing = store.count_record_map(obj.name, include_trashed=True)
    if existing and not force:
        return {"rebuilt": 0, "skipped": f"record map already has {existing} entries"}
    types = {p.name: p.type for p in obj.properties} | {obj.salesforce_id_property: "rich_text"}
    id_property = (obj.salesforce_id_property, types[obj.salesforce_id_property])
    property_ids = dict(zip(types, ctx.property_ids(list(types)), strict=True))
    client = ctx.notion_client()
    pages = client.query_windowed(ctx.data_source(), split_property=id_property,
                                  filter_properties=list(property_ids.values()))
    seen: set[str] = set()
    counts = {"pages": 0, "rebuilt": 0, "without_sf_id": 0, "duplicates": 0}

    def entries():
        for page in pages:
            counts["pages"] += 1
            props = page.get("properties") or {}
            sf_id = _plain_text(props.get(obj.salesforce_id_property))
            if not sf_id:
                counts["without_sf_id"] += 1
                continue
            if sf_id in seen:
                counts["duplicates"] += 1
                log.warning("%s %s: page %s duplicates an older page; left as is", obj.name, sf_id, page["id"])
                continue
            seen.add(sf_id)
            for name, kind in types.items():
                if kind == "relation" and (props.get(name) or {}).get("has_more"):  # > 25 references
                    ids = client.relation_ids(page["id"], property_ids[name])
                    props[name] = {**props[name], "relation": [{"id": i} for i in ids]}
            written = {name: _write_shape(kind, props.get(name)) for name, kind in types.items()}
            yield RecordMapEntry(
                object_name=obj.name,
                sf_id=sf_id,
                notion_page_id=page["id"],
                content_hash=content_hash({PROPERTIES_KEY: written}, [ctx.mapping_version]),
                system_modstamp=None,
                synced_at=ctx.clock(),
                mapping_version=ctx.mapping_version,
            )

    if not ctx.dry_run:
        for chunk in chunked(entries(), CHUNK):
            counts["rebuilt"] += store.upsert_record_map(chunk)
    else:
        counts["rebuilt"] = sum(1 for _ in entries())
    log.info("%s: record map rebuilt from Notion: %s", obj.name, counts)
    return counts


def _plain_text(prop: dict[str, Any] | None) -> str:
    if not prop:
        return ""
    items = prop.get(prop.get("type") or "rich_text") or []
    return "".join((i.get("text") or {}).get("content") or i.get("plain_text") or "" for i in items).strip()


def _write_shape(kind: str, prop: dict[str, Any] | None) -> dict[str, Any]:
    """A property as read from Notion, in the shape notion.properties builds for writing it."""
    value = (prop or {}).get(kind)
    if kind in ("title", "rich_text"):
        items = [{"type": "text", "text": {"content": (i.get("text") or {}).get("content", "")}} for i in value or []]
        return {kind: items}
    if kind in ("select", "status"):
        return {kind: {"name": value["name"]} if value else None}
    if kind == "multi_select":
        return {kind: [{"name": o["name"]} for o in value or []]}
    if kind == "relation":
        return {kind: [{"id": r["id"]} for r in value or []]}
    if kind == "date":
        return {kind: {"start": value["start"]} if value else None}
    if kind == "checkbox":
        return {kind: bool(value)}
    return {kind: value}
