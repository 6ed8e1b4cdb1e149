"""preflight: check the mapping against Salesforce's describe and the Notion data source, up front.

Every problem is collected and reported in one error, so a misconfigured object is fixed in one go
rather than one failed run per typo. The data source id it resolves is returned for later tasks.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from sf_notion_sync.notion.errors import NotionApiError, SchemaMismatchError
from sf_notion_sync.notion.schema import check_schema, resolve_data_source_id
from sf_notion_sync.salesforce.soql import COMPOUND_TYPES, UnknownFieldError, describe_object
from sf_notion_sync.state.run_metrics import PreflightSeen

from .context import SyncContext

log = logging.getLogger(__name__)


class PreflightError(ValueError):
    """The mapping does not match Salesforce or Notion; ``problems`` lists each mismatch."""

    def __init__(self, object_name: str, problems: list[str]) -> None:
        self.problems = problems
        listed = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"preflight of {object_name} found {len(problems)} problem(s):\n{listed}")


def preflight(ctx: SyncContext) -> dict[str, Any]:
    """Raise PreflightError listing every problem, else return ``{"object", "data_source_id", ...}``.

    With several Notion connections, each is checked alone first: one that cannot see the database or
    sees another schema is left out of the run with a warning (``notion_connections`` lists the others,
    ``connection_problems`` why), and when none can, that is the error, naming each."""
    obj = ctx.obj
    checked = check_connections(ctx) if ctx.notion_connection_ids else None
    problems = salesforce_problems(ctx)
    data_source_id = None
    properties: dict[str, Any] = {}
    try:
        data_source_id = ctx.data_source()
        properties = ctx.notion_client().retrieve_data_source(data_source_id).data.get("properties") or {}
        problems += notion_problems(ctx, properties)
    except SchemaMismatchError as exc:
        problems += exc.problems
    except NotionApiError as exc:  # a missing database or no access is one more problem to list
        problems.append(f"Notion database {obj.database_id}: {exc}")
    # what was seen, for the dashboard's configuration page (mapping beside the data source's schema)
    ctx.store.record_preflight(PreflightSeen(obj.name, data_source_id, {n: (p or {}).get("type") for n, p in
                                                                        properties.items()}, problems, ctx.clock()))
    if problems:
        raise PreflightError(obj.name, problems)
    result = {"object": obj.name, "data_source_id": data_source_id, "mapping_version": ctx.mapping_version,
              "fields": len(obj.fields), "properties": len(obj.properties) + 1}
    if checked is not None:
        result.update(notion_connections=checked[0], connection_problems=checked[1])
    return result


def check_connections(ctx: SyncContext) -> tuple[list[str], list[str]]:
    """Which of the object's Notion connections can write its database (shared with that integration, the
    mapped schema): those, and a line per one that cannot. The context then writes through those alone;
    none: PreflightError listing each connection's problem."""
    obj, usable, problems = ctx.obj, [], []
    wanted = {p.name: p.type for p in obj.properties} | {obj.salesforce_id_property: "rich_text"}
    for name in ctx.notion_connection_ids:
        client = None
        try:
            client = ctx.connection_client([name])
            source_id = resolve_data_source_id(client, obj.database_id)
            found = check_schema(client.retrieve_data_source(source_id).data.get("properties") or {}, wanted,
                                 obj.salesforce_id_property)
            problem = f"sees another schema: {'; '.join(found)}" if found else None
        except SchemaMismatchError as exc:
            problem = "; ".join(exc.problems)
        except NotionApiError as exc:
            problem = (f"cannot see database {obj.database_id}: share it with this integration in Notion (the "
                       f"database's ••• menu > Connections) ({exc})" if exc.status == 404 else str(exc))
        finally:
            if client is not None:
                client.close()
        if problem:
            problems.append(f"Notion connection {name!r}: {problem}")
            log.warning("%s: %s; this run writes through the others", obj.name, problems[-1])
        else:
            usable.append(name)
    if not usable:
        raise PreflightError(obj.name, problems)
    if len(usable) < len(ctx.notion_connection_ids):
        ctx.notion_connection_ids = tuple(usable)
        ctx.notion = partial(ctx.connection_client, tuple(usable))
    return usable, problems


def salesforce_problems(ctx: SyncContext) -> list[str]:
    obj = ctx.obj
    schema = describe_object(ctx.sf(), obj.name)
    problems = []
    for prop in obj.properties:
        where = f"objects.{obj.name}.properties.{prop.name}.field"
        try:
            name = schema.canonical(prop.field, where)
        except UnknownFieldError as exc:
            problems.append(str(exc))
            continue
        if schema.field_types[name] in COMPOUND_TYPES:
            problems.append(f"{obj.name}.{name} (at {where}) is a compound field; map its component fields")
    return problems


def notion_problems(ctx: SyncContext, properties: dict[str, Any]) -> list[str]:
    """Missing properties and wrong types on the data source; the Id property must be rich_text
    because the sync writes it as such and looks pages up by it."""
    obj = ctx.obj
    wanted = {p.name: p.type for p in obj.properties} | {obj.salesforce_id_property: "rich_text"}
    return check_schema(properties, wanted, obj.salesforce_id_property)
