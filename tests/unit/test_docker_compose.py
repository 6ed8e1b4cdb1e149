"""docker-compose.yaml cannot be started here (no Docker engine), so check what can be checked:
the official Airflow 3 layout, and that every file, module and command it names exists."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
SERVICES = COMPOSE["services"]
AIRFLOW_SERVICES = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker",
}


def _airflow_command(words: list[str]) -> argparse.ArgumentParser | None:
    """The parser of `airflow <words>` in Airflow's own CLI tree (in process: a subprocess per command
    costs seconds of imports each), or None when Airflow has no such command."""
    from airflow.cli.cli_parser import get_parser

    parser: argparse.ArgumentParser | None = get_parser()
    for word in words:
        subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        parser = subparsers[0].choices.get(word) if subparsers else None
        if parser is None:
            return None
    return parser


def test_official_layout():
    assert {"postgres", "redis", "airflow-init", *AIRFLOW_SERVICES} <= set(SERVICES)
    for name, command in AIRFLOW_SERVICES.items():
        assert SERVICES[name]["command"] == command
        assert SERVICES[name]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert "healthcheck" in SERVICES[name], f"{name} has no healthcheck"
        assert SERVICES[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    assert SERVICES["airflow-apiserver"]["ports"] == ["8080:8080"]
    env = SERVICES["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"


def test_image_is_built_from_the_lock_not_pip_extras():
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        assert SERVICES[name]["build"] == "."
        assert "_PIP_ADDITIONAL_REQUIREMENTS" not in SERVICES[name]["environment"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "uv.lock" in dockerfile and "--frozen" in dockerfile
    lock = (ROOT / "uv.lock").read_text()
    pinned = re.search(r'name = "apache-airflow"\nversion = "([^"]+)"', lock).group(1)
    assert f"AIRFLOW_VERSION={pinned}" in dockerfile, "the base image and the lock disagree on Airflow"


def test_mounted_paths_exist():
    for name in AIRFLOW_SERVICES:
        for volume in SERVICES[name]["volumes"]:
            source = volume.replace("${AIRFLOW_PROJ_DIR:-.}", ".").split(":")[0]
            if Path(source).name in {"logs", "config"}:
                continue  # created by airflow-init, as in the official file
            assert (ROOT / source).exists(), f"{name} mounts missing {source}"
    for volume in SERVICES["postgres"]["volumes"]:
        if volume.startswith("./"):
            assert (ROOT / volume.split(":")[0]).is_file()


def test_init_commands_exist():
    script = SERVICES["airflow-init"]["command"][1]
    commands = [line.strip().removeprefix("/entrypoint ") for line in script.splitlines()
                if line.strip().startswith("/entrypoint")]
    assert any(c.startswith("airflow db migrate") for c in commands)
    pools = [c for c in commands if c.startswith("airflow pools import")]
    assert pools and (ROOT / "include" / "pools.json").is_file()
    for command in commands:
        words = command.split()
        if words[0] == "airflow":
            sub = [w for w in words[1:3] if not w.startswith("/")]
            assert _airflow_command(sub) is not None, f"`airflow {' '.join(sub)}` does not exist"
        elif words[0] == "sf-notion-sync":
            from sf_notion_sync.cli import build_parser

            parsed = build_parser().parse_args(words[1:])
            assert callable(parsed.func), f"`{command}` is not a command of sf-notion-sync"
        else:
            pytest.fail(f"airflow-init runs an unchecked command: {command}")


@pytest.mark.parametrize("service", ["notion-emulator", "salesforce-emulator"])
def test_demo_profile_emulators_start_from_real_modules(service):
    spec = SERVICES[service]
    assert spec["profiles"] == ["demo"]
    args = spec["command"]
    assert args[0] == "-m"
    result = subprocess.run([sys.executable, *args[:2], "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-500:]
    for flag in (a for a in args[2:] if a.startswith("--")):
        assert flag in result.stdout, f"{service}: {flag} is not an option of {args[1]}"
