"""The real Airflow shared by the airflow_e2e modules (see _airflow_stack): started once, on first use,
made fresh for each module that asks for `airflow`.
Session scope, so that a shuffled order (pytest-random-order shuffles modules across packages) still
starts it once: package scope would stop it whenever a module of another package came between two
airflow_e2e modules. In the fixed order it idles only through tests/unit (under a minute)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sf_notion_sync.local.runtime import LocalAirflow
from sf_notion_sync.sandbox.notion_emulator import NotionEmulator
from sf_notion_sync.sandbox.run import Sandbox
from tests.integration._airflow_stack import AirflowStack


@pytest.fixture(scope="session")
def airflow_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowStack]:
    """Started on first use; ask for `airflow` as well, so the module gets it fresh."""
    with AirflowStack.running(tmp_path_factory.mktemp("airflow-e2e")) as stack:
        yield stack


@pytest.fixture(scope="module")
def airflow(airflow_stack: AirflowStack, tmp_path_factory: pytest.TempPathFactory) -> LocalAirflow:
    """The shared Airflow with no run, page, mutation or sync state left by another module."""
    airflow_stack.fresh(tmp_path_factory.mktemp("state"))
    return airflow_stack.airflow


@pytest.fixture(scope="module")
def airflow_sandbox(airflow: LocalAirflow, airflow_stack: AirflowStack) -> Sandbox:
    """The emulators the shared Airflow talks to (reset by `airflow` for this module)."""
    return airflow_stack.sandbox


@pytest.fixture
def notion_emulator(tmp_path):
    """Makes Notion emulators (no latency unless asked), each closed after the test: a module's `emu`
    fixture says which tokens and limits it needs."""
    made: list[NotionEmulator] = []

    def make(**options) -> NotionEmulator:
        emulator = NotionEmulator(state_dir=tmp_path / f"notion-{len(made)}", **{"latency_median_ms": 0, **options})
        made.append(emulator)
        return emulator

    yield make
    for emulator in made:
        emulator.close()


@pytest.fixture
def server(emu):
    """The module's `emu`, serving on loopback."""
    with emu.serve() as running:
        yield running


@pytest.fixture
def engine(tmp_path):
    """A migrated SQLite state database of the test's own (the SQL limiter backend's, the store's)."""
    from sf_notion_sync.state.db import make_engine, upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()
