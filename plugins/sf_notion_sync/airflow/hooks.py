"""Airflow hooks: the Notion connection (token, base URL, version, budget), the sync state database and
the Salesforce client (a session that logs in again on expiry).

The hooks own connections and build the I/O objects; operators stay thin and the engine never sees
an Airflow object. The token goes from the connection straight into the client: it is never
logged, returned in XCom, or put into an error message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook

from sf_notion_sync.notion import constants

LIMITER_BACKENDS = ("sql", "redis", "local")
WORKSPACE_NAME_MAX = 64
"""Keeps the workspace's limiter key within rate_limit_state.key."""
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NotionSettings:
    """What a Notion connection says, minus nothing: keep it out of logs (repr hides the token)."""

    token: str
    base_url: str
    notion_version: str
    requests: int
    window_s: float
    limiter_backend: str
    redis_conn_id: str | None
    fast_lane_cap: float = constants.FAST_LANE_CAP
    burst: int | None = None
    """Only from the deprecated ``budget_burst``; None: the limiter's default."""
    workspace: str | None = None
    """A name shared by the connections of one Notion workspace: a workspace 429 pauses all of them."""

    def __repr__(self) -> str:
        return (f"NotionSettings(base_url={self.base_url!r}, notion_version={self.notion_version!r}, "
                f"requests={self.requests} per {self.window_s:g}s, limiter_backend={self.limiter_backend!r}, "
                f"fast_lane_cap={self.fast_lane_cap:g}, workspace={self.workspace!r})")

    @property
    def workspace_key(self) -> str | None:
        """The limiter's key for the workspace (None: the token's own, shared with no other connection)."""
        return f"notion-workspace:{self.workspace}" if self.workspace else None


def settings_from_connection(conn: Any) -> NotionSettings:
    """Read and check a `notion` connection; errors name the connection and the field, never the token."""
    conn_id = getattr(conn, "conn_id", "?")
    extras = conn.extra_dejson or {}
    if not conn.password:
        raise ValueError(f"connection {conn_id!r}: the integration token (password field) is empty")

    def number(name: str, default: float, kind: type) -> Any:
        raw = extras.get(name)
        if raw in (None, ""):
            return kind(default)
        try:
            value = kind(raw)
        except (TypeError, ValueError):
            raise ValueError(f"connection {conn_id!r}: extra {name!r} must be a {kind.__name__}, got {raw!r}") from None
        if value <= 0:
            raise ValueError(f"connection {conn_id!r}: extra {name!r} must be > 0, got {raw!r}")
        return value

    backend = str(extras.get("limiter_backend") or "sql")
    if backend not in LIMITER_BACKENDS:
        raise ValueError(f"connection {conn_id!r}: extra 'limiter_backend' must be one of {LIMITER_BACKENDS}, got {backend!r}")
    cap = extras.get("fast_lane_share")
    try:
        cap = constants.FAST_LANE_CAP if cap in (None, "") else float(cap)
    except (TypeError, ValueError):
        cap = -1.0
    if not 0.0 <= cap <= 1.0:
        raise ValueError(f"connection {conn_id!r}: extra 'fast_lane_share' (the fast lane's cap) must be "
                         f"between 0 and 1, got {extras.get('fast_lane_share')!r}")
    window_s = number("budget_window_s", constants.DEFAULT_WINDOW_S, float)
    requests = number("budget_requests", constants.DEFAULT_REQUESTS, int)
    deprecated = [name for name in ("budget_rate", "budget_burst") if extras.get(name) not in (None, "")]
    if deprecated:
        log.warning("connection %r: extras %s are deprecated and will go; set budget_requests per "
                    "budget_window_s (Notion: 180 per 60 s on Free and Plus, 600 on Business and Enterprise)",
                    conn_id, " and ".join(deprecated))
    if "budget_rate" in deprecated and extras.get("budget_requests") in (None, ""):  # the old rate x window
        requests = max(1, round(number("budget_rate", 0, float) * window_s))
    burst = number("budget_burst", 1, int) if "budget_burst" in deprecated else None
    workspace = str(extras.get("workspace") or "").strip() or None
    if workspace and len(workspace) > WORKSPACE_NAME_MAX:
        raise ValueError(f"connection {conn_id!r}: extra 'workspace' must be at most {WORKSPACE_NAME_MAX} "
                         f"characters, got {len(workspace)}")
    version = str(extras.get("notion_version") or constants.NOTION_VERSION)
    if version not in constants.SUPPORTED_VERSIONS:
        raise ValueError(f"connection {conn_id!r}: extra 'notion_version' must be one of "
                         f"{', '.join(constants.SUPPORTED_VERSIONS)}, got {version!r}")
    host = (conn.host or "").strip()
    if host and "://" not in host:
        host = f"https://{host}"
    if host and conn.port:
        host = f"{host}:{conn.port}"
    return NotionSettings(
        token=conn.password,
        base_url=host.rstrip("/") or constants.DEFAULT_BASE_URL,
        notion_version=version,
        requests=requests,
        window_s=window_s,
        limiter_backend=backend,
        redis_conn_id=extras.get("redis_conn_id") or None,
        fast_lane_cap=cap,
        burst=burst,
        workspace=workspace,
    )


