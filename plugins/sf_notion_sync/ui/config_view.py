"""The configuration page's data: one object's settings from sync.yaml, and its property mapping side by
side with what the last preflight saw of the Notion data source, mismatches marked.

Read-only: sync.yaml stays the one place the configuration is changed (reviewed, versioned), so the
page shows where each value comes from rather than offering to edit it. Alert e-mail addresses are
personal data: the page counts them and shows none.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sf_notion_sync.config import SyncConfig
from sf_notion_sync.notion.schema import ID_PROPERTY_TYPES
from sf_notion_sync.state.store import StateStore

MATCH_OK, MATCH_MISSING, MATCH_TYPE, MATCH_UNMAPPED, MATCH_UNCHECKED = "ok", "missing", "type", "unmapped", "unchecked"


class UnknownObject(KeyError):
    """The page was asked for an object sync.yaml does not configure."""


def object_config(store: StateStore, config: SyncConfig, object_name: str) -> dict[str, Any]:
    obj = config.objects.get(object_name)
    if obj is None:
        raise UnknownObject(f"object {object_name!r} is not in {config.path} "
                            f"(configured: {', '.join(sorted(config.objects)) or 'none'})")
    d = config.defaults
    seen = store.last_preflight(object_name)
    notion = seen.properties if seen else None
    mapping = [_row(p.name, p.field, p.type, notion, p.related_object, p.transform.ref if p.transform else None)
               for p in obj.properties]
    mapping.append(_row(obj.salesforce_id_property, obj.id_field, "rich_text", notion, id_property=True))
    mapped = {m["property"] for m in mapping}
    mapping += [{"property": name, "field": None, "type": None, "notion_type": kind, "match": MATCH_UNMAPPED}
                for name, kind in sorted((notion or {}).items()) if name not in mapped]
    return {
        "object": obj.name,
        "config_path": str(config.path),
        "enabled": obj.enabled,
        "source": obj.source,
        "database_id": obj.database_id,
        "where": obj.where,
        "realtime": obj.realtime,
        "schedules": asdict(obj.schedules),
        "retry_schedule": config.retry.schedule,
        "batch_size": asdict(obj.batch_size),
        "max_map_length": d.max_map_length,
        "delete_policy": obj.delete_policy,
        "extraction": asdict(obj.extraction),
        "retry": asdict(d.retry),
        "exactly_once": asdict(d.exactly_once),
        "alerts": {"emails": len(obj.alerts.emails), "webhook_conn_id": obj.alerts.webhook_conn_id,
                   "thresholds": asdict(obj.alerts.thresholds)},
        "mapping_version": obj.mapping_version,
        "mapping": mapping,
        "mismatches": sum(m["match"] in (MATCH_MISSING, MATCH_TYPE) for m in mapping),
        "preflight": None if seen is None else {"checked_at": seen.checked_at.isoformat(),
                                                "data_source_id": seen.data_source_id, "problems": seen.problems},
    }


def _row(name: str, field: str, ptype: str, notion: dict[str, str] | None, related: str | None = None,
         transform: str | None = None, *, id_property: bool = False) -> dict[str, Any]:
    actual = None if notion is None else notion.get(name)
    allowed = ID_PROPERTY_TYPES if id_property else (ptype,)
    if notion is None:
        match = MATCH_UNCHECKED
    else:
        match = MATCH_MISSING if actual is None else MATCH_OK if actual in allowed else MATCH_TYPE
    return {"property": name, "field": field, "type": ptype, "related_object": related, "transform": transform,
            "id_property": id_property, "notion_type": actual, "match": match}
