"""Delivers alerts through Airflow: email with the SMTP provider, and a JSON POST to a webhook connection.

`SyncAlertNotifier` is an Airflow notifier, usable as a DAG's `on_failure_callback`; `deliver()`
sends alerts decided by sf_notion_sync.alerts from inside a task. Delivery failures are logged and
never fail the sync itself.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseNotifier

from sf_notion_sync.alerts import Alert, dag_failure_alert
from sf_notion_sync.config import AlertSettings

log = logging.getLogger(__name__)

DEFAULT_FROM = "sf-notion-sync@localhost"
"""Sender when the SMTP connection sets no `from_email` extra (SmtpHook would refuse to send)."""


def deliver(alerts: Sequence[Alert], settings: AlertSettings, *, smtp_conn_id: str | None = None) -> dict[str, int]:
    """Send each alert to every configured channel; returns how many were sent per channel."""
    sent = {"email": 0, "webhook": 0}
    for alert in alerts:
        if settings.emails:
            try:
                _send_email(alert, settings.emails, smtp_conn_id)
                sent["email"] += 1
            except Exception:
                log.exception("alert %s: email to %s failed", alert.kind, ", ".join(settings.emails))
        if settings.webhook_conn_id:
            try:
                _post_webhook(alert, settings.webhook_conn_id)
                sent["webhook"] += 1
            except Exception as exc:  # not its message: a webhook URL's path is often its secret
                status = getattr(getattr(exc, "response", None), "status_code", None)
                log.warning("alert %s: webhook %s failed: %s%s", alert.kind, settings.webhook_conn_id,
                            type(exc).__name__, f" (HTTP {status})" if status else "")
    return sent


def _send_email(alert: Alert, recipients: Sequence[str], smtp_conn_id: str | None) -> None:
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    body = "<pre>" + html.escape(alert.as_text()) + "</pre>"
    with SmtpHook(smtp_conn_id=smtp_conn_id or SmtpHook.default_conn_name) as smtp:
        smtp.send_email_smtp(to=list(recipients), subject=alert.subject, html_content=body,
                             from_email=smtp.from_email or DEFAULT_FROM)


def _post_webhook(alert: Alert, conn_id: str) -> None:
    import httpx
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    response = httpx.post(webhook_url(conn), json=alert.as_payload(), headers=_bearer(conn.password), timeout=15)
    response.raise_for_status()


def webhook_url(conn: Any) -> str:
    """An HTTP connection as a URL: host (with or without a scheme; schema defaults to https), port,
    and the `endpoint` extra as the path."""
    host = conn.host or ""
    scheme, _, rest = host.rpartition("://")
    netloc, _, base_path = rest.partition("/")
    if conn.port and ":" not in netloc:
        netloc = f"{netloc}:{conn.port}"
    path = "/".join(p.strip("/") for p in (base_path, (conn.extra_dejson or {}).get("endpoint", "")) if p.strip("/"))
    return f"{scheme or conn.schema or 'https'}://{netloc}/{path}"


def _bearer(password: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {password}"} if password else {}


class SyncAlertNotifier(BaseNotifier):
    """DAG-run failure alert (the fourth condition), to the recipients of the object's config."""

    template_fields = ()

    def __init__(self, settings: AlertSettings, smtp_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.smtp_conn_id = smtp_conn_id

    def notify(self, context: Any) -> None:
        """Airflow 3 gives a DAG callback either a full task context (the last failed task's) or only
        `dag`, `run_id` and `reason`; both name the DAG run."""
        dag_run, dag = context.get("dag_run"), context.get("dag")
        ti = context.get("ti") or context.get("task_instance")
        dag_id = getattr(dag_run, "dag_id", None) or getattr(dag, "dag_id", None) or "?"
        run_id = getattr(dag_run, "run_id", None) or context.get("run_id") or "?"
        failed = [ti.task_id] if ti is not None else []
        reason = str(context.get("exception") or context.get("reason") or "see the task logs")
        alert = dag_failure_alert(dag_id, run_id, failed, reason)
        deliver([alert], self.settings, smtp_conn_id=self.smtp_conn_id)
