"""The mapping config ``include/config/sync.yaml``: loaded once, validated strictly, frozen.

Every problem names the file, the line, the YAML path and what is wrong, e.g.
``include/config/sync.yaml:12: objects.Account.properties.Website.type: unknown Notion type 'link'``.
Unknown keys and wrong types are errors, never ignored: a typo must not silently drop a field.
String values may use ``${VAR}`` or ``${VAR:-default}``; the sandbox runner prints the variables
(such as ``NOTION_DB_ACCOUNT``) that its Notion databases need.

An object is read from Salesforce unless it says ``source: external``: then its records come from
another system through ``NotionUpsertOperator`` (airflow/upsert_operator.py), keyed by ``id_field``,
and no Salesforce DAG is built for it.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from sf_notion_sync.notion.constants import PROPERTY_TYPES
from sf_notion_sync.transforms import Transform, TransformError, resolve_transform

CONFIG_ENV = "SF_NOTION_SYNC_CONFIG"
DEFAULT_NOTION_CONNECTION = "notion_default"
NOTION_CONN_TYPE = "notion"
NOTION_POOL = "notion_api"
"""The Airflow pool of every task that calls Notion (declared in include/pools.json)."""
REPO_ROOT = Path(__file__).resolve().parents[2]

DELETE_POLICIES = ("trash", "ignore")
SOURCE_SALESFORCE, SOURCE_EXTERNAL = "salesforce", "external"
SOURCES = (SOURCE_SALESFORCE, SOURCE_EXTERNAL)
SCHEDULE_PRESETS = frozenset(
    {"@once", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly", "@annually"}
)
ALWAYS_FIELDS = ("Id", "SystemModstamp")

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SF_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_SF_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")
_NOTION_ID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*,/?#LW-]+$")
_CONN_ID = re.compile(r"^[A-Za-z0-9_.-]{1,250}$")


class ConfigError(ValueError):
    """The config cannot be used; ``problems`` lists each one as ``file:line: path: problem``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "invalid sync config:\n  " + "\n  ".join(problems) if len(problems) > 1 else problems[0]
        )


# --- the frozen result -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchSize:
    min: int
    max: int


@dataclass(frozen=True)
class Schedules:
    full: str | None
    incremental: str | None


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff per record: base * factor^(attempt-1), capped, with +/- jitter share."""

    base_seconds: float
    factor: float
    cap_seconds: float
    max_attempts: int
    jitter: float

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        raw = min(self.cap_seconds, self.base_seconds * self.factor ** max(0, attempt - 1))
        return max(0.0, raw * (1 + self.jitter * (2 * rand() - 1)))


@dataclass(frozen=True)
class AlertThresholds:
    record_failures: int
    rate_limited_share: float
    run_failure_pct: float


@dataclass(frozen=True)
class AlertSettings:
    emails: tuple[str, ...]
    webhook_conn_id: str | None
    thresholds: AlertThresholds


@dataclass(frozen=True)
class Extraction:
    bulk_threshold: int


@dataclass(frozen=True)
class UsageSettings:
    """API usage rollups (table api_usage): hourly buckets older than this are purged."""

    retention_days: int


@dataclass(frozen=True)
class ExactlyOnce:
    """How a page create with an unknown outcome is resolved (sync/intents.py).

    Notion does not promise that a data-source query sees a page the moment it is created, so a
    lookup by Salesforce Id is trusted only ``settle_seconds`` after the create was sent; a create
    still unknown after ``max_rounds`` re-creates is left to the next run or the retry DAG."""

    settle_seconds: float
    max_rounds: int


@dataclass(frozen=True)
class WorkspaceBudget:
    """The Notion workspace's own limit when it is known: ``requests`` per ``window_s`` for all of its
    connections together (Notion does not publish it; unset, it is learned from workspace 429s)."""

    requests: int
    window_s: float = 60.0


@dataclass(frozen=True)
class NotionConnections:
    """Which Airflow ``notion`` connections write an object's pages: each is an integration with its own
    token and budget, sharing the workspace's limit; a run spreads its requests over them (notion/routes.py)."""

    connections: tuple[str, ...] = (DEFAULT_NOTION_CONNECTION,)
    workspace_budget: WorkspaceBudget | None = None


