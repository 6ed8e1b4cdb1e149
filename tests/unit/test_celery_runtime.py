"""The local Celery runtime (sf_notion_sync.local.celery_runtime) against docker-compose.yaml: what the
compose stack would run and what `make airflow EXECUTOR=celery` runs must agree, hosts aside."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from sf_notion_sync.cli import build_parser
from sf_notion_sync.local import celery_runtime
from sf_notion_sync.local.celery_runtime import (
    COMPONENTS,
    CeleryAirflow,
    CeleryDatabases,
    ServicesMissing,
    require_services,
    with_redis_limiter,
    worker_hostname,
)
from sf_notion_sync.local.runtime import POOLS_FILE, REPO_ROOT

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yaml").read_text())
COMPOSE_ENV = COMPOSE["x-airflow-common"]["environment"]
NOTION = json.dumps({"conn_type": "notion", "host": "http://127.0.0.1:1", "password": "tok-not-logged",
                     "extra": {"budget_requests": 300, "budget_window_s": 3}})


@pytest.fixture
def local(tmp_path: Path) -> CeleryAirflow:
    return CeleryAirflow(home=tmp_path, extra_env={"AIRFLOW_CONN_NOTION_DEFAULT": NOTION,
                                                   "AIRFLOW_CONN_SALESFORCE_DEFAULT": "{}"})


def _database(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def test_executor_metadata_database_and_result_backend_agree(local):
    env = local.env()
    for key in ("AIRFLOW__CORE__EXECUTOR", "AIRFLOW__CORE__LOAD_EXAMPLES", "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"):
        assert env[key].lower() == COMPOSE_ENV[key].lower(), key
    for mine in (env, COMPOSE_ENV):
        metadata, results = mine["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], mine["AIRFLOW__CELERY__RESULT_BACKEND"]
        assert _database(results) == _database(metadata), "Celery's results live in the metadata database"
    for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__RESULT_BACKEND"):
        assert urlsplit(env[key]).scheme == urlsplit(COMPOSE_ENV[key]).scheme, key


def test_broker_is_the_same_redis_database(local):
    mine, theirs = urlsplit(local.env()["AIRFLOW__CELERY__BROKER_URL"]), urlsplit(COMPOSE_ENV["AIRFLOW__CELERY__BROKER_URL"])
    assert (mine.scheme, mine.port, mine.path) == (theirs.scheme, theirs.port, theirs.path)


def test_state_database_is_a_postgres_connection_apart_from_the_metadata(local):
    env = local.env()
    mine, theirs = json.loads(env["AIRFLOW_CONN_SYNC_STATE_DB"]), json.loads(COMPOSE_ENV["AIRFLOW_CONN_SYNC_STATE_DB"])
    assert mine["conn_type"] == theirs["conn_type"] == "postgres"
    assert urlsplit(mine["host"]).scheme == urlsplit(theirs["host"]).scheme
    assert _database(mine["host"]) != _database(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert _database(theirs["host"]) != _database(COMPOSE_ENV["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])


def test_every_compose_connection_is_set(local):
    env = local.env()
    compose = {key for key in COMPOSE_ENV if key.startswith("AIRFLOW_CONN_")}
    assert compose <= set(env)


def test_limiter_budget_is_kept_in_the_brokers_redis(local):
    env = local.env()
    notion = json.loads(env["AIRFLOW_CONN_NOTION_DEFAULT"])
    assert notion["extra"]["limiter_backend"] == "redis"
    redis = json.loads(env[f"AIRFLOW_CONN_{notion['extra']['redis_conn_id'].upper()}"])
    broker = urlsplit(env["AIRFLOW__CELERY__BROKER_URL"])
    assert (redis["host"], redis["port"], f"/{redis['schema']}") == (broker.hostname, broker.port, broker.path)


def test_compose_keeps_the_limiter_in_redis_too():
    assert COMPOSE_ENV["AIRFLOW_CONN_REDIS_DEFAULT"] == "redis://redis:6379/1"


def test_pools_and_state_migrations_as_compose_init():
    init = COMPOSE["services"]["airflow-init"]["command"][1]
    assert f"airflow pools import /opt/airflow/{POOLS_FILE.relative_to(REPO_ROOT)}" in init
    assert "sf-notion-sync state upgrade" in init  # CeleryAirflow.prepare upgrades the state database too


def test_redis_limiter_keeps_token_and_budget():
    conn = json.loads(with_redis_limiter(NOTION))
    assert conn["password"] == "tok-not-logged"
    assert conn["extra"] == {"budget_requests": 300, "budget_window_s": 3, "limiter_backend": "redis",
                             "redis_conn_id": "redis_default"}


def test_workers_have_distinct_names_log_ports_and_the_stacks_queue(tmp_path):
    local = CeleryAirflow(home=tmp_path, workers=3, databases=CeleryDatabases("postgresql://m", "postgresql://s",
                                                                              queue="q1"))
    assert local.components() == (*COMPONENTS, "worker1", "worker2", "worker3")
    commands = [local.command(name) for name in local.worker_names]
    assert [c[c.index("-H") + 1] for c in commands] == ["worker1@%h", "worker2@%h", "worker3@%h"]
    assert all(c[c.index("-q") + 1] == "q1" for c in commands)
    assert local.env()["AIRFLOW__OPERATORS__DEFAULT_QUEUE"] == "q1"
    envs = [local.component_env(name) for name in local.worker_names]
    assert len({e["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] for e in envs}) == 3
    assert [e[celery_runtime.WORKER_NAME_ENV] for e in envs] == ["worker1", "worker2", "worker3"]
    assert celery_runtime.WORKER_NAME_ENV not in local.component_env("scheduler")


def test_worker_hostname_is_the_workers_name(monkeypatch):
    monkeypatch.setenv(celery_runtime.WORKER_NAME_ENV, "worker2")
    assert worker_hostname() == "worker2"


def test_missing_services_are_named_with_how_to_start_them(monkeypatch):
    monkeypatch.setattr(celery_runtime, "reachable", lambda host, port: port != 6379)
    with pytest.raises(ServicesMissing) as raised:
        require_services()
    message = str(raised.value)
    assert "Redis on 127.0.0.1:6379" in message and "redis-server --daemonize yes" in message
    assert "PostgreSQL on" not in message


def test_cli_says_what_is_missing(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(celery_runtime, "reachable", lambda host, port: False)
    args = build_parser().parse_args(["airflow", "--executor", "celery", "--sandbox-env", str(tmp_path / "none")])
    assert args.func(args) == 2
    err = capsys.readouterr().err
    assert "PostgreSQL on 127.0.0.1:5432 is not reachable" in err and "pg_ctlcluster" in err
    assert "Redis on 127.0.0.1:6379 is not reachable" in err
