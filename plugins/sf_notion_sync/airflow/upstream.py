"""Which upstream tasks of the running task failed, read through the Task SDK (no metadata DB).

`finish` runs whatever happened before it (trigger rule all_done) so that every run gets its summary;
but Airflow decides a DAG run's state from its leaf tasks, and `finish` is the leaf. Without this, a
run whose batches failed would end green and the DAG-run failure alert would never fire.
"""

from __future__ import annotations

from typing import Any

FAILED_STATES = frozenset({"failed", "upstream_failed"})


def failed_upstream(context: Any) -> list[str]:
    """Upstream task ids (mapped ones as `task_id[index]`) of this task that failed, in name order."""
    ti, task = context["ti"], context["task"]
    upstream = set(task.get_flat_relative_ids(upstream=True))
    if not upstream:
        return []
    states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id]).get(ti.run_id, {})
    return sorted(_label(key, upstream) for key, state in states.items()
                  if state in FAILED_STATES and _task_id(key, upstream) in upstream)


def _task_id(key: str, upstream: set[str]) -> str:
    """The API keys mapped instances `<task_id>_<map_index>`; a task id may itself end in `_<digits>`."""
    if key in upstream:
        return key
    base, _, index = key.rpartition("_")
    return base if index.isdigit() else key


def _label(key: str, upstream: set[str]) -> str:
    task_id = _task_id(key, upstream)
    return key if task_id == key else f"{task_id}[{key[len(task_id) + 1:]}]"