@dataclass(frozen=True)
class Defaults:
    batch_size: BatchSize
    max_map_length: int
    schedules: Schedules
    retry: RetryPolicy
    alerts: AlertSettings
    extraction: Extraction
    usage: UsageSettings
    exactly_once: ExactlyOnce = ExactlyOnce(30.0, 3)
    notion: NotionConnections = NotionConnections()


@dataclass(frozen=True)
class PropertyMapping:
    """One Notion property filled from one record field, or computed from the record by ``transform``
    (which may read the ``inputs`` fields too: they are extracted with the mapped ones)."""

    name: str
    field: str
    type: str
    related_object: str | None = None
    transform: Transform | None = None
    inputs: tuple[str, ...] = ()


@dataclass(frozen=True)
class ObjectConfig:
    name: str
    enabled: bool
    database_id: str
    salesforce_id_property: str
    title_property: str
    properties: tuple[PropertyMapping, ...]
    where: str | None
    batch_size: BatchSize
    schedules: Schedules
    delete_policy: str
    extraction: Extraction
    alerts: AlertSettings
    source: str = SOURCE_SALESFORCE
    id_field: str = "Id"
    """The record key holding the id the record map is keyed by (``Id`` in Salesforce)."""
    modified_field: str | None = "SystemModstamp"
    """The record key of its last-change time: a record that failed validation is re-sent once it moves."""
    deleted_field: str | None = "IsDeleted"
    realtime: bool = False
    """Change Data Capture events (Pub/Sub API) drive the fast lane for this object (sf_notion_realtime)."""
    notion: NotionConnections = NotionConnections()

    @property
    def fields(self) -> tuple[str, ...]:
        """Salesforce fields to extract: Id, SystemModstamp and every mapped or transform input field."""
        mapped = [f for p in self.properties for f in (p.field, *p.inputs)]
        return tuple(dict.fromkeys([*ALWAYS_FIELDS, *mapped]))

    @property
    def mapping_version(self) -> str:
        return mapping_version(self)


@dataclass(frozen=True)
class RetryDagConfig:
    schedule: str | None


@dataclass(frozen=True)
class SyncConfig:
    path: Path
    defaults: Defaults
    retry: RetryDagConfig
    objects: Mapping[str, ObjectConfig] = field(default_factory=lambda: MappingProxyType({}))

    def enabled_objects(self) -> list[ObjectConfig]:
        return [o for o in self.objects.values() if o.enabled]

    def salesforce_objects(self) -> list[ObjectConfig]:
        """The enabled objects read from Salesforce: each gets the full-sync, incremental, retry and
        fast-lane DAGs; an external one is written only by NotionUpsertOperator."""
        return [o for o in self.enabled_objects() if o.source == SOURCE_SALESFORCE]


def mapping_version(obj: ObjectConfig) -> str:
    """A stable hash of what decides page content: a change forces every record to be written again.

    A transform adds its reference, ``__version__`` and inputs; an external object its id field. What
    is absent adds nothing, so configs without these keep the version they had."""
    content: dict[str, Any] = {
        "database_id": obj.database_id.replace("-", "").lower(),
        "salesforce_id_property": obj.salesforce_id_property,
        "properties": sorted(
            [p.name, p.field, p.type, p.related_object,
             *([p.transform.ref, p.transform.version, list(p.inputs)] if p.transform else [])]
            for p in obj.properties
        ),
    }
    if obj.source != SOURCE_SALESFORCE:
        content["source"] = [obj.source, obj.id_field]
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


# --- loading ---------------------------------------------------------------------------------------


