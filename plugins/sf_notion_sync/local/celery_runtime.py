"""A local Airflow on the CeleryExecutor: the stack of docker-compose.yaml without Docker.

The API server, scheduler, DAG processor, triggerer and N `airflow celery worker`s run as child
processes (each in its own session, stopped as a group) on the PostgreSQL and Redis of this machine:
PostgreSQL holds the metadata database, Celery's results and the sync state database; Redis is the
Celery broker and the Notion limiter's backend, so every worker spends one budget. The settings are
those of docker-compose.yaml with its hosts replaced by 127.0.0.1 (tests/unit/test_celery_runtime.py
checks that the two agree).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sf_notion_sync.local.runtime import (
    COMPONENTS,
    POOLS_FILE,
    LocalAirflow,
    free_port,
    reachable,
    running_airflow,
)

PG_HOST, PG_PORT = "127.0.0.1", 5432
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
PG_SERVER = f"postgresql+psycopg2://postgres@{PG_HOST}:{PG_PORT}"
"""Trust authentication as the `postgres` role, as this machine's PostgreSQL is set up."""
REDIS_CONN_ID = "redis_default"
SERVICES = {  # name: (host, port, the command that starts it on this machine)
    "PostgreSQL": (PG_HOST, PG_PORT, "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"),
    "Redis": (REDIS_HOST, REDIS_PORT, "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' "
                                      "--appendonly no"),
}
NOTION_CONN_ENV = "AIRFLOW_CONN_NOTION_DEFAULT"
WORKER_NAME_ENV = "SF_NOTION_SYNC_WORKER_NAME"


def worker_hostname() -> str:
    """[core] hostname_callable of the workers: the workers of one machine show as worker1, worker2..."""
    return os.environ.get(WORKER_NAME_ENV) or socket.getfqdn()


class ServicesMissing(RuntimeError):
    """PostgreSQL or Redis does not answer: the message says which, and how to start it."""


def missing_services() -> list[str]:
    """The services this runtime needs that do not accept connections now."""
    return [name for name, (host, port, _) in SERVICES.items() if not reachable(host, port)]


def require_services() -> None:
    """Raise ServicesMissing naming every unreachable service and the command that starts it."""
    missing = missing_services()
    if missing:
        lines = [f"- {name} on {SERVICES[name][0]}:{SERVICES[name][1]} is not reachable; start it with: "
                 f"{SERVICES[name][2]}" for name in missing]
        raise ServicesMissing("the Celery runtime needs PostgreSQL and Redis:\n" + "\n".join(lines))


def create_database(name: str) -> str:
    """Create PostgreSQL database `name` unless it exists; returns its SQLAlchemy URL."""
    import sqlalchemy as sa

    admin = sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if not conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return f"{PG_SERVER}/{name}"


def drop_database(name: str) -> None:
    """Drop PostgreSQL database `name`, closing whatever still holds a connection to it."""
    import sqlalchemy as sa

    admin = sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@dataclass(frozen=True)
class CeleryDatabases:
    """Where the stack keeps its data: two PostgreSQL databases and one Redis database index."""

    metadata: str
    """Airflow's metadata database, also Celery's result backend (as in docker-compose.yaml)."""
    state: str
    """The sync state database (connection sync_state_db)."""
    redis_db: int = 0
    """Celery's broker and the limiter's keys (compose's broker uses index 0)."""
    queue: str = "default"
    """The Celery queue the workers serve: a test names its own, so no other worker takes its tasks."""

    @classmethod
    def create(cls, prefix: str, redis_db: int = 0, queue: str = "default") -> CeleryDatabases:
        """`<prefix>_airflow` and `<prefix>_sync_state`, created unless they exist."""
        return cls(create_database(f"{prefix}_airflow"), create_database(f"{prefix}_sync_state"), redis_db, queue)

    def drop(self) -> None:
        for url in (self.metadata, self.state):
            drop_database(url.rsplit("/", 1)[1])

    @property
    def redis_url(self) -> str:
        return f"redis://{REDIS_HOST}:{REDIS_PORT}/{self.redis_db}"


