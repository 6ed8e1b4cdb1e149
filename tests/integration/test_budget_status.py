"""`budget status` against the sandbox: the shared Notion budget and Salesforce's daily API usage."""

from __future__ import annotations

import json

import pytest

from sf_notion_sync.airflow.budget import budget_status, format_status
from sf_notion_sync.airflow.hooks import NotionHook
from sf_notion_sync.cli import main
from sf_notion_sync.sandbox.run import start


@pytest.fixture
def sandbox_env(tmp_path, monkeypatch):
    with start(tmp_path / "sandbox", accounts=20, contacts=5, opportunities=5, notion_window_requests=120,
               notion_window_s=10, notion_latency_ms=0, daily_limit=5000) as box:
        for key, value in box.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("AIRFLOW_CONN_SYNC_STATE_DB", f"sqlite:///{tmp_path / 'state.db'}")
        from sf_notion_sync.state.db import upgrade

        upgrade(f"sqlite:///{tmp_path / 'state.db'}")
        yield box


def test_reports_both_budgets_and_a_shared_pause(sandbox_env):
    report = budget_status()
    notion, salesforce = report["notion"], report["salesforce"]
    assert (notion["requests"], notion["window_s"], notion["rate"]) == (120, 10.0, 12.0) and not notion["paused"]
    assert (notion["used"], notion["available_tokens"], notion["budget_factor"]) == (0, 120, 1.0)
    assert salesforce["limit"] == 5000 and 0 < salesforce["used"] < 50 and "error" not in salesforce

    limiter = NotionHook().get_limiter()  # another worker on the same token hits a 429
    limiter.pause(30, "workspace")
    limiter.close()
    paused = budget_status()["notion"]
    assert paused["paused"] and paused["last_429_reason"] == "workspace"
    assert 25 < paused["paused_until"] - paused["now"] <= 30
    assert paused["budget_factor"] < 1 and paused["effective_requests"] < 120  # the workspace's cut
    text = format_status(budget_status())
    assert "paused          yes, until" in text and "daily API" in text
    assert "budget          120 requests per 10 s (12.00 req/s)" in text and "workspace cut x0.75" in text
    assert "last 429" in text and "(workspace)" in text
    assert sandbox_env.notion_token not in text and sandbox_env.session_id not in text


def test_cli_prints_json_without_secrets(sandbox_env, capsys):
    assert main(["budget", "status", "--json"]) == 0
    out = capsys.readouterr().out
    report = json.loads(out)
    assert report["notion"]["key"] and report["salesforce"]["remaining"] > 0
    assert sandbox_env.notion_token not in out and sandbox_env.session_id not in out
