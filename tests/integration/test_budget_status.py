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
               notion_window_s=10, notion_latency_ms=0, daily_limit=5000, notion_connections=2) as box:
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


def test_an_object_with_two_connections_shows_each_and_their_workspace(sandbox_env, tmp_path, monkeypatch):
    import yaml

    from sf_notion_sync.config import config_path
    from sf_notion_sync.state.store import StateStore

    data = yaml.safe_load(config_path().read_text())
    data["objects"]["Account"]["notion"] = {"connections": ["notion_default", "notion_bulk_2"]}
    (tmp_path / "sync.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv("SF_NOTION_SYNC_CONFIG", str(tmp_path / "sync.yaml"))
    report = budget_status(salesforce_conn_id=None, object_name="Account")
    assert [c["connection"] for c in report["notion_connections"]] == ["notion_default", "notion_bulk_2"]
    assert len({c["key"] for c in report["notion_connections"]}) == 2  # one budget per token
    workspace = report["workspace"]
    assert workspace["source"] == "not yet known" and workspace["limit"] == 240  # the sum, until a 429 teaches it
    store = StateStore.from_url(f"sqlite:///{tmp_path / 'state.db'}", migrate=False)
    store.learn_limit(workspace["workspace"], 150, 10.0)
    learned = budget_status(salesforce_conn_id=None, object_name="Account")["workspace"]
    assert learned["source"] == "learned" and learned["learned"]["requests"] == 150
    assert learned["limit"] == 158  # the learned level plus the probe's headroom
    text = format_status(budget_status(salesforce_conn_id=None, object_name="Account"))
    assert "Notion (notion_bulk_2" in text and "(learned)" in text
    assert all(token not in text for token in (sandbox_env.notion_token, *sandbox_env.extra_notion_tokens))
