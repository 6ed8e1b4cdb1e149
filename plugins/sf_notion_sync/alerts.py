"""Which alerts a finished run deserves (the plan's error alerting), decided without Airflow.

Five conditions, thresholds from sync.yaml `alerts.thresholds`:

* a record reached `record_failures` failed attempts, or went Dead, in this run (each record is
  alerted when it crosses, not again at every later failure);
* a rate-limited run ends while the 429/529 share of the Notion requests in the current and the
  previous hourly bucket is above `rate_limited_share` (runs that saw no 429 stay quiet, so one
  busy hour is not re-alerted by every object's run);
* a full or incremental run ends with more than `run_failure_pct` percent of its records failed
  (retry runs carry only failures by nature: their records are alerted by the first condition);
* the duplicate sweep trashed pages in this run (any number: a second page for a record means a
  create was repeated somewhere upstream, which the exactly-once machinery should have prevented);
* a DAG run failed (SyncAlertNotifier, the DAGs' on_failure_callback).

Dry runs alert nothing: they write nothing and record no failure.
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
    """Alerts for one finished run; `repeated_failures` are sync_log rows that crossed a threshold."""
    from sf_notion_sync.sync.context import KIND_RECORDS  # here: DAG files load this module at parse time

    obj, run_id = summary.get("object", "?"), summary.get("run_id", "?")
    alerts: list[Alert] = []
    if summary.get("dry_run"):
        return alerts
    total = int(summary.get("total") or 0)
    failed = int(summary.get("failed") or 0)
    whole_run = summary.get("kind") != KIND_RECORDS
    if whole_run and total and failed * 100.0 / total > thresholds.run_failure_pct:
        alerts.append(Alert(
            "run_failures", f"[sf-notion-sync] {obj}: {failed} of {total} records failed in run {run_id}",
            (f"{failed * 100.0 / total:.2f}% failed (threshold {thresholds.run_failure_pct}%).",
             "Failed records are in sync_log and are retried by sf_notion_retry."),
            {"object": obj, "run_id": run_id, "failed": failed, "total": total}))
    limited_run = int(summary.get("rate_limited_429s") or 0) > 0
    if limited_run and hour_requests and hour_rate_limited / hour_requests > thresholds.rate_limited_share:
        share = hour_rate_limited / hour_requests
        alerts.append(Alert(
            "rate_limited", f"[sf-notion-sync] Notion answered 429/529 to {share:.1%} of requests this hour and the last",
            (f"{hour_rate_limited} of {hour_requests} requests (threshold {thresholds.rate_limited_share:.0%}).",
             "Check the window budget on the notion connection (budget_requests per budget_window_s: 180 per 60 s "
             "on Free and Plus, 600 on Business and Enterprise) and the other integrations of the token's "
             "workspace; the run summary's rate_limited_by_reason says which limit answered."),
            {"requests": hour_requests, "rate_limited": hour_rate_limited, "share": round(share, 4)}))
    duplicates = int(summary.get("duplicates_trashed") or 0)
    if duplicates:
        alerts.append(Alert(
            "duplicates", f"[sf-notion-sync] {obj}: {duplicates} duplicate Notion pages trashed in run {run_id}",
            ("Records had more than one live page; each kept its mapped page (else its oldest), the others are in "
             "Notion's trash.", "Each is in sync_log (operation dedupe, with both page ids). A duplicate means a "
             "create was repeated upstream: check this run's sync_batch logs and other writers to the database."),
            {"object": obj, "run_id": run_id, "duplicates_trashed": duplicates}))
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


def crossed(entry: Any, record_failures: int, max_attempts: int) -> bool:
    """True when this failure made the sync_log row alert-worthy: its attempts reached the alert
    threshold or the retry limit (Dead), or it is a fatal rejection (Dead at its first attempt, and
    again at the first attempt of each changed input)."""
    from sf_notion_sync.state.models import STATUS_DEAD

    if entry.status == STATUS_DEAD and (entry.fatal or entry.attempts == max_attempts):
        return True
    return entry.attempts == record_failures


def alerts_after_run(store: Any, obj: Any, summary: Mapping[str, Any], run_started_at: datetime, *,
                     max_attempts: int, now: datetime | None = None) -> list[Alert]:
    """Gather what `run_alerts` needs from the state store: the recent hours' Notion usage and the
    records of this object whose failure in this run crossed a threshold (so each is alerted once)."""
    thresholds = obj.alerts.thresholds
    now = now or datetime.now(UTC)
    hour = store.usage_rollup(now - timedelta(hours=1), by=("api",), api="notion")
    repeated = [
        {"sf_id": e.sf_id, "status": e.status, "attempts": e.attempts, "error_code": e.error_code,
         "error_message": e.error_message}
        for e in store.open_failures(obj.name).values()
        if e.updated_at >= run_started_at and crossed(e, thresholds.record_failures, max_attempts)
    ]
    return run_alerts(summary, thresholds, hour_requests=sum(r.requests for r in hour),
                      hour_rate_limited=sum(r.rate_limited for r in hour), repeated_failures=repeated)
