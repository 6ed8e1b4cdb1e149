"""Engines for the sync state database and applying its migrations.

The URL comes from the Airflow connection ``sync_state_db`` when it is set as an environment
variable (parsed here, so tasks never touch Airflow's metadata database), else a SQLite file under
``AIRFLOW_HOME``. SQLite runs in WAL mode with a busy timeout so that parallel tasks wait instead of
failing; write transactions there start with ``BEGIN IMMEDIATE`` (see ``write_connection``) so a
reader never has to upgrade its lock mid-transaction, which SQLite answers with an immediate error.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

CONN_ENV = "AIRFLOW_CONN_SYNC_STATE_DB"
SQLITE_BUSY_TIMEOUT_MS = 30_000
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
VERSION_TABLE = "sf_notion_sync_alembic_version"  # own name: the database may be shared

_SCHEME_ALIASES = {"postgres": "postgresql"}  # Airflow conn_type -> SQLAlchemy dialect


def default_state_url() -> str:
    """The state database URL: connection ``sync_state_db`` from the environment, else SQLite."""
    raw = os.environ.get(CONN_ENV, "").strip()
    if raw:
        return _url_from_connection(raw)
    home = Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow").expanduser()
    return f"sqlite:///{home / 'sf_notion_sync_state.db'}"


def _url_from_connection(raw: str) -> str:
    """Accept a URI, or Airflow's JSON form whose ``host`` holds a URL or the parts to build one."""
    if not raw.startswith("{"):
        return _normalise_scheme(raw)
    try:
        conn = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{CONN_ENV} is neither a URL nor valid JSON: {exc.msg} at position {exc.pos}"
        ) from None
    return url_from_connection_fields(
        conn.get("conn_type"),
        conn.get("host"),
        conn.get("login"),
        conn.get("password"),
        conn.get("port"),
        conn.get("schema"),
    )


def url_from_connection_fields(
    conn_type: str | None,
    host: str | None,
    login: str | None = None,
    password: str | None = None,
    port: int | str | None = None,
    schema: str | None = None,
) -> str:
    """A SQLAlchemy URL from an Airflow connection's fields: ``host`` may hold the whole URL."""
    host = str(host or "")
    if "://" in host:
        return _normalise_scheme(host)
    conn_type = str(conn_type or "").lower()
    if conn_type == "sqlite":
        return f"sqlite:///{host or schema or ''}"
    if not conn_type or not host:
        raise ValueError(
            "connection sync_state_db needs a SQLAlchemy URL in 'host', or 'conn_type' and 'host' "
            f"(got conn_type={conn_type!r}, host={host!r})"
        )
    auth = ""
    if login:
        auth = quote(str(login), safe="")
        if password:
            auth += ":" + quote(str(password), safe="")
        auth += "@"
    return _normalise_scheme(
        f"{conn_type}://{auth}{host}{f':{port}' if port else ''}{f'/{schema}' if schema else ''}"
    )


def _normalise_scheme(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return f"{_SCHEME_ALIASES.get(scheme.lower(), scheme)}{sep}{rest}"


def make_engine(url: str) -> Engine:
    """An engine tuned for many short transactions from parallel workers."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True, future=True)

    engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    in_memory = parsed.database in (None, "", ":memory:")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (see _on_begin)
        cursor = dbapi_conn.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("sqlite_begin_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@contextmanager
def write_connection(engine: Engine) -> Iterator[Connection]:
    """One short write transaction; on SQLite it takes the write lock up front."""
    with engine.connect() as conn:
        conn = conn.execution_options(sqlite_begin_immediate=True)
        with conn.begin():
            yield conn


def upgrade(engine_or_url: Engine | str, revision: str = "head") -> None:
    """Apply the Alembic migrations up to ``revision`` (idempotent)."""
    from alembic import command
    from alembic.config import Config

    engine = make_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
    finally:
        if isinstance(engine_or_url, str):
            engine.dispose()
