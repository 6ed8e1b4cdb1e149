"""Contract tests on every Notion-Version the emulator serves: the real notion-client 3.1, unmodified,
for the version shapes, the 25-reference cut and the property-item endpoint, the filter nesting limit,
the query lag and the writes that answer 503 after they were saved."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from notion_client import APIResponseError, Client
from notion_client.client import ClientOptions
from notion_client.helpers import collect_paginated_api

from sf_notion_sync.sandbox.notion_emulator.versions import SUPPORTED

TOKEN = "secret_sandbox"
SCHEMA = {
    "Name": {"type": "title"},
    "SF Id": {"type": "rich_text"},
    "Amount": {"type": "number"},
    "Parent": {"type": "relation"},
}
NEW = ("2026-03-11", "2026-12-01")

pytestmark = pytest.mark.parametrize("version", SUPPORTED)


@pytest.fixture
def emu(notion_emulator):
    return notion_emulator(tokens=[TOKEN], rate=0)


@pytest.fixture
def ds(emu):
    return emu.create_database("Accounts", SCHEMA)["data_source_id"]


def client(server, version: str) -> Client:
    return Client(
        options=ClientOptions(
            base_url=server.base_url, auth=TOKEN, retry=False, timeout_ms=5_000, notion_version=version
        )
    )


def title(text: str) -> dict:
    return {"title": [{"text": {"content": text}}]}


def create(notion: Client, ds: str, name: str, **props) -> dict:
    return notion.pages.create(parent={"data_source_id": ds}, properties={"Name": title(name), **props})


def ids_of(response: dict) -> list[str]:
    return [p["id"] for p in response["results"]]


def prop_ids(notion: Client, ds: str) -> dict[str, str]:
    return {name: p["id"] for name, p in notion.data_sources.retrieve(ds)["properties"].items()}


# -- shapes per version ------------------------------------------------------------------------


def test_page_lifecycle_in_the_version_shape(server, emu, ds, version):
    notion = client(server, version)
    legacy = version not in NEW
    page = create(notion, ds, "Acme", Amount={"number": 1})
    got = notion.pages.retrieve(page["id"])
    updated = notion.pages.update(page["id"], properties={"Amount": {"number": 2}})
    trashed = notion.pages.update(page["id"], in_trash=True)
    source = notion.data_sources.retrieve(ds)
    database = notion.databases.retrieve(source["parent"]["database_id"])
    for obj in (page, got, updated, trashed, source, database):
        assert ("archived" in obj) is legacy
        assert obj["in_trash"] is (obj is trashed)
    assert updated["properties"]["Amount"]["number"] == 2
    assert notion.data_sources.query(ds)["results"] == []
    restored = notion.pages.update(page["id"], in_trash=False)
    [found] = notion.data_sources.query(ds)["results"]
    assert found["id"] == page["id"] and ("archived" in found) is legacy and ("archived" in restored) is legacy


def test_archived_in_a_request_body_is_refused_from_2026_03_11(server, ds, version):
    notion = client(server, version)
    page = create(notion, ds, "Acme")
    if version not in NEW:
        assert notion.pages.update(page["id"], archived=True)["in_trash"] is True
        assert notion.data_sources.update(ds, archived=False)["in_trash"] is False
        return
    for call in (
        lambda: notion.pages.update(page["id"], archived=True),
        lambda: notion.data_sources.update(ds, archived=False),
    ):
        with pytest.raises(APIResponseError) as err:
            call()
        assert err.value.status == 400 and err.value.code == "validation_error"
        assert "body.archived" in str(err.value) and "in_trash" in str(err.value)
    assert notion.pages.retrieve(page["id"])["in_trash"] is False


def test_an_unknown_version_is_refused_naming_the_header(server, version):
    assert client(server, version).users.me()["type"] == "bot"
    for other in ("2022-06-28", "2026-12-02", "latest"):
        with pytest.raises(APIResponseError) as err:
            client(server, other).users.me()
        assert err.value.status == 400 and err.value.code == "validation_error"
        assert "Notion-Version" in str(err.value) and other in str(err.value)
    missing = httpx.get(f"{server.url}/v1/users/me", headers={"Authorization": f"Bearer {TOKEN}"})
    assert missing.status_code == 400 and missing.json()["code"] == "missing_version"


def test_query_properties_follow_the_version_and_filter_properties(server, ds, version):
    notion = client(server, version)
    create(notion, ds, "Acme", **{"SF Id": {"rich_text": [{"text": {"content": "001"}}]}, "Amount": {"number": 5}})
    ids = prop_ids(notion, ds)

    def names(**kwargs) -> set[str]:
        return set(notion.data_sources.query(ds, **kwargs)["results"][0]["properties"])

    everything = set(SCHEMA)
    assert names() == ({"Name"} if version == "2026-12-01" else everything)
    wanted = [ids["SF Id"], ids["Amount"]]
    expected = {"SF Id", "Amount"} | ({"Name"} if version == "2026-12-01" else set())
    assert names(filter_properties=wanted) == expected
    assert names(filter_properties=["SF Id", "Amount"]) == expected - {"SF Id", "Amount"}  # names are not ids
    via_request = notion.request(
        path=f"data_sources/{ds}/query", method="POST", query={"filter_properties": wanted}, body={}
    )
    assert set(via_request["results"][0]["properties"]) == expected
    bracketed = httpx.post(
        f"{server.url}/v1/data_sources/{ds}/query",
        params=[("filter_properties[]", i) for i in wanted],
        json={},
        headers={"Authorization": f"Bearer {TOKEN}", "Notion-Version": version},
    )
    assert set(bracketed.json()["results"][0]["properties"]) == expected
    assert set(notion.pages.retrieve(via_request["results"][0]["id"])["properties"]) == everything


# -- relations: 25 in a page object, the rest through the property-item endpoint ----------------


def test_relations_are_cut_at_25_and_paged_by_the_property_endpoint(server, emu, ds, version):
    emu.store.data_sources[ds]["properties"]["Parent"]["id"] = "a%2Fb%3A"  # an id that needs its encoding
    emu.seed_pages(ds, [{"Name": title(f"target {i}")} for i in range(60)])
    notion = client(server, version)
    targets = ids_of(notion.data_sources.query(ds, page_size=60))
    page = create(notion, ds, "hub", Parent={"relation": [{"id": t} for t in targets]})
    views = [
        page,
        notion.pages.retrieve(page["id"]),
        notion.pages.update(page["id"], properties={"Amount": {"number": 1}}),
        notion.data_sources.query(
            ds, filter={"property": "Name", "title": {"equals": "hub"}}, filter_properties=["a%2Fb%3A"]
        )["results"][0],
    ]
    for view in views:
        relation = view["properties"]["Parent"]
        assert relation["id"] == "a%2Fb%3A" and relation["has_more"] is True
        assert [r["id"] for r in relation["relation"]] == targets[:25]

    first = notion.pages.properties.retrieve(page_id=page["id"], property_id="a%2Fb%3A", page_size=25)
    assert first["object"] == "list" and first["type"] == "property_item" and first["has_more"] is True
    assert first["results"][0] == {
        "object": "property_item", "id": "a%2Fb%3A", "type": "relation", "relation": {"id": targets[0]},
    }
    assert first["property_item"]["id"] == "a%2Fb%3A" and first["property_item"]["type"] == "relation"
    assert first["property_item"]["relation"] == {}
    assert first["property_item"]["next_url"].startswith(f"{server.url}/v1/pages/{page['id']}/properties/")
    seen = [r["relation"]["id"] for r in first["results"]]
    cursor = first["next_cursor"]
    while cursor:
        more = notion.pages.properties.retrieve(
            page_id=page["id"], property_id="a%2Fb%3A", page_size=25, start_cursor=cursor
        )
        seen += [r["relation"]["id"] for r in more["results"]]
        cursor = more["next_cursor"]
    assert seen == targets and more["has_more"] is False and more["property_item"]["next_url"] is None
    everything = collect_paginated_api(notion.pages.properties.retrieve, page_id=page["id"], property_id="a%2Fb%3A")
    assert [r["relation"]["id"] for r in everything] == targets


def test_the_property_endpoint_for_other_types_and_bad_requests(server, ds, version):
    notion = client(server, version)
    page = create(notion, ds, "Acme", Amount={"number": 7})
    ids = prop_ids(notion, ds)
    amount = notion.pages.properties.retrieve(page_id=page["id"], property_id=ids["Amount"])
    assert {k: v for k, v in amount.items() if k != "request_id"} == {
        "object": "property_item", "id": ids["Amount"], "type": "number", "number": 7,
    }
    name = notion.pages.properties.retrieve(page_id=page["id"], property_id="title")
    assert name["object"] == "list" and name["results"][0]["title"]["plain_text"] == "Acme"
    empty = notion.pages.properties.retrieve(page_id=page["id"], property_id=ids["Parent"])
    assert empty["results"] == [] and empty["has_more"] is False and empty["next_cursor"] is None
    for kwargs, code in (
        ({"property_id": "nope"}, "object_not_found"),
        ({"property_id": "Amount"}, "object_not_found"),  # a name is not an id
        ({"property_id": "title", "page_size": 101}, "validation_error"),
        ({"property_id": "title", "page_size": 0}, "validation_error"),
        ({"property_id": "title", "start_cursor": "bogus"}, "validation_error"),
    ):
        with pytest.raises(APIResponseError) as err:
            notion.pages.properties.retrieve(page_id=page["id"], **kwargs)
        assert err.value.code == code


# -- filters nest at most two levels ------------------------------------------------------------


def test_compound_filters_nest_two_levels_not_three(server, ds, version):
    notion = client(server, version)
    create(notion, ds, "Acme", Amount={"number": 5})
    leaf = {"property": "Amount", "number": {"equals": 5}}
    two = {"and": [{"or": [leaf, {"property": "Name", "title": {"equals": "x"}}]}, leaf]}
    assert len(notion.data_sources.query(ds, filter=two)["results"]) == 1
    three = {"and": [{"or": [{"and": [leaf]}]}]}
    with pytest.raises(APIResponseError) as err:
        notion.data_sources.query(ds, filter=three)
    assert err.value.status == 400 and err.value.code == "validation_error"
    assert "body.filter.and[0].or[0].and" in str(err.value) and "2 levels" in str(err.value)


# -- query lag ------------------------------------------------------------------------------------


def test_a_new_page_reaches_queries_only_after_the_lag(server, emu, ds, version):
    emu.seed_pages(ds, [{"Name": title(f"old {i}")} for i in range(3)])
    notion = client(server, version)
    assert len(notion.data_sources.query(ds, page_size=2)["results"]) == 2  # a cursor chain is cached
    httpx.patch(f"{server.url}/_sandbox/config", json={"query_lag_s": 1.5}).raise_for_status()
    started = time.monotonic()
    page = create(notion, ds, "fresh")
    by_name = {"property": "Name", "title": {"equals": "fresh"}}
    assert notion.data_sources.query(ds, filter=by_name)["results"] == []
    assert page["id"] not in ids_of(notion.data_sources.query(ds))
    assert notion.pages.retrieve(page["id"])["id"] == page["id"]  # GET sees it at once
    while not notion.data_sources.query(ds, filter=by_name)["results"]:
        assert time.monotonic() - started < 10, "the page never reached the query results"
        time.sleep(0.1)
    assert time.monotonic() - started >= 1.4
    everything = collect_paginated_api(notion.data_sources.query, data_source_id=ds, page_size=2)
    assert page["id"] in {p["id"] for p in everything} and len(everything) == 4


# -- writes answering 503 after they were saved --------------------------------------------------


def test_committed_503_stores_the_write_and_names_the_page(server, emu, ds, version):
    notion = client(server, version)
    page = create(notion, ds, "Acme", Amount={"number": 1})
    emu.config.patch({"faults": {"committed_503": 1.0}})
    assert notion.users.me()["type"] == "bot"  # reads are not hit
    with pytest.raises(APIResponseError) as err:
        create(notion, ds, "ghost")
    body = json.loads(err.value.body)
    assert err.value.status == 503 and err.value.code == "service_unavailable"
    assert set(body) == {"object", "status", "code", "message", "request_id", "additional_data"}
    assert body["additional_data"]["retry_guidance"] == "do_not_retry"
    committed_id = body["additional_data"]["committed_resource_id"]
    assert err.value.additional_data == body["additional_data"]
    with pytest.raises(APIResponseError) as err:
        notion.pages.update(page["id"], properties={"Amount": {"number": 2}})
    assert json.loads(err.value.body)["additional_data"] == {
        "retry_guidance": "do_not_retry", "committed_resource_id": page["id"],
    }
    emu.config.patch({"faults": {"committed_503": 0.0}})
    assert notion.pages.retrieve(committed_id)["properties"]["Name"]["title"][0]["plain_text"] == "ghost"
    assert notion.pages.retrieve(page["id"])["properties"]["Amount"]["number"] == 2


def test_committed_503_silent_stores_the_write_without_saying_so(server, emu, ds, version):
    script = {"responses": [{"fault": "committed_503_silent", "method": "POST", "path_prefix": "/v1/pages"}]}
    assert httpx.post(f"{server.url}/_sandbox/script", json=script).json() == {"pending": 1}
    notion = client(server, version)
    with pytest.raises(APIResponseError) as err:
        create(notion, ds, "unknown outcome")
    body = json.loads(err.value.body)
    assert err.value.status == 503 and body["code"] == "service_unavailable" and "additional_data" not in body
    dump = httpx.get(f"{server.url}/_sandbox/data_sources/{ds}/pages").json()
    assert [p["properties"]["Name"]["title"][0]["plain_text"] for p in dump["pages"]] == ["unknown outcome"]
    script = {"responses": [{"fault": "committed_503", "method": "PATCH"}]}
    httpx.post(f"{server.url}/_sandbox/script", json=script).raise_for_status()
    page_id = dump["pages"][0]["id"]
    with pytest.raises(APIResponseError) as err:
        notion.pages.update(page_id, in_trash=True)
    assert err.value.additional_data["committed_resource_id"] == page_id
    assert notion.pages.retrieve(page_id)["in_trash"] is True