class SyncStateHook(BaseHook):
    """The sync state database: connection `sync_state_db` (a SQLAlchemy URL), else SQLite under AIRFLOW_HOME."""

    conn_name_attr = "sync_state_conn_id"
    default_conn_name = "sync_state_db"
    conn_type = "generic"
    hook_name = "Sync state database"

    def __init__(self, sync_state_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.sync_state_conn_id = sync_state_conn_id

    def get_url(self) -> str:
        from sf_notion_sync.state.db import default_state_url, url_from_connection_fields

        try:
            conn = self.get_connection(self.sync_state_conn_id)
        except Exception:  # not defined anywhere: the documented SQLite default applies
            return default_state_url()
        return url_from_connection_fields(conn.conn_type, conn.host, conn.login, conn.password,
                                          conn.port, conn.schema)

    @cached_property
    def engine(self):
        from sf_notion_sync.state.db import make_engine

        return make_engine(self.get_url())

    def get_store(self):
        from sf_notion_sync.state.store import StateStore

        return StateStore(self.engine)


class NotionHook(BaseHook):
    """Connection type `notion`: builds the throttled client sharing one budget per token."""

    conn_name_attr = "notion_conn_id"
    default_conn_name = "notion_default"
    conn_type = "notion"
    hook_name = "Notion"

    def __init__(self, notion_conn_id: str = default_conn_name, sync_state_conn_id: str = "sync_state_db",
                 dag_id: str = "") -> None:
        super().__init__()
        self.notion_conn_id = notion_conn_id
        self.sync_state_conn_id = sync_state_conn_id
        self.dag_id = dag_id

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["schema", "port", "login", "extra"],
            "relabeling": {"password": "Integration token", "host": "API base URL"},
            "placeholders": {"host": constants.DEFAULT_BASE_URL},
        }

    @cached_property
    def settings(self) -> NotionSettings:
        return settings_from_connection(self.get_connection(self.notion_conn_id))

    def get_limiter(self, workspace_key: str | None = None, shared: Any = None, **options: Any):
        """The shared budget for this token, on the backend the connection names; ``workspace_key``
        (default: from the connection's extra ``workspace``) is shared by the workspace's connections,
        ``shared`` an open backend of that kind (one for all of them); ``options`` such as
        ``recovery_step`` (how fast a workspace cut comes back) go to limiter.build_limiter."""
        from sf_notion_sync.notion.limiter import build_limiter

        settings = self.settings
        kwargs: dict[str, Any] = {"requests": settings.requests, "window_s": settings.window_s,
                                  "burst": settings.burst, "backend": settings.limiter_backend,
                                  "fast_lane_cap": settings.fast_lane_cap,
                                  "workspace_key": workspace_key or settings.workspace_key, "shared": shared,
                                  **options}
        if shared is not None:
            kwargs["pool_slots"] = self.pool_slots if settings.limiter_backend == "local" else 1
        elif settings.limiter_backend == "sql":
            kwargs["engine"] = SyncStateHook(self.sync_state_conn_id).engine
        elif settings.limiter_backend == "redis":
            kwargs["redis_url"] = redis_url(self.get_connection(settings.redis_conn_id or "redis_default"))
        else:
            kwargs["pool_slots"] = self.pool_slots
        return build_limiter(settings.token, **kwargs)

    @cached_property
    def pool_slots(self) -> int:
        """Slots of pool `notion_api` as declared in include/pools.json: the batches that may run at once.
        Raises ConfigError without one (the local backend cannot know its share then)."""
        from sf_notion_sync.config import NOTION_POOL, pool_slots

        return pool_slots(NOTION_POOL)

    def get_budget(self):
        """The budget as the engine reads it (sync.budget.NotionBudget), from the connection and the pool:
        no client built. Without a pools.json, 1 slot: the planner then splits no run across slots."""
        from sf_notion_sync.config import ConfigError
        from sf_notion_sync.sync.budget import NotionBudget

        try:
            slots = self.pool_slots
        except ConfigError as exc:
            log.info("batches not split across pool slots: %s", exc)
            slots = 1
        settings = self.settings
        return NotionBudget(requests=settings.requests, window_s=settings.window_s,
                            fast_lane_cap=settings.fast_lane_cap, pool_slots=slots)

    def get_conn(self, **client_options: Any):
        """A ThrottledNotionClient; close it when done (it owns an HTTP connection pool).

        `client_options` pass through to the client (e.g. allow_defer, defer_threshold_s)."""
        from sf_notion_sync.notion.client import ThrottledNotionClient
        from sf_notion_sync.notion.usage import UsageRecorder, sql_usage_sink

        settings = self.settings
        engine = SyncStateHook(self.sync_state_conn_id).engine
        return ThrottledNotionClient(
            token=settings.token,
            base_url=settings.base_url,
            notion_version=settings.notion_version,
            limiter=self.get_limiter(),
            usage=UsageRecorder(sql_usage_sink(engine), dag_id=self.dag_id),
            **client_options,
        )

    def test_connection(self) -> tuple[bool, str]:
        """GET /v1/users/me with the token: proves base URL, version and token together."""
        try:
            client = self.get_conn()
            try:
                me = client.request("GET", "users/me").data
            finally:
                client.close()
        except Exception as exc:  # the UI shows the message; it never contains the token
            return False, f"{type(exc).__name__}: {exc}"
        return True, f"Connected as {me.get('name') or me.get('id')} ({me.get('type', 'user')})"


