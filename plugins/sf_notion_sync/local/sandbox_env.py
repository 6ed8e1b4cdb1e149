"""Reads the KEY=VALUE settings file that `sf-notion-sync sandbox --print-env-file` writes."""

from __future__ import annotations

import shlex
from pathlib import Path


def read_env_file(path: Path) -> dict[str, str]:
    settings: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):]
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{path}:{number}: expected KEY=VALUE, got {line[:40]!r}")
        parsed = shlex.split(value)
        settings[key.strip()] = parsed[0] if parsed else ""
    return settings
