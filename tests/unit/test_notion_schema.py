"""Database -> data source resolution (cached) and the schema preflight."""

import httpx
import pytest

from sf_notion_sync.notion import schema
from sf_notion_sync.notion.client import ThrottledNotionClient
from sf_notion_sync.notion.errors import SchemaMismatchError
from sf_notion_sync.notion.limiter import build_limiter

DB, DS = "d" * 32, "e" * 32
PROPS = {"Name": {"type": "title"}, "SF Id": {"type": "rich_text"}, "Amount": {"type": "number"}, "Email": {"type": "email"}}


@pytest.fixture
def client():
    calls = []

    def transport(request):
        calls.append(request.url.path)
        if request.url.path == f"/v1/databases/{DB}":
            return httpx.Response(200, json={"object": "database", "id": DB, "data_sources": [{"id": DS, "name": "x"}]})
        return httpx.Response(200, json={"object": "data_source", "id": DS, "properties": PROPS})

    schema.clear_cache()
    c = ThrottledNotionClient(
        "secret_schema", base_url="https://notion.test", transport=httpx.MockTransport(transport),
        limiter=build_limiter("secret_schema", requests=100_000, window_s=1.0, burst=100_000, backend="local"),
    )  # fmt: skip
    c.calls = calls
    yield c
    c.close()
    schema.clear_cache()


def test_resolve_is_cached(client):
    assert schema.resolve_data_source_id(client, DB) == DS
    assert schema.resolve_data_source_id(client, DB) == DS
    assert client.calls == [f"/v1/databases/{DB}"]


def test_preflight_passes(client):
    mapping = {"Name": "title", "Amount": "number", "SF Id": "rich_text"}
    assert schema.preflight(client, DS, mapping, "SF Id")["id"] == DS


def test_preflight_lists_every_problem(client):
    mapping = {"Name": "title", "Amount": "rich_text", "Phone": "phone_number", "Stage": "formula", "email": "email"}
    with pytest.raises(SchemaMismatchError) as info:
        schema.preflight(client, DS, mapping, "Salesforce Id")
    text = str(info.value)
    assert len(info.value.problems) == 5
    assert "'Amount' is number, the mapping needs rich_text" in text
    assert "'Phone' (phone_number) is missing" in text
    assert "'Stage': the mapping's type 'formula' is not supported" in text
    assert "did you mean 'Email'?" in text
    assert "Salesforce Id property 'Salesforce Id' is missing" in text


def test_id_property_must_be_text():
    problems = schema.check_schema(PROPS, {}, "Amount")
    assert problems == ["the Salesforce Id property 'Amount' is number, it must be rich_text or title"]
