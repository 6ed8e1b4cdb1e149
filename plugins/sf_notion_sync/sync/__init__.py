"""The sync engine: extract, plan, write, reconcile, sweep duplicates, finish and retry; knows nothing of Airflow.

Every function takes a ``SyncContext`` and returns JSON-ready dicts (or a ``BatchOutcome`` with
``to_dict()``), so Airflow tasks can pass results through XCom without carrying records.
"""

from .batch import sync_batch
from .context import SyncContext
from .dedupe import sweep_duplicates
from .finish import finish_run
from .outcome import BatchOutcome
from .plan import plan_batches
from .preflight import PreflightError, preflight
from .rebuild import rebuild_record_map
from .reconcile import ReconcileRefused, reconcile
from .sizer import DynamicBatchSizer
from .staging import extract_to_staging

__all__ = [
    "BatchOutcome",
    "DynamicBatchSizer",
    "PreflightError",
    "ReconcileRefused",
    "SyncContext",
    "extract_to_staging",
    "finish_run",
    "plan_batches",
    "preflight",
    "rebuild_record_map",
    "reconcile",
    "sweep_duplicates",
    "sync_batch",
]
