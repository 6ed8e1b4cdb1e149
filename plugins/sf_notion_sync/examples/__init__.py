"""Code of the example DAGs in dags/examples/, which are loaded only when ``SF_NOTION_SYNC_EXAMPLES``
is on. It lives in the package because a transform must be importable wherever sync.yaml is loaded
(the config resolves it), and the DAG folder is not on every such path."""

from __future__ import annotations

import os
from collections.abc import Mapping

EXAMPLES_ENV = "SF_NOTION_SYNC_EXAMPLES"


def examples_enabled(env: Mapping[str, str] | None = None) -> bool:
    value = (os.environ if env is None else env).get(EXAMPLES_ENV, "")
    return value.strip().lower() in {"1", "true", "yes", "on"}
