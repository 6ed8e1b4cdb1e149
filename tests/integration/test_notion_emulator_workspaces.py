"""The emulator's workspaces, as the real notion-client 3.1 meets them: a token belongs to a workspace
(users/me names it), a database shared with some integrations is 404 object_not_found to the others --
itself, its data source, its pages, creating under it -- and each workspace's budget is its tokens' own."""

from __future__ import annotations

import httpx
import pytest
from notion_client import APIResponseError, Client
from notion_client.client import ClientOptions

from sf_notion_sync.sandbox.notion_emulator.app import fingerprint

SHARED, UNSHARED, ELSEWHERE = "secret_ws_shared", "secret_ws_unshared", "secret_ws_elsewhere"
SCHEMA = {"Name": {"type": "title"}}


@pytest.fixture
def emu(notion_emulator):
    return notion_emulator(tokens=[SHARED, UNSHARED, ELSEWHERE],
                           token_workspaces={fingerprint(ELSEWHERE): "Other workspace"})


def client(server, auth: str) -> Client:
    return Client(options=ClientOptions(base_url=server.base_url, auth=auth, retry=False, timeout_ms=5_000))


def not_found(call) -> str:
    with pytest.raises(APIResponseError) as err:
        call()
    assert (err.value.status, err.value.code) == (404, "object_not_found")
    assert "shared with your integration" in str(err.value)
    return str(err.value)


def title(name: str) -> dict:
    return {"Name": {"title": [{"text": {"content": name}}]}}


def test_a_database_shared_with_one_integration_does_not_exist_for_another(server, emu):
    made = emu.create_database("Accounts", SCHEMA)
    database, source = made["database_id"], made["data_source_id"]
    httpx.patch(f"{server.url}/_sandbox/config", json={"shared_with": {database: [fingerprint(SHARED)]}},
                timeout=10).raise_for_status()
    owner, stranger = client(server, SHARED), client(server, UNSHARED)
    page = owner.pages.create(parent={"data_source_id": source}, properties=title("Acme"))
    assert owner.databases.retrieve(database_id=database)["id"] == database
    assert owner.data_sources.query(data_source_id=source)["results"][0]["id"] == page["id"]
    assert database in not_found(lambda: stranger.databases.retrieve(database_id=database))
    not_found(lambda: stranger.data_sources.retrieve(data_source_id=source))
    not_found(lambda: stranger.data_sources.query(data_source_id=source))
    not_found(lambda: stranger.pages.create(parent={"data_source_id": source}, properties=title("Intruder")))
    assert page["id"] in not_found(lambda: stranger.pages.retrieve(page_id=page["id"]))
    not_found(lambda: stranger.pages.update(page_id=page["id"], properties=title("Renamed")))
    assert owner.pages.retrieve(page_id=page["id"])["properties"]["Name"]["title"][0]["plain_text"] == "Acme"
    assert len(owner.data_sources.query(data_source_id=source)["results"]) == 1  # nothing created by the other
    httpx.patch(f"{server.url}/_sandbox/config", json={"shared_with": {}}, timeout=10).raise_for_status()
    assert stranger.databases.retrieve(database_id=database)["id"] == database  # unlisted: shared with all


def test_users_me_names_each_tokens_workspace(server):
    one, two, other = (client(server, t).users.me()["bot"] for t in (SHARED, UNSHARED, ELSEWHERE))
    assert one["workspace_id"] == two["workspace_id"] != other["workspace_id"]
    assert (one["workspace_name"], other["workspace_name"]) == ("Sandbox workspace", "Other workspace")


def test_each_workspace_has_its_own_budget_shared_by_its_tokens(server):
    httpx.patch(f"{server.url}/_sandbox/config", json={"workspace_window_requests": 2, "workspace_window_s": 60},
                timeout=10).raise_for_status()
    first, second, other = client(server, SHARED), client(server, UNSHARED), client(server, ELSEWHERE)
    first.users.me(), second.users.me()
    for notion in (first, second):  # the workspace's two requests are spent, by either token
        with pytest.raises(APIResponseError) as err:
            notion.users.me()
        assert err.value.status == 429 and "public_api_space_request_rate_limit" in err.value.body
    other.users.me(), other.users.me()  # another workspace's budget is untouched


def test_the_config_refuses_bad_workspaces_and_sharing(server):
    for bad in ({"token_workspaces": {"nothex": "W"}}, {"token_workspaces": {fingerprint(SHARED): ""}},
                {"shared_with": {"not-a-uuid": [fingerprint(SHARED)]}},
                {"shared_with": {"0" * 32: ["secret_in_clear"]}}):
        answer = httpx.patch(f"{server.url}/_sandbox/config", json=bad, timeout=10)
        assert answer.status_code == 400, bad
