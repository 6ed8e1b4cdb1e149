"""The Notion side: throttled client, shared limiter, property builders, schema checks, usage.

Knows nothing of Airflow; the hook, operator, trigger and sensor in ``sf_notion_sync.airflow`` wrap it.
"""

from .client import ApiResult, CallStats, QueryPage, ThrottledNotionClient
from .errors import DeferRequested, ErrorKind, NotionApiError, PropertyValueError, SchemaMismatchError
from .limiter import NotionRateLimiter, build_limiter, token_fingerprint

__all__ = [
    "ApiResult",
    "CallStats",
    "DeferRequested",
    "ErrorKind",
    "NotionApiError",
    "NotionRateLimiter",
    "PropertyValueError",
    "QueryPage",
    "SchemaMismatchError",
    "ThrottledNotionClient",
    "build_limiter",
    "token_fingerprint",
]