def notion_connection_problems(config: SyncConfig, conn_type: Callable[[str], str | None],
                               only: str | None = None) -> list[str]:
    """What is wrong with the enabled objects' (or object ``only``'s) ``notion.connections`` in Airflow: a
    connection that does not exist or is not of type ``notion``. ``conn_type(conn_id)``: the connection's
    type, None if none."""
    problems, types = [], {}
    for obj in config.enabled_objects():
        if only is not None and obj.name != only:
            continue
        for conn_id in obj.notion.connections:
            kind = types[conn_id] if conn_id in types else types.setdefault(conn_id, conn_type(conn_id))
            where = f"{config.path}: objects.{obj.name}.notion.connections: "
            if kind is None:
                problems.append(where + f"{conn_id!r} is not an Airflow connection")
            elif kind != NOTION_CONN_TYPE:
                problems.append(where + f"{conn_id!r} is a connection of type {kind!r}, not {NOTION_CONN_TYPE!r}")
    return problems


def config_path() -> Path:
    """``$SF_NOTION_SYNC_CONFIG``, else the repository's include/config, else $AIRFLOW_HOME's."""
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV]).expanduser()
    bundled = REPO_ROOT / "include" / "config" / "sync.yaml"
    if bundled.is_file():
        return bundled
    home = Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow").expanduser()
    return home / "include" / "config" / "sync.yaml"


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> SyncConfig:
    """Read, substitute ``${VAR}``s from ``env`` (default os.environ), validate; raises ConfigError."""
    path = Path(path) if path is not None else config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the sync config: {exc.strerror or exc}"]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{where}: malformed YAML: {problem}"]) from None
    validator = _Validator(path, node, os.environ if env is None else env)
    config = validator.config(data)
    if validator.problems:
        raise ConfigError(validator.problems)
    return config  # type: ignore[return-value]


def pool_slots(name: str, pools_file: str | Path | None = None) -> int:
    """Slots of an Airflow pool as declared in include/pools.json (``airflow pools import`` format)."""
    pools_file = Path(pools_file) if pools_file is not None else config_path().parent.parent / "pools.json"
    try:
        pools = json.loads(pools_file.read_text(encoding="utf-8"))
        return int(pools[name]["slots"])
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            [f"{pools_file}: {name}.slots: cannot read the pool's slots ({type(exc).__name__}: {exc})"]
        ) from None


# --- validation ------------------------------------------------------------------------------------

_MISSING = object()