def celery_env(databases: CeleryDatabases) -> dict[str, str]:
    """docker-compose.yaml's x-airflow-common environment for this machine (plus the limiter's Redis)."""
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": databases.metadata,
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + databases.metadata.replace("+psycopg2", "", 1),
        "AIRFLOW__CELERY__BROKER_URL": databases.redis_url,
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": databases.queue,
        "AIRFLOW_CONN_SYNC_STATE_DB": json.dumps({"conn_type": "postgres", "host": databases.state}),
        # the index as `schema` (the URL's path): extras would become a `__extra__` query redis-py rejects
        f"AIRFLOW_CONN_{REDIS_CONN_ID.upper()}": json.dumps(
            {"conn_type": "redis", "host": REDIS_HOST, "port": REDIS_PORT, "schema": str(databases.redis_db)}),
    }


def with_redis_limiter(notion_connection: str, redis_conn_id: str = REDIS_CONN_ID) -> str:
    """A `notion` connection (AIRFLOW_CONN_* JSON) whose budget is kept in Redis, shared by every worker."""
    conn = json.loads(notion_connection)
    conn["extra"] = {**conn.get("extra", {}), "limiter_backend": "redis", "redis_conn_id": redis_conn_id}
    return json.dumps(conn)


@dataclass
class CeleryAirflow(LocalAirflow):
    """LocalAirflow on the CeleryExecutor with `workers` Celery workers, `worker1`..`workerN`."""

    databases: CeleryDatabases = field(default_factory=lambda: CeleryDatabases(f"{PG_SERVER}/airflow",
                                                                               f"{PG_SERVER}/sf_notion_sync"))
    workers: int = 2
    concurrency: int = 2
    """Task slots per worker: with the pool's 4 slots and 2 workers, each holds half the batches."""

    def __post_init__(self) -> None:
        self._log_ports = {name: free_port() for name in self.worker_names}

    def base_env(self) -> dict[str, str]:
        return {**super().base_env(), **celery_env(self.databases)}

    def env(self) -> dict[str, str]:
        env = super().env()
        if notion := env.get(NOTION_CONN_ENV):
            env[NOTION_CONN_ENV] = with_redis_limiter(notion)
        return env

    @property
    def worker_names(self) -> tuple[str, ...]:
        return tuple(f"worker{i}" for i in range(1, self.workers + 1))

    def components(self) -> tuple[str, ...]:
        return (*COMPONENTS, *self.worker_names)

    def command(self, component: str) -> list[str]:
        if component not in self.worker_names:
            return super().command(component)
        airflow = super().command("celery")
        return [*airflow, "worker", "-H", f"{component}@%h", "-c", str(self.concurrency),
                "-q", self.databases.queue, "--without-mingle", "--without-gossip"]

    def component_env(self, component: str) -> dict[str, str]:
        env = super().component_env(component)
        if component in self.worker_names:  # a port of its own for its task logs, its name on its tasks
            env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(self._log_ports[component])
            env[WORKER_NAME_ENV] = component
            env["AIRFLOW__CORE__HOSTNAME_CALLABLE"] = f"{__name__}.worker_hostname"
        return env

    def prepare(self, pools_file: Path = POOLS_FILE) -> None:
        """As compose's airflow-init: migrate, import the pools, then migrate the sync state database."""
        super().prepare(pools_file)
        from sf_notion_sync.state.db import make_engine, upgrade

        engine = make_engine(self.databases.state)
        try:
            upgrade(engine)
        finally:
            engine.dispose()


@contextmanager
def running_celery_airflow(home: Path, extra_env: Mapping[str, str], dag_ids: tuple[str, ...],
                           databases: CeleryDatabases, workers: int = 2,
                           timeout: float = 240) -> Iterator[CeleryAirflow]:
    """running_airflow on the CeleryExecutor, after checking that PostgreSQL and Redis answer."""
    require_services()
    with running_airflow(home, extra_env, dag_ids, timeout, CeleryAirflow, databases=databases,
                         workers=workers) as local:
        yield local
