"""Issue 7 end to end, without a scheduler: recovery by retry runs, the dead letter, usage rollups and alerts.

The Notion emulator fails ~30% of requests (429, 529, 5xx, hangs past the client timeout, dropped
connections, creates whose answer is lost). A full sync is followed by retry runs driven as the
sf_notion_retry DAG drives them (select_due -> extract_to_staging(record_ids) -> plan -> sync_batch ->
finish + alerts), each on a clock one day later so every backoff has passed without waiting. Alerts
go to a real SMTP server (aiosmtpd) and an HTTP webhook receiver, both on loopback.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from sf_notion_sync.airflow.notifiers import SyncAlertNotifier, deliver
from sf_notion_sync.alerts import alerts_after_run
from sf_notion_sync.local.runtime import free_port
from sf_notion_sync.notion.usage import UsageRecorder, sql_usage_sink, template_endpoint
from sf_notion_sync.state.models import STATUS_DEAD
from sf_notion_sync.state.store import StateStore
from sf_notion_sync.sync import (
    SyncContext,
    extract_to_staging,
    finish_run,
    plan_batches,
    preflight,
    sync_batch,
)
from sf_notion_sync.sync.retry import select_due
from tests.integration._webhook import WebhookReceiver
from tests.integration.test_sync_engine_e2e import (  # noqa: F401 (sandbox: the fixture)
    ACCOUNTS,
    CONFIG,
    Sandbox,
    _text,
    make_store,
    sandbox,
)

FAULTS = {"429": 0.06, "529": 0.04, "500": 0.04, "502": 0.03, "503": 0.03, "504": 0.02,
          "hang": 0.02, "drop": 0.03, "lost_create": 0.03}
REJECTED = 3  # page creates the emulator refuses with validation_error
MAX_ROUNDS = 25
WEBHOOK_TOKEN = "webhook-test-token"
ALERTS = """defaults:
  retry: {base_seconds: 60, factor: 2.0, cap_seconds: 3600, max_attempts: 25, jitter: 0.1}
  alerts:
    emails: [ops@example.com]
    webhook_conn_id: alert_webhook
    thresholds: {record_failures: 3, rate_limited_share: 0.05, run_failure_pct: 1.0}
"""


class Mailbox:
    """aiosmtpd handler: keeps every message delivered to it."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 OK"

    def subjects(self) -> list[str]:
        return [str(message["Subject"]) for _, message in self.messages]