class _Validator:
    """Walks the parsed YAML next to its node tree (for line numbers), collecting every problem."""

    def __init__(self, path: Path, node: yaml.Node | None, env: Mapping[str, str]) -> None:
        self.path = path
        self.env = env
        self.problems: list[str] = []
        self.lines: dict[tuple[str, ...], int] = {}
        if node is not None:
            self._index(node, ())

    def _index(self, node: yaml.Node, at: tuple[str, ...]) -> None:
        self.lines[at] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                key = str(key_node.value)
                if key in seen:
                    self.problems.append(
                        self._where((*at, key), key_node.start_mark.line + 1) + "duplicate key"
                    )
                seen.add(key)
                self._index(value_node, (*at, key))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._index(item, (*at, str(i)))

    def _where(self, at: tuple[str, ...], line: int | None = None) -> str:
        if line is None:
            probe = at
            while probe and probe not in self.lines:
                probe = probe[:-1]
            line = self.lines.get(probe)
        location = f"{self.path}:{line}" if line else str(self.path)
        return f"{location}: {'.'.join(at) or '<top level>'}: "

    def error(self, at: tuple[str, ...], problem: str) -> None:
        self.problems.append(self._where(at) + problem)

    # generic checks

    def mapping(
        self, value: Any, at: tuple[str, ...], allowed: set[str], required: set[str] = frozenset()
    ) -> dict:
        if value is None:
            value = {}
        if not isinstance(value, dict):
            self.error(at, f"expected a mapping, got {_kind(value)}")
            return {}
        for key in value:
            if key not in allowed:
                self.error((*at, str(key)), f"unknown key (allowed: {', '.join(sorted(allowed))})")
        for key in sorted(required - value.keys()):
            self.error((*at, key), "required key is missing")
        return value

    def value(
        self,
        data: dict,
        at: tuple[str, ...],
        key: str,
        kind: type | tuple[type, ...],
        default: Any = _MISSING,
    ) -> Any:
        path = (*at, key)
        raw = data.get(key, _MISSING)
        if raw is _MISSING or raw is None:  # a missing required key is reported by mapping()
            return None if default is _MISSING else default
        raw = self.substitute(raw, path)
        if kind is float and isinstance(raw, int) and not isinstance(raw, bool):
            raw = float(raw)
        if isinstance(raw, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            self.error(path, f"expected {_names(kind)}, got a boolean")
            return default if default is not _MISSING else None
        if not isinstance(raw, kind):
            self.error(path, f"expected {_names(kind)}, got {_kind(raw)} {raw!r}")
            return default if default is not _MISSING else None
        return raw

    def substitute(self, raw: Any, at: tuple[str, ...]) -> Any:
        if not isinstance(raw, str) or "${" not in raw:
            return raw

        def replace(match: re.Match[str]) -> str:
            name, fallback = match.group(1), match.group(2)
            if name in self.env:
                return self.env[name]
            if fallback is not None:
                return fallback
            self.error(
                at, f"environment variable {name} is not set (write ${{{name}:-default}} for a fallback)"
            )
            return ""

        return _ENV_REF.sub(replace, raw)

    def number(
        self,
        data: dict,
        at: tuple[str, ...],
        key: str,
        kind: type,
        default: Any,
        lo: float,
        hi: float | None = None,
    ) -> Any:
        """A number within bounds; on any problem the (already valid) default stands in."""
        value = self.value(data, at, key, kind, default)
        if value is None or data.get(key) is None:
            return default
        if value < lo or (hi is not None and value > hi):
            bound = f"between {lo:g} and {hi:g}" if hi is not None else f"at least {lo:g}"
            self.error((*at, key), f"must be {bound}, got {value!r}")
            return default
        return value

    def schedule(self, data: dict, at: tuple[str, ...], key: str, default: str | None) -> str | None:
        if key in data and data[key] is None:
            return None
        if key not in data:
            return default  # inherited defaults were checked where they were written
        value = self.value(data, at, key, str, default)
        if value is None:
            return None
        value = value.strip()
        fields = value.split()
        if value.startswith("@"):
            if value not in SCHEDULE_PRESETS:
                self.error(
                    (*at, key),
                    f"unknown schedule preset {value!r} (use one of {', '.join(sorted(SCHEDULE_PRESETS))})",
                )
        elif len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
            self.error(
                (*at, key),
                f"expected a 5-field cron expression, a preset such as @hourly, or null; got {value!r}",
            )
        return value

    # sections

    def config(self, data: Any) -> SyncConfig | None:
        top = self.mapping(data, (), {"defaults", "retry", "objects"}, {"objects"})
        defaults = self.defaults(top.get("defaults"), ("defaults",))
        retry = self.mapping(top.get("retry"), ("retry",), {"schedule"})
        objects_raw = top.get("objects") or {}
        if not isinstance(objects_raw, dict):
            self.error(
                ("objects",),
                f"expected a mapping of Salesforce object name to its sync, got {_kind(objects_raw)}",
            )
            objects_raw = {}
        names = set(objects_raw)
        objects = {}
        for name, raw in objects_raw.items():
            at = ("objects", str(name))
            if not _SF_NAME.match(str(name)):
                self.error(at, "not a Salesforce object API name")
            obj = self.object(str(name), raw, at, defaults, names)
            if obj is not None:
                objects[str(name)] = obj
        return SyncConfig(
            path=self.path,
            defaults=defaults,
            retry=RetryDagConfig(schedule=self.schedule(retry, ("retry",), "schedule", "@hourly")),
            objects=MappingProxyType(objects),
        )

    def defaults(self, raw: Any, at: tuple[str, ...]) -> Defaults:
        data = self.mapping(
            raw, at,
            {"batch_size", "max_map_length", "schedules", "retry", "alerts", "extraction", "usage", "exactly_once",
             "notion"},
        )
        usage = self.mapping(data.get("usage"), (*at, "usage"), {"retention_days"})
        eat = (*at, "exactly_once")
        once = self.mapping(data.get("exactly_once"), eat, {"settle_seconds", "max_rounds"})
        retry = self.mapping(
            data.get("retry"),
            (*at, "retry"),
            {"base_seconds", "factor", "cap_seconds", "max_attempts", "jitter"},
        )
        rat = (*at, "retry")
        return Defaults(
            batch_size=self.batch_size(data.get("batch_size"), (*at, "batch_size"), BatchSize(50, 2_000)),
            max_map_length=self.number(data, at, "max_map_length", int, 1024, 1),
            schedules=self.schedules(
                data.get("schedules"), (*at, "schedules"), Schedules(None, "*/15 * * * *")
            ),
            retry=RetryPolicy(
                base_seconds=self.number(retry, rat, "base_seconds", float, 60.0, 0),
                factor=self.number(retry, rat, "factor", float, 2.0, 1),
                cap_seconds=self.number(retry, rat, "cap_seconds", float, 6 * 3600.0, 0),
                max_attempts=self.number(retry, rat, "max_attempts", int, 8, 1),
                jitter=self.number(retry, rat, "jitter", float, 0.1, 0, 1),
            ),
            alerts=self.alerts(data.get("alerts"), (*at, "alerts")),
            extraction=self.extraction(data.get("extraction"), (*at, "extraction"), Extraction(10_000)),
            usage=UsageSettings(retention_days=self.number(usage, (*at, "usage"), "retention_days", int, 90, 1)),
            exactly_once=ExactlyOnce(
                settle_seconds=self.number(once, eat, "settle_seconds", float, 30.0, 0),
                max_rounds=self.number(once, eat, "max_rounds", int, 3, 1),
            ),
            notion=self.notion(data.get("notion"), (*at, "notion"), NotionConnections()),
        )

    def notion(self, raw: Any, at: tuple[str, ...], default: NotionConnections) -> NotionConnections:
        """``connections`` (Airflow connection ids, each once) and ``workspace_budget``; what is not
        given comes from ``default`` (an object's from the defaults)."""
        data = self.mapping(raw, at, {"connections", "workspace_budget"})
        connections = default.connections
        if data.get("connections") is not None:
            connections = self.connections(data["connections"], (*at, "connections")) or default.connections
        budget = default.workspace_budget
        if data.get("workspace_budget") is not None:
            bat = (*at, "workspace_budget")
            given = self.mapping(data["workspace_budget"], bat, {"requests", "window_s"}, {"requests"})
            if "requests" in given:
                budget = WorkspaceBudget(self.number(given, bat, "requests", int, 1, 1),
                                         self.number(given, bat, "window_s", float, 60.0, 1))
        return NotionConnections(connections=connections, workspace_budget=budget)

    def connections(self, raw: Any, at: tuple[str, ...]) -> tuple[str, ...]:
        if not isinstance(raw, list) or not raw:
            self.error(at, f"expected a list of Airflow notion connection ids, got {_kind(raw)} {raw!r}")
            return ()
        seen: list[str] = []
        for i, item in enumerate(raw):
            conn_id = self.substitute(item, (*at, str(i)))
            if not isinstance(conn_id, str) or not _CONN_ID.match(conn_id):
                self.error((*at, str(i)), f"expected an Airflow connection id (letters, digits, _ . -), got {conn_id!r}")
            elif conn_id in seen:
                self.error((*at, str(i)), f"connection {conn_id!r} is listed twice")
            else:
                seen.append(conn_id)
        return tuple(seen) if len(seen) == len(raw) else ()

    def batch_size(self, raw: Any, at: tuple[str, ...], default: BatchSize) -> BatchSize:
        data = self.mapping(raw, at, {"min", "max"})
        before = len(self.problems)
        low = self.number(data, at, "min", int, default.min, 1)
        high = self.number(data, at, "max", int, default.max, 1)
        if len(self.problems) > before:
            return default
        if low > high:
            self.error(at, f"min ({low}) is greater than max ({high})")
            return default
        return BatchSize(low, high)

    def schedules(self, raw: Any, at: tuple[str, ...], default: Schedules) -> Schedules:
        data = self.mapping(raw, at, {"full", "incremental"})
        return Schedules(
            full=self.schedule(data, at, "full", default.full),
            incremental=self.schedule(data, at, "incremental", default.incremental),
        )

    def extraction(self, raw: Any, at: tuple[str, ...], default: Extraction) -> Extraction:
        data = self.mapping(raw, at, {"bulk_threshold"})
        return Extraction(
            bulk_threshold=self.number(data, at, "bulk_threshold", int, default.bulk_threshold, 0)
        )

    def emails(self, data: dict, at: tuple[str, ...]) -> tuple[str, ...]:
        value = self.value(data, at, "emails", list, [])
        result = []
        for i, item in enumerate(value or []):
            item = self.substitute(item, (*at, "emails", str(i)))
            if not isinstance(item, str) or "@" not in item:
                self.error((*at, "emails", str(i)), f"expected an email address, got {item!r}")
            else:
                result.append(item)
        return tuple(result)

    def alerts(self, raw: Any, at: tuple[str, ...]) -> AlertSettings:
        data = self.mapping(raw, at, {"emails", "webhook_conn_id", "thresholds"})
        tat = (*at, "thresholds")
        thresholds = self.mapping(
            data.get("thresholds"), tat, {"record_failures", "rate_limited_share", "run_failure_pct"}
        )
        return AlertSettings(
            emails=self.emails(data, at),
            webhook_conn_id=self.value(data, at, "webhook_conn_id", str, None),
            thresholds=AlertThresholds(
                record_failures=self.number(thresholds, tat, "record_failures", int, 3, 1),
                rate_limited_share=self.number(thresholds, tat, "rate_limited_share", float, 0.05, 0, 1),
                run_failure_pct=self.number(thresholds, tat, "run_failure_pct", float, 1.0, 0, 100),
            ),
        )

    def object(
        self, name: str, raw: Any, at: tuple[str, ...], defaults: Defaults, names: set[str]
    ) -> ObjectConfig | None:
        source = raw.get("source", SOURCE_SALESFORCE) if isinstance(raw, dict) else SOURCE_SALESFORCE
        if source not in SOURCES:
            self.error((*at, "source"), f"expected one of {', '.join(SOURCES)}, got {source!r}")
            source = SOURCE_SALESFORCE
        external = source == SOURCE_EXTERNAL
        common = {"enabled", "source", "database_id", "title", "properties", "batch_size", "alerts", "notion"}
        if external:
            allowed, id_key = common | {"id_property", "id_field", "modified_field"}, "id_property"
        else:
            allowed = common | {"salesforce_id_property", "where", "schedules", "delete_policy", "extraction",
                                "realtime"}
            id_key = "salesforce_id_property"
        data = self.mapping(raw, at, allowed, {"database_id", id_key, "properties"})
        database_id = self.value(data, at, "database_id", str, "") or ""
        if database_id and not _NOTION_ID.match(database_id.strip()):
            self.error(
                (*at, "database_id"),
                f"expected a Notion database id (32 hex digits, dashes optional), got {database_id!r}",
            )
        id_property = self.value(data, at, id_key, str, "") or ""
        properties = self.properties(data.get("properties"), (*at, "properties"), names, external)
        if id_property in {p.name for p in properties}:
            self.error((*at, id_key), f"{id_property!r} is also a mapped property; the sync fills it with the record id")
        titles = [p.name for p in properties if p.type == "title"]
        title = self.value(data, at, "title", str, None)
        if "properties" in data and len(titles) != 1:
            self.error((*at, "properties"), f"exactly one property must have type title, found {len(titles)}")
        elif title is not None and titles and title != titles[0]:
            self.error((*at, "title"), f"{title!r} is not the title property (that is {titles[0]!r})")
        delete_policy = self.value(data, at, "delete_policy", str, "trash")
        if delete_policy not in DELETE_POLICIES:
            self.error(
                (*at, "delete_policy"), f"expected one of {', '.join(DELETE_POLICIES)}, got {delete_policy!r}"
            )
        where = self.value(data, at, "where", str, None)
        object_alerts = self.mapping(data.get("alerts"), (*at, "alerts"), {"emails"})
        extra_emails = self.emails(object_alerts, (*at, "alerts"))
        keys = {"source": source}
        if not external:
            keys["realtime"] = self.value(data, at, "realtime", bool, False)
        if external:  # no deletes: a record the source stops sending keeps its page
            keys.update(id_field=self.value(data, at, "id_field", str, "id"),
                        modified_field=self.value(data, at, "modified_field", str, None), deleted_field=None)
        return ObjectConfig(
            name=name,
            enabled=self.value(data, at, "enabled", bool, True),
            database_id=database_id.strip(),
            salesforce_id_property=id_property,
            title_property=titles[0] if titles else "",
            properties=properties,
            where=where.strip() or None if where else None,
            batch_size=self.batch_size(data.get("batch_size"), (*at, "batch_size"), defaults.batch_size),
            schedules=self.schedules(data.get("schedules"), (*at, "schedules"), defaults.schedules),
            delete_policy=delete_policy,
            extraction=self.extraction(data.get("extraction"), (*at, "extraction"), defaults.extraction),
            alerts=AlertSettings(
                emails=tuple(dict.fromkeys([*defaults.alerts.emails, *extra_emails])),
                webhook_conn_id=defaults.alerts.webhook_conn_id,
                thresholds=defaults.alerts.thresholds,
            ),
            notion=self.notion(data.get("notion"), (*at, "notion"), defaults.notion),
            **keys,
        )

    def properties(
        self, raw: Any, at: tuple[str, ...], names: set[str], external: bool = False
    ) -> tuple[PropertyMapping, ...]:
        """Salesforce field names are checked as such; an external record's keys may be any string."""
        if raw is not None and not isinstance(raw, dict):
            self.error(at, f"expected a mapping of Notion property name to {{field, type}}, got {_kind(raw)}")
            return ()
        field_name = re.compile(r"^\S(.*\S)?$") if external else _SF_FIELD
        result = []
        for prop_name, spec in (raw or {}).items():
            pat = (*at, str(prop_name))
            data = self.mapping(spec, pat, {"field", "type", "related_object", "transform", "inputs"},
                                {"field", "type"})
            sf_field = self.value(data, pat, "field", str, None)
            prop_type = self.value(data, pat, "type", str, None)
            related = self.value(data, pat, "related_object", str, None)
            inputs = self.value(data, pat, "inputs", list, [])
            if sf_field is not None and not field_name.match(sf_field):
                self.error((*pat, "field"), f"not a {'field' if external else 'Salesforce field'} name: {sf_field!r}")
            for i, name in enumerate(inputs or []):
                if not isinstance(name, str) or not field_name.match(name):
                    self.error((*pat, "inputs", str(i)), f"not a field name: {name!r}")
            if inputs and "transform" not in data:
                self.error((*pat, "inputs"), "only a property with a transform takes inputs (the fields it reads)")
            if prop_type is not None and prop_type not in PROPERTY_TYPES:
                self.error(
                    (*pat, "type"),
                    f"unknown Notion type {prop_type!r} (one of {', '.join(sorted(PROPERTY_TYPES))})",
                )
            if prop_type == "relation" and related is None and "related_object" not in data:
                self.error(
                    (*pat, "related_object"),
                    "a relation needs related_object: the configured object it points to",
                )
            elif prop_type == "relation" and related not in names:
                self.error((*pat, "related_object"), f"{related!r} is not an object in this config")
            elif prop_type != "relation" and related is not None:
                self.error((*pat, "related_object"), "only a relation property takes related_object")
            transform = self.transform(data, pat)
            if sf_field and prop_type:
                result.append(PropertyMapping(str(prop_name), sf_field, prop_type, related, transform,
                                              tuple(i for i in inputs or [] if isinstance(i, str))))
        return tuple(result)

    def transform(self, data: dict, at: tuple[str, ...]) -> Transform | None:
        """Imported now, so that a missing module or function fails the load, not a run."""
        ref = self.value(data, at, "transform", str, None)
        if ref is None:
            return None
        try:
            return resolve_transform(ref.strip())
        except TransformError as exc:
            self.error((*at, "transform"), str(exc))
            return None


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), f"a {type(value).__name__}"
    )


def _names(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    words = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "a boolean",
        list: "a list",
        dict: "a mapping",
    }
    return " or ".join(words.get(k, k.__name__) for k in kinds)