_SALESFORCE_LOGINS = (
    # what simple-salesforce can log in with (besides a session id): connection fields and extras
    ("login", "password", "security_token"),
    ("login", "password", "organization_id"),
    ("login", "password", "consumer_key", "consumer_secret"),
    ("login", "consumer_key", "private_key"),
    ("login", "consumer_key", "private_key_file_path"),
    ("consumer_key", "consumer_secret", "domain"),
)


def salesforce_can_log_in(conn: Any) -> bool:
    """Whether a `salesforce` connection holds credentials to log in again (not only a session id)."""
    extras = conn.extra_dejson or {}

    def present(name: str) -> bool:
        if name in ("login", "password"):
            return bool(getattr(conn, name, None))
        return bool(extras.get(name) or extras.get(f"extra__salesforce__{name}"))

    return any(all(present(name) for name in login) for login in _SALESFORCE_LOGINS)


def salesforce_client(conn_id: str = "salesforce_default"):
    """A SalesforceSession over simple_salesforce.Salesforce from the provider's hook, honouring extra `session_id`.

    The provider (5.15) reads `instance_url` from extras but takes `session_id` only as a
    constructor argument; session auth is how the sandbox, and orgs that hand out sessions, connect.
    When the session expires, a connection with credentials logs in again through a fresh hook (the
    provider caches its client); one with only a session id stops with a message naming the fix.
    """
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    from sf_notion_sync.salesforce.session import SalesforceSession

    conn = BaseHook.get_connection(conn_id)
    extras = conn.extra_dejson or {}

    def log_in() -> Any:
        return SalesforceHook(salesforce_conn_id=conn_id).get_conn()

    first = SalesforceHook(salesforce_conn_id=conn_id, session_id=extras.get("session_id") or None).get_conn()
    return SalesforceSession(first, log_in if salesforce_can_log_in(conn) else None, conn_id=conn_id)


def connection_type(conn_id: str) -> str | None:
    """The type of Airflow connection ``conn_id``, None when there is none."""
    from airflow.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id).conn_type
    except AirflowNotFoundException:
        return None


def redis_url(conn: Any) -> str:
    """``redis://[:password@]host:port/db`` from a `redis` connection's fields: ``get_uri()`` would append
    the extras the Redis form writes (``{"db": 1}``) as a query redis-py refuses. The database is the
    extra ``db``, else the schema, else 0."""
    from urllib.parse import quote

    extras = conn.extra_dejson or {}
    db = extras.get("db", conn.schema or 0)
    auth = f":{quote(conn.password, safe='')}@" if conn.password else ""
    return f"redis://{auth}{conn.host or '127.0.0.1'}:{conn.port or 6379}/{int(db)}"
