"""Salesforce daily API budget guard.

Every Salesforce response carries `Sforce-Limit-Info: api-usage=N/M`, which simple-salesforce keeps in
`sf.api_usage`; that costs nothing to read. When no response has been seen yet (or a fresh figure is
wanted), `/limits` answers with `DailyApiRequests`. Past the threshold the guard either raises, so a
run stops with a clear message, or returns a "defer" decision, so a chained run waits for the budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

DEFAULT_THRESHOLD = 0.8
REST_PAGE_SIZE = 2000
# create job + a few status polls + close, besides the result pages.
_BULK_JOB_OVERHEAD_CALLS = 5


class SalesforceBudgetExceeded(RuntimeError):
    """The daily API usage is past the configured share of the limit."""

    def __init__(self, usage: ApiUsage, threshold: float, needed: int = 0):
        self.usage = usage
        self.threshold = threshold
        self.needed = needed
        super().__init__(_message(usage, threshold, needed))


@dataclass(frozen=True)
class ApiUsage:
    """Daily API requests used and allowed; `source` is 'header' (Sforce-Limit-Info) or 'limits'."""

    used: int
    limit: int
    source: str

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    @property
    def fraction(self) -> float:
        return self.used / self.limit if self.limit > 0 else 1.0


@dataclass(frozen=True)
class BudgetDecision:
    """Whether to go on now; `defer` means wait for the daily window to free up, not fail."""

    proceed: bool
    usage: ApiUsage
    threshold: float
    needed: int
    reason: str

    @property
    def defer(self) -> bool:
        return not self.proceed


def _message(usage: ApiUsage, threshold: float, needed: int) -> str:
    text = f"Salesforce API budget: used {usage.used} of {usage.limit} daily requests, threshold {threshold:.0%}"
    if needed:
        text += f"; this step needs about {needed} more"
    return text


def current_usage(sf: Any, refresh: bool = False) -> ApiUsage:
    """Usage from the last response's Sforce-Limit-Info, or from `/limits` when none or `refresh`."""
    if not refresh:
        header = (getattr(sf, "api_usage", None) or {}).get("api-usage")
        if header is not None:
            return ApiUsage(used=int(header.used), limit=int(header.total), source="header")
    daily = sf.limits()["DailyApiRequests"]
    limit = int(daily["Max"])
    return ApiUsage(used=limit - int(daily["Remaining"]), limit=limit, source="limits")


def check_budget(
    sf: Any,
    threshold: float = DEFAULT_THRESHOLD,
    needed: int = 0,
    on_exceeded: str = "raise",
    refresh: bool = False,
) -> BudgetDecision:
    """Proceed while `used + needed` stays below `threshold` of the daily limit; else raise or defer."""
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    if on_exceeded not in ("raise", "defer"):
        raise ValueError(f"on_exceeded must be 'raise' or 'defer', got {on_exceeded!r}")
    usage = current_usage(sf, refresh)
    if usage.limit > 0 and usage.used + needed < threshold * usage.limit:
        return BudgetDecision(True, usage, threshold, needed, "within budget")
    if on_exceeded == "raise":
        raise SalesforceBudgetExceeded(usage, threshold, needed)
    return BudgetDecision(False, usage, threshold, needed, _message(usage, threshold, needed))


def estimate_extract_calls(total: int, bulk: bool, page_size: int = 10_000) -> int:
    """API calls an extraction of `total` records costs: COUNT() plus result pages (plus job calls for Bulk)."""
    if bulk:
        return 1 + _BULK_JOB_OVERHEAD_CALLS + max(1, math.ceil(total / page_size))
    return 1 + max(1, math.ceil(total / REST_PAGE_SIZE))


def salesforce_usage(sf: Any, threshold: float = DEFAULT_THRESHOLD) -> dict[str, Any]:
    """Fresh usage from `/limits` for `budget status`: JSON-ready, no credentials."""
    limits = sf.limits()
    daily = limits["DailyApiRequests"]
    usage = ApiUsage(used=int(daily["Max"]) - int(daily["Remaining"]), limit=int(daily["Max"]), source="limits")
    report: dict[str, Any] = {
        "api": "salesforce",
        "used": usage.used,
        "limit": usage.limit,
        "remaining": usage.remaining,
        "percent": round(usage.fraction * 100, 1),
        "threshold_percent": round(threshold * 100, 1),
        "over_threshold": usage.used >= threshold * usage.limit,
    }
    bulk_jobs = limits.get("DailyBulkV2QueryJobs")
    if bulk_jobs:
        report["bulk_v2_query_jobs"] = {"used": bulk_jobs["Max"] - bulk_jobs["Remaining"], "limit": bulk_jobs["Max"]}
    per_app = (getattr(sf, "api_usage", None) or {}).get("per-app-api-usage")
    if per_app is not None:
        report["per_app"] = {"name": per_app.name, "used": per_app.used, "limit": per_app.total}
    return report
