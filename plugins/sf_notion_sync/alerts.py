"""Which alerts a finished run deserves (the plan's error alerting), decided without Airflow.

Four conditions, thresholds from sync.yaml `alerts.thresholds`: records that failed N times or went
Dead, a 429/529 share over the last hour above `rate_limited_share`, a run with more than
`run_failure_pct` percent of its records failed, and a failed DAG run (raised by the DAG callback).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sf_notion_sync.config import AlertThresholds


@dataclass(frozen=True)
class Alert:
    kind: str
    subject: str
    lines: tuple[str, ...] = ()
    facts: Mapping[str, Any] = field(default_factory=dict)

    def as_text(self) -> str:
        return "\n".join((self.subject, "", *self.lines))

    def as_payload(self) -> dict[str, Any]:
        return {"kind": self.kind, "subject": self.subject, "lines": list(self.lines), "facts": dict(self.facts)}


def run_alerts(summary: Mapping[str, Any], thresholds: AlertThresholds, *, hour_requests: int = 0,
               hour_rate_limited: int = 0, repeated_failures: Sequence[Mapping[str, Any]] = ()) -> list[Alert]:
    """Alerts for one finished run; `repeated_failures` are sync_log rows at or past the threshold."""
    obj, run_id = summary.get("object", "?"), summary.get("run_id", "?")
    alerts: list[Alert] = []
    total = int(summary.get("total") or 0)
    failed = int(summary.get("failed") or 0)
    if total and failed * 100.0 / total > thresholds.run_failure_pct:
        alerts.append(Alert(
            "run_failures", f"[sf-notion-sync] {obj}: {failed} of {total} records failed in run {run_id}",
            (f"{failed * 100.0 / total:.2f}% failed (threshold {thresholds.run_failure_pct}%).",
             "Failed records are in sync_log and are retried by sf_notion_retry."),
            {"object": obj, "run_id": run_id, "failed": failed, "total": total}))
    if hour_requests and hour_rate_limited / hour_requests > thresholds.rate_limited_share:
        share = hour_rate_limited / hour_requests
        alerts.append(Alert(
            "rate_limited", f"[sf-notion-sync] Notion answered 429/529 to {share:.1%} of requests in the last hour",
            (f"{hour_rate_limited} of {hour_requests} requests (threshold {thresholds.rate_limited_share:.0%}).",
             "Lower budget_rate on the notion connection or check other integrations on the token."),
            {"requests": hour_requests, "rate_limited": hour_rate_limited, "share": round(share, 4)}))
    if repeated_failures:
        shown = [f"{row['sf_id']}: {row.get('status')} after {row.get('attempts')} attempts: "
                 f"{row.get('error_code') or ''} {row.get('error_message') or ''}".rstrip()
                 for row in list(repeated_failures)[:50]]
        more = len(repeated_failures) - len(shown)
        alerts.append(Alert(
            "record_failures",
            f"[sf-notion-sync] {obj}: {len(repeated_failures)} records failed {thresholds.record_failures}+ times or are dead",
            (*shown, *([f"... and {more} more"] if more > 0 else [])),
            {"object": obj, "records": len(repeated_failures)}))
    return alerts


def dag_failure_alert(dag_id: str, run_id: str, task_ids: Sequence[str], reason: str) -> Alert:
    return Alert("dag_failed", f"[sf-notion-sync] DAG {dag_id} failed (run {run_id})",
                 (f"failed tasks: {', '.join(task_ids) or 'unknown'}", f"reason: {reason}"),
                 {"dag_id": dag_id, "run_id": run_id, "tasks": list(task_ids)})


def alerts_after_run(store: Any, obj: Any, summary: Mapping[str, Any], run_started_at: datetime) -> list[Alert]:
    """Gather what `run_alerts` needs from the state store: last hour's Notion usage and the records
    of this object that crossed the failure threshold during this run (so each is alerted once)."""
    thresholds = obj.alerts.thresholds
    now = datetime.now(UTC)
    hour = [row for row in store.usage_rollup(now - timedelta(hours=1), by=("api",), api="notion")]
    repeated = [
        {"sf_id": e.sf_id, "status": e.status, "attempts": e.attempts, "error_code": e.error_code,
         "error_message": e.error_message}
        for e in store.open_failures(obj.name).values()
        if e.updated_at >= run_started_at and (e.status == "Dead" or e.attempts >= thresholds.record_failures)
    ]
    return run_alerts(summary, thresholds, hour_requests=sum(r.requests for r in hour),
                      hour_rate_limited=sum(r.rate_limited for r in hour), repeated_failures=repeated)