@pytest.fixture
def mailbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps({
        "conn_type": "smtp", "host": "127.0.0.1", "port": port,
        "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "sync@example.com"}}))
    yield box
    controller.stop()


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    with WebhookReceiver() as receiver:
        monkeypatch.setenv("AIRFLOW_CONN_ALERT_WEBHOOK", receiver.connection(WEBHOOK_TOKEN))
        yield receiver.received


def _with_alerts(path: Path) -> Path:
    path.write_text(path.read_text().replace("defaults:\n", ALERTS, 1))
    return path


class SkippedTime:
    """A clock that jumps over every sleep instead of waiting it out: the client's backoffs and the
    limiter's pauses (a scripted 429 pauses the budget for its Retry-After) pass at once, in order."""

    def __init__(self) -> None:
        self.skipped = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.time() + self.skipped

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.skipped += max(0.0, seconds)


def _client_options(usage: UsageRecorder) -> dict[str, Any]:
    """Faults surface as record failures (one attempt for writes, no real waiting on Retry-After in the
    worker), hangs are cut at 1 s, and every request is counted into api_usage."""
    skipped = SkippedTime()
    return {"usage": usage, "max_attempts": 2, "max_rate_limited": 1, "read_timeout_s": 1.0,
            "defer_threshold_s": 1e9, "sleep": skipped.sleep, "clock": skipped.now}


def _run(ctx: SyncContext, record_ids: list[str] | None = None) -> tuple[dict[str, Any], dict[str, int]]:
    """One run as the DAG's tasks do it (extract or stage_due, plan, each batch, finish + alerts)."""
    extract_to_staging(ctx, record_ids=record_ids)
    for batch in plan_batches(ctx):
        outcome = sync_batch(ctx, json.loads(json.dumps(batch)))
        assert outcome.done, outcome.to_dict()
    summary = finish_run(ctx)
    run = ctx.store.get_run(ctx.run_id)
    alerts = alerts_after_run(ctx.store, ctx.obj, summary, run.started_at,
                              max_attempts=ctx.config.defaults.retry.max_attempts)
    sent = deliver(alerts, ctx.obj.alerts) if alerts else {}
    return {**summary, "alert_kinds": [a.kind for a in alerts]}, sent


def _emulator_counts(box: Sandbox, since: float) -> Counter[tuple[str, int]]:
    log = box.control(box.notion_url, "GET", f"/_sandbox/requests?since={since}")
    return Counter((template_endpoint(r["method"], r["path"]), r["status"]) for r in log)


def _usage_counts(store: StateStore, since: datetime) -> Counter[tuple[str, int]]:
    """Summed over the hourly buckets: a run that crosses an hour has two rows per key."""
    counts: Counter[tuple[str, int]] = Counter()
    for r in store.usage_rollup(since, by=("endpoint", "status"), api="notion", dag_id="e2e"):
        counts[(r.key[0], r.key[1])] += r.requests
    return counts


def test_faulty_notion_recovers_by_retry_runs_with_usage_and_alerts(
    sandbox: Sandbox, mailbox: Mailbox, webhook: list[dict[str, Any]],  # noqa: F811 (the imported fixture)
) -> None:
    _with_alerts(sandbox.tmp / "sync.yaml")
    store = make_store(sandbox.state_url)
    started, started_at = time.time(), datetime.now(UTC)
    usage = UsageRecorder(sql_usage_sink(store.engine), dag_id="e2e")
    options = _client_options(usage)
    data_source = preflight(sandbox.context("full", store, client=options))["data_source_id"]

    sandbox.notion_config({"faults": FAULTS, "hang_seconds": 1.5})
    sandbox.script({"status": 400, "method": "POST", "path_prefix": "/v1/pages", "count": REJECTED,
                    "message": "body failed validation: emulator refuses this page"})
    full, sent = _run(sandbox.context("full", store, client=options, data_source_id=data_source))
    assert full["failed"] >= ACCOUNTS * 0.05, f"the faults did not bite: {full}"
    assert full["rate_limited_429s"] > 0
    assert {"run_failures", "record_failures"} <= set(full["alert_kinds"])
    assert sent == {"email": len(full["alert_kinds"]), "webhook": len(full["alert_kinds"])}

    rounds = []
    for day in range(1, MAX_ROUNDS + 1):
        later = datetime.now(UTC) + timedelta(days=day)  # every backoff (cap 1 h) has passed
        ctx = sandbox.context(f"retry-{day}", store, client=options, clock=lambda at=later: at)
        due = select_due(ctx)
        if not due:
            break
        summary, _ = _run(ctx, due)
        assert summary["kind"] == "records" and "run_failures" not in summary["alert_kinds"]
        rounds.append((len(due), summary["failed"]))
    else:
        pytest.fail(f"records still due after {MAX_ROUNDS} retry runs: {rounds}")
    sandbox.notion_config({"faults": dict.fromkeys(FAULTS, 0.0)})

    # recovery: nothing open but the validation rejections, which are Dead with their reason
    open_failures = store.open_failures("Account")
    assert len(open_failures) == REJECTED, rounds
    for entry in open_failures.values():
        assert (entry.status, entry.fatal, entry.error_code) == (STATUS_DEAD, True, "validation_error")
        assert "emulator refuses this page" in entry.error_message
    assert store.open_intents("Account") == []
    pages = Counter(_text(p["properties"]["Salesforce Id"]) for p in sandbox.pages())
    assert len(pages) == ACCOUNTS - REJECTED and max(pages.values()) == 1, "duplicate or missing pages"
    assert not set(pages) & set(open_failures)

    # the mail and the webhook both carry each alert; the dead letters are named
    record_mails = [m for _, m in mailbox.messages if "are dead" in str(m["Subject"])]
    assert record_mails and all(rcpt == ["ops@example.com"] for rcpt, _ in mailbox.messages)
    body = "".join(part.get_payload(decode=True).decode() for part in record_mails[0].walk()
                   if part.get_content_type() == "text/html")
    assert all(sf_id in body for sf_id in open_failures) and "validation_error" in body
    assert len(webhook) == len(mailbox.messages)
    assert all(w["path"] == "/hooks/sync" and w["auth"] == f"Bearer {WEBHOOK_TOKEN}" for w in webhook)
    assert {w["body"]["subject"] for w in webhook} == set(mailbox.subjects())

    # usage rollups equal the emulator's own request log, per endpoint and status
    usage.flush()
    expected: Counter[tuple[str, int]] = Counter()
    for _ in range(100):  # a hung request is logged when the emulator gives up on it (hang_seconds)
        expected = _emulator_counts(sandbox, started)
        if expected == _usage_counts(store, started_at):
            break
        time.sleep(0.1)
    assert _usage_counts(store, started_at) == expected
    statuses = {status for _, status in expected}
    assert {429, 529, 0, 400, 200} <= statuses and statuses & {500, 502, 503, 504}
    daily = store.usage_rollup(started_at, granularity="day", by=("dag_id",), api="notion")
    assert sum(r.requests for r in daily) == sum(expected.values())
    assert sum(r.rate_limited for r in daily) == sum(n for (_, s), n in expected.items() if s in (429, 529))
    assert sum(r.errors for r in daily) == sum(n for (_, s), n in expected.items() if s == 0 or s >= 400)


def test_dag_failure_notifier_sends_email_and_webhook(
    tmp_path: Path, mailbox: Mailbox, webhook: list[dict[str, Any]]
) -> None:
    """The DAGs' on_failure_callback, called with the minimal context Airflow 3 gives a DAG callback."""
    from sf_notion_sync.airflow.dag_factory import RETRY_DAG_ID, build_dags
    from sf_notion_sync.config import load_config

    config = tmp_path / "sync.yaml"
    config.write_text(CONFIG % {"database_id": uuid.uuid4().hex, "contact_database_id": uuid.uuid4().hex})
    dags = build_dags(load_config(_with_alerts(config)))
    for dag in dags.values():
        callbacks = dag.on_failure_callback if isinstance(dag.on_failure_callback, list) else [dag.on_failure_callback]
        assert any(isinstance(c, SyncAlertNotifier) for c in callbacks), dag.dag_id
    retry = dags[RETRY_DAG_ID]
    assert "purge_usage" in retry.task_ids

    notifier = retry.on_failure_callback
    notifier = next(c for c in notifier if isinstance(c, SyncAlertNotifier)) if isinstance(notifier, list) else notifier
    notifier({"dag": retry, "run_id": "scheduled__2026-01-01T00:00:00", "reason": "task_failure"})
    assert mailbox.subjects() == [f"[sf-notion-sync] DAG {RETRY_DAG_ID} failed (run scheduled__2026-01-01T00:00:00)"]
    assert [w["body"]["kind"] for w in webhook] == ["dag_failed"]
    assert webhook[0]["body"]["facts"]["dag_id"] == RETRY_DAG_ID
