"""The package registers as an Airflow provider offering the `notion` connection type."""

from __future__ import annotations

from sf_notion_sync.provider_info import get_provider_info


def test_provider_info_is_valid_for_airflow():
    from airflow.providers_manager import ProvidersManager

    info = get_provider_info()
    ProvidersManager()._provider_schema_validator.validate(info)
    assert info["package-name"] == "sf-notion-sync"
    (conn_type,) = info["connection-types"]
    assert conn_type["connection-type"] == "notion"
    widgets = ProvidersManager().connection_form_widgets
    for field in ("notion_version", "budget_requests", "budget_window_s", "budget_rate", "budget_burst",
                  "workspace", "limiter_backend", "redis_conn_id", "fast_lane_share"):
        assert f"extra__notion__{field}" in widgets, f"the notion connection form lacks {field}"


def test_the_form_states_the_budget_by_plan_and_the_deprecated_alias():
    fields = get_provider_info()["connection-types"][0]["conn-fields"]
    assert "180" in fields["budget_requests"]["description"] and "600" in fields["budget_requests"]["description"]
    assert "Business" in fields["budget_requests"]["description"]
    for deprecated in ("budget_rate", "budget_burst"):
        assert "deprecated" in fields[deprecated]["label"].lower()
    assert "rate x window" in fields["budget_rate"]["description"]
    cap = fields["fast_lane_share"]
    assert (cap["schema"]["minimum"], cap["schema"]["maximum"]) == (0, 1) and "nothing is kept idle" in cap["description"]
    assert "workspace" in fields["workspace"]["description"]


def test_airflow_lists_provider_and_notion_connection_type():
    """What `airflow providers list` and `airflow providers hooks` print, read from the ProvidersManager
    they print it from (in process: two Airflow CLI subprocesses cost ~10 s of imports)."""
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert "sf-notion-sync" in manager.providers
    notion = manager.hooks["notion"]
    assert notion is not None and notion.hook_class_name == "sf_notion_sync.airflow.hooks.NotionHook"
