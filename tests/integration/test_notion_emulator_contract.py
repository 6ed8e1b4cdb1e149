"""Contract tests: the real notion-client 3.1, unmodified, against the Notion emulator on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from notion_client import APIResponseError, Client
from notion_client.client import ClientOptions
from notion_client.errors import RequestTimeoutError, UnknownHTTPResponseError
from notion_client.helpers import collect_paginated_api

from sf_notion_sync.sandbox.notion_emulator import NotionEmulator

TOKEN = "secret_sandbox"
SCHEMA = {
    "Name": {"type": "title"},
    "SF Id": {"type": "rich_text"},
    "Amount": {"type": "number"},
    "Stage": {"type": "select", "select": {"options": [{"name": "Open"}, {"name": "Won"}]}},
    "Tags": {"type": "multi_select"},
    "Close": {"type": "date"},
    "Active": {"type": "checkbox"},
    "Email": {"type": "email"},
    "Phone": {"type": "phone_number"},
    "Website": {"type": "url"},
    "Parent": {"type": "relation"},
}


def title(text: str) -> dict:
    return {"title": [{"text": {"content": text}}]}


def text(value: str) -> dict:
    return {"rich_text": [{"text": {"content": value}}]}


@pytest.fixture
def emu(notion_emulator):
    return notion_emulator(tokens=[TOKEN], rate=0)


@pytest.fixture
def ids(emu):
    return emu.create_database("Accounts", SCHEMA)


def client(server, auth: str | None = TOKEN, timeout_ms: int = 5_000) -> Client:
    return Client(
        options=ClientOptions(base_url=server.base_url, auth=auth, retry=False, timeout_ms=timeout_ms)
    )


def create(notion: Client, source_id: str, name: str, **props) -> dict:
    return notion.pages.create(
        parent={"data_source_id": source_id}, properties={"Name": title(name), **props}
    )


def control(server, method: str, path: str, body=None) -> httpx.Response:
    return httpx.request(method, f"{server.url}/_sandbox/{path}", json=body, timeout=10)


# -- objects -----------------------------------------------------------------------------------


def test_users_me_is_the_bot_of_the_token(server):
    me = client(server).users.me()
    assert me["object"] == "user" and me["type"] == "bot"
    assert me["bot"]["owner"] == {"type": "workspace", "workspace": True}
    assert me["request_id"]


def test_database_lists_its_data_source_and_the_schema_reads_back(server, ids):
    notion = client(server)
    database = notion.databases.retrieve(ids["database_id"])
    assert database["object"] == "database"
    assert database["data_sources"] == [{"id": ids["data_source_id"], "name": "Accounts"}]
    source = notion.data_sources.retrieve(ids["data_source_id"])
    assert source["object"] == "data_source"
    assert source["parent"] == {"type": "database_id", "database_id": ids["database_id"]}
    assert {name: prop["type"] for name, prop in source["properties"].items()} == {
        name: spec["type"] for name, spec in SCHEMA.items()
    }
    assert source["properties"]["Name"]["id"] == "title"
    assert [o["name"] for o in source["properties"]["Stage"]["select"]["options"]] == ["Open", "Won"]


def test_data_source_update_adds_renames_and_removes_properties(server, ids):
    notion = client(server)
    updated = notion.data_sources.update(
        ids["data_source_id"],
        title=[{"text": {"content": "Renamed"}}],
        properties={"Owner": {"rich_text": {}}, "Phone": None, "Amount": {"name": "Revenue"}},
    )
    props = updated["properties"]
    assert props["Owner"]["type"] == "rich_text"
    assert "Phone" not in props and "Amount" not in props
    assert props["Revenue"]["type"] == "number"
    assert notion.databases.retrieve(ids["database_id"])["data_sources"][0]["name"] == "Renamed"
    with pytest.raises(APIResponseError) as err:
        notion.data_sources.update(ids["data_source_id"], properties={"Nope": None})
    assert err.value.code == "validation_error" and "Nope" in str(err.value)


def test_page_create_retrieve_update_and_trash(server, ids):
    notion = client(server)
    page = create(
        notion,
        ids["data_source_id"],
        "Acme",
        **{
            "SF Id": text("001A"),
            "Amount": {"number": 12.5},
            "Stage": {"select": {"name": "Negotiation"}},
            "Tags": {"multi_select": [{"name": "a"}, {"name": "b"}]},
            "Close": {"date": {"start": "2024-05-01"}},
            "Active": {"checkbox": True},
            "Email": {"email": "x@example.com"},
            "Website": {"url": "https://acme.test"},
        },
    )
    assert page["object"] == "page"
    assert page["parent"] == {
        "type": "data_source_id",
        "data_source_id": ids["data_source_id"],
        "database_id": ids["database_id"],
    }
    assert page["in_trash"] is False and page["archived"] is False
    assert page["url"].endswith(page["id"].replace("-", ""))
    props = page["properties"]
    assert props["Name"]["type"] == "title" and props["Name"]["title"][0]["plain_text"] == "Acme"
    assert props["Amount"] == {"id": props["Amount"]["id"], "type": "number", "number": 12.5}
    assert props["Stage"]["select"]["name"] == "Negotiation"  # unknown options are added, as Notion does
    assert [o["name"] for o in props["Tags"]["multi_select"]] == ["a", "b"]
    assert props["Parent"]["relation"] == [] and props["Parent"]["has_more"] is False
    assert props["Phone"]["phone_number"] is None

    got = notion.pages.retrieve(page["id"])
    assert got["properties"] == props
    updated = notion.pages.update(page["id"], properties={"Amount": {"number": 99}})
    assert updated["properties"]["Amount"]["number"] == 99
    assert updated["properties"]["SF Id"]["rich_text"][0]["plain_text"] == "001A"

    trashed = notion.pages.update(page["id"], in_trash=True)
    assert trashed["in_trash"] is True and trashed["archived"] is True
    with pytest.raises(APIResponseError) as err:
        notion.pages.update(page["id"], properties={"Amount": {"number": 1}})
    assert err.value.code == "validation_error"
    restored = notion.pages.update(page["id"], archived=False)  # the legacy flag still works
    assert restored["in_trash"] is False
    assert notion.data_sources.query(ids["data_source_id"])["results"][0]["id"] == page["id"]


def test_trashed_pages_leave_queries_but_stay_in_the_control_dump(server, ids):
    notion = client(server)
    keep = create(notion, ids["data_source_id"], "keep")
    gone = create(notion, ids["data_source_id"], "gone")
    notion.pages.update(gone["id"], in_trash=True)
    assert [p["id"] for p in notion.data_sources.query(ids["data_source_id"])["results"]] == [keep["id"]]
    live = control(server, "GET", f"data_sources/{ids['data_source_id']}/pages").json()
    everything = control(
        server, "GET", f"data_sources/{ids['data_source_id']}/pages?include_trashed=1"
    ).json()
    assert live["count"] == 1 and everything["count"] == 2


# -- queries -----------------------------------------------------------------------------------


def _seed_for_filters(emu, ids):
    rows = [
        ("Acme", "001", 10, "Open", "2024-01-10"),
        ("Globex", "002", 20, "Won", "2024-02-10"),
        ("Initech", "003", 30, "Won", "2024-03-10"),
        ("Umbrella", "004", None, "Open", None),
    ]
    emu.seed_pages(
        ids["data_source_id"],
        [
            {
                "Name": title(n),
                "SF Id": text(s),
                "Amount": {"number": a},
                "Stage": {"select": {"name": st}},
                "Close": {"date": {"start": d} if d else None},
            }
            for n, s, a, st, d in rows
        ],
    )


def _names(response) -> list[str]:
    return [p["properties"]["Name"]["title"][0]["plain_text"] for p in response["results"]]


def test_query_filters(server, emu, ids):
    _seed_for_filters(emu, ids)
    notion = client(server)
    ds = ids["data_source_id"]

    def q(flt):
        return sorted(_names(notion.data_sources.query(ds, filter=flt)))

    assert q({"property": "Name", "title": {"equals": "Globex"}}) == ["Globex"]
    assert q({"property": "SF Id", "rich_text": {"equals": "003"}}) == ["Initech"]
    assert q({"property": "Amount", "number": {"equals": 10}}) == ["Acme"]
    assert q({"property": "Stage", "select": {"equals": "Won"}}) == ["Globex", "Initech"]
    assert q({"property": "Close", "date": {"on_or_after": "2024-02-10"}}) == ["Globex", "Initech"]
    assert q({"property": "Close", "date": {"after": "2024-02-10"}}) == ["Initech"]
    assert q({"property": "Close", "date": {"before": "2024-02-10"}}) == ["Acme"]
    assert q({"property": "Close", "date": {"on_or_before": "2024-02-10T00:00:00Z"}}) == ["Acme", "Globex"]
    assert q(
        {
            "and": [
                {"property": "Stage", "select": {"equals": "Won"}},
                {
                    "or": [
                        {"property": "Amount", "number": {"equals": 30}},
                        {"property": "Name", "title": {"equals": "Acme"}},
                    ]
                },
            ]
        }
    ) == ["Initech"]
    assert q(
        {
            "or": [
                {"property": "SF Id", "rich_text": {"equals": "001"}},
                {"property": "SF Id", "rich_text": {"equals": "004"}},
            ]
        }
    ) == [
        "Acme",
        "Umbrella",
    ]
    with pytest.raises(APIResponseError) as err:
        notion.data_sources.query(ds, filter={"property": "Missing", "rich_text": {"equals": "x"}})
    assert err.value.code == "validation_error" and "Missing" in str(err.value)
    with pytest.raises(APIResponseError) as err:
        notion.data_sources.query(ds, filter={"property": "Close", "date": {"after": "not a date"}})
    assert err.value.code == "validation_error"


def test_created_time_windows_and_timestamp_sorts(server, emu, ids):
    ds = ids["data_source_id"]
    emu.seed_pages(ds, [{"Name": title("old")}], created_at=1_700_000_000)  # 2023-11-14T22:13Z
    emu.seed_pages(ds, [{"Name": title("new")}], created_at=1_700_086_400)  # one day later
    notion = client(server)
    after = notion.data_sources.query(
        ds, filter={"timestamp": "created_time", "created_time": {"on_or_after": "2023-11-15T00:00:00Z"}}
    )
    assert _names(after) == ["new"]
    before = notion.data_sources.query(
        ds, filter={"timestamp": "created_time", "created_time": {"before": "2023-11-15"}}
    )
    assert _names(before) == ["old"]
    newest_first = notion.data_sources.query(
        ds, sorts=[{"timestamp": "created_time", "direction": "descending"}]
    )
    assert _names(newest_first) == ["new", "old"]
    assert newest_first["results"][1]["created_time"] == "2023-11-14T22:13:00.000Z"  # minute precision


def test_sorts_by_property(server, emu, ids):
    _seed_for_filters(emu, ids)
    notion = client(server)
    by_amount = notion.data_sources.query(
        ids["data_source_id"], sorts=[{"property": "Amount", "direction": "descending"}]
    )
    assert _names(by_amount) == ["Initech", "Globex", "Acme", "Umbrella"]  # empty last
    by_stage_then_name = notion.data_sources.query(
        ids["data_source_id"],
        sorts=[
            {"property": "Stage", "direction": "ascending"},
            {"property": "Name", "direction": "descending"},
        ],
    )
    assert _names(by_stage_then_name) == ["Umbrella", "Acme", "Initech", "Globex"]


def test_paging_with_cursors(server, emu, ids):
    ds = ids["data_source_id"]
    emu.seed_pages(ds, [{"Name": title(f"p{i:03d}")} for i in range(250)])
    notion = client(server)
    first = notion.data_sources.query(ds, page_size=100)
    assert len(first["results"]) == 100 and first["has_more"] is True and first["next_cursor"]
    second = notion.data_sources.query(ds, page_size=100, start_cursor=first["next_cursor"])
    assert second["results"][0]["id"] == first["next_cursor"]
    third = notion.data_sources.query(ds, page_size=100, start_cursor=second["next_cursor"])
    assert len(third["results"]) == 50 and third["has_more"] is False and third["next_cursor"] is None
    everything = collect_paginated_api(notion.data_sources.query, data_source_id=ds)
    assert len({p["id"] for p in everything}) == 250
    assert "request_status" not in first
    for bad in (101, 0):
        with pytest.raises(APIResponseError) as err:
            notion.data_sources.query(ds, page_size=bad)
        assert err.value.code == "validation_error" and "page_size" in str(err.value)
    with pytest.raises(APIResponseError) as err:
        notion.data_sources.query(ds, start_cursor="00000000-0000-0000-0000-000000000000")
    assert err.value.code == "validation_error"


def test_query_stops_at_ten_thousand_results_with_request_status(server, emu, ids):
    ds = ids["data_source_id"]
    emu.seed_pages(ds, [{"Name": title(f"a{i}")} for i in range(10_000)], created_at=1_700_000_000)
    emu.seed_pages(ds, [{"Name": title(f"b{i}")} for i in range(30)], created_at=1_700_100_000)
    notion = client(server)
    seen, last, calls = [], None, 0
    started = time.monotonic()
    cursor = None
    while calls < 200 and time.monotonic() - started < 30:
        last = notion.data_sources.query(ds, page_size=100, **({"start_cursor": cursor} if cursor else {}))
        calls += 1
        seen.extend(p["id"] for p in last["results"])
        assert last["request_status"] == {
            "type": "incomplete",
            "incomplete_reason": "query_result_limit_reached",
        }
        if not last["has_more"]:
            break
        cursor = last["next_cursor"]
    assert len(seen) == 10_000 == len(set(seen))
    assert last["has_more"] is False and last["next_cursor"] is None
    window = notion.data_sources.query(
        ds, filter={"timestamp": "created_time", "created_time": {"after": "2023-11-15T00:00:00Z"}}
    )
    assert len(window["results"]) == 30 and "request_status" not in window


# -- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("props", "fragment"),
    [
        (
            {"SF Id": {"rich_text": [{"text": {"content": "x" * 2001}}]}},
            "SF Id.rich_text[0].text.content.length should be ≤ `2000`, instead was `2001`",
        ),
        (
            {"Name": {"title": [{"text": {"content": "x" * 2001}}]}},
            "Name.title[0].text.content.length should be ≤ `2000`",
        ),
        (
            {"SF Id": {"rich_text": [{"text": {"content": "x"}}] * 101}},
            "SF Id.rich_text.length should be ≤ `100`, instead was `101`",
        ),
        (
            {"Tags": {"multi_select": [{"name": f"t{i}"} for i in range(101)]}},
            "Tags.multi_select.length should be ≤ `100`",
        ),
        (
            {
                "Parent": {
                    "relation": [{"id": "0" * 8 + "-0000-0000-0000-" + f"{i:012d}"} for i in range(101)]
                }
            },
            "Parent.relation.length should be ≤ `100`",
        ),
        ({"Email": {"email": "e" * 201}}, "Email.email.length should be ≤ `200`, instead was `201`"),
        ({"Phone": {"phone_number": "1" * 201}}, "Phone.phone_number.length should be ≤ `200`"),
        ({"Website": {"url": "h" * 2001}}, "Website.url.length should be ≤ `2000`, instead was `2001`"),
        ({"Amount": {"number": "12"}}, "Amount.number should be a number"),
        ({"Nope": {"number": 1}}, "Nope is not a property that exists"),
        ({"Amount": {"rich_text": []}}, "Amount is expected to be number"),
        ({"Stage": {"select": {"name": "a,b"}}}, "commas not allowed"),
    ],
)
def test_validation_errors_name_the_property_and_the_limit(server, ids, props, fragment):
    with pytest.raises(APIResponseError) as err:
        create(client(server), ids["data_source_id"], "x", **props)
    assert err.value.status == 400 and err.value.code == "validation_error"
    assert fragment in str(err.value)
    body = json.loads(err.value.body)
    assert set(body) == {"object", "status", "code", "message", "request_id"} and body["object"] == "error"


def test_values_at_the_limits_are_accepted(server, ids):
    page = create(
        client(server),
        ids["data_source_id"],
        "x" * 2000,
        **{
            "SF Id": {"rich_text": [{"text": {"content": "y" * 2000}}] * 100},
            "Email": {"email": "e" * 200},
            "Website": {"url": "u" * 2000},
            "Tags": {"multi_select": [{"name": f"t{i}"} for i in range(100)]},
        },
    )
    assert len(page["properties"]["SF Id"]["rich_text"]) == 100


def test_payload_over_500kb_is_a_validation_error(server, ids):
    blocks = [{"object": "block", "paragraph": {"rich_text": [{"text": {"content": "z" * 2000}}]}}] * 90
    with pytest.raises(APIResponseError) as err:
        client(server).pages.create(
            parent={"data_source_id": ids["data_source_id"]}, properties={}, children=blocks * 3
        )
    assert err.value.code == "validation_error" and "≤ `512000`" in str(err.value)


def test_malformed_requests_get_api_errors_not_500(server, ids):
    notion = client(server)
    with pytest.raises(APIResponseError) as err:
        notion.pages.retrieve("6f1c0d1e-0000-4000-8000-000000000000")
    assert err.value.status == 404 and err.value.code == "object_not_found"
    with pytest.raises(APIResponseError) as err:
        notion.pages.retrieve("not-a-uuid")
    assert err.value.code == "validation_error" and "page_id" in str(err.value)
    with pytest.raises(APIResponseError) as err:
        notion.data_sources.query("6f1c0d1e-0000-4000-8000-000000000000")
    assert err.value.code == "object_not_found"
    with pytest.raises(APIResponseError) as err:
        notion.pages.create(properties={"Name": title("no parent")})
    assert err.value.code == "validation_error" and "parent" in str(err.value)
    headers = {
        "Authorization": f"Bearer {TOKEN}",
        "Notion-Version": "2025-09-03",
        "Content-Type": "application/json",
    }
    bad_json = httpx.post(f"{server.url}/v1/pages", content=b"{nope", headers=headers)
    assert bad_json.status_code == 400 and bad_json.json()["code"] == "invalid_json"
    nan = httpx.post(
        f"{server.url}/v1/data_sources/{ids['data_source_id']}/query",
        content=b'{"page_size": NaN}',
        headers=headers,
    )
    assert nan.status_code == 400 and nan.json()["code"] == "invalid_json"
    array = httpx.post(f"{server.url}/v1/pages", content=b"[1]", headers=headers)
    assert array.status_code == 400 and array.json()["code"] == "validation_error"
    unknown = httpx.get(f"{server.url}/v1/blocks/whatever", headers=headers)
    assert unknown.status_code == 400 and unknown.json()["code"] == "invalid_request_url"
    assert unknown.headers["x-notion-request-id"] == unknown.json()["request_id"]


# -- auth and version --------------------------------------------------------------------------


def test_bad_or_missing_token_is_401(server):
    for auth in ("secret_wrong", None):
        with pytest.raises(APIResponseError) as err:
            client(server, auth=auth).users.me()
        assert err.value.status == 401 and err.value.code == "unauthorized"


def test_missing_notion_version_is_400(server):
    response = httpx.get(f"{server.url}/v1/users/me", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "missing_version" and body["object"] == "error" and body["request_id"]


# -- rate limits -------------------------------------------------------------------------------


def test_rate_limit_429_body_and_retry_after(server, emu):
    emu.config.patch({"rate": 0.5, "burst": 2})
    notion = client(server)
    notion.users.me()
    notion.users.me()
    with pytest.raises(APIResponseError) as err:
        notion.users.me()
    assert err.value.status == 429 and err.value.code == "rate_limited"
    retry_after = err.value.headers["retry-after"]
    assert retry_after.isdigit() and 1 <= int(retry_after) <= 2
    body = json.loads(err.value.body)
    assert body["additional_data"] == {
        "rate_limit_reason": "public_api_request_rate_limit", "retry_after": int(retry_after)
    }
    assert set(body) == {"object", "status", "code", "message", "request_id", "additional_data"}
    other = Client(options=ClientOptions(base_url=server.base_url, auth="other", retry=False))
    with pytest.raises(APIResponseError) as err:  # tokens outside the list stay unauthorized, not limited
        other.users.me()
    assert err.value.code == "unauthorized"


def test_workspace_limit_spans_tokens(tmp_path):
    emulator = NotionEmulator(
        state_dir=tmp_path,
        tokens=["t1", "t2"],
        rate=100,
        burst=100,
        workspace_rate=0.5,
        workspace_burst=3,
        latency_median_ms=0,
    )
    with emulator.serve() as running:
        first, second = client(running, auth="t1"), client(running, auth="t2")
        first.users.me()
        first.users.me()
        second.users.me()
        with pytest.raises(APIResponseError) as err:
            second.users.me()
        assert (
            json.loads(err.value.body)["additional_data"]["rate_limit_reason"]
            == "public_api_space_request_rate_limit"
        )
        assert int(err.value.headers["retry-after"]) >= 1
    emulator.close()


# -- faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("429", "rate_limited"),
        ("500", "internal_server_error"),
        ("503", "service_unavailable"),
        ("504", "gateway_timeout"),
        ("409", "conflict_error"),
    ],
)
def test_injected_json_errors(server, emu, kind, code):
    emu.config.patch({"faults": {kind: 1.0}})
    with pytest.raises(APIResponseError) as err:
        client(server).users.me()
    assert err.value.status == int(kind) and err.value.code == code
    assert control(server, "GET", "config").status_code == 200  # the control API is never faulted


def test_injected_529_and_502(server, emu):
    emu.config.patch({"faults": {"529": 1.0}})
    with pytest.raises(UnknownHTTPResponseError) as err:  # notion-client 3.1 does not know service_overload
        client(server).users.me()
    assert err.value.status == 529 and json.loads(err.value.body)["code"] == "service_overload"
    assert int(err.value.headers["retry-after"]) >= 1
    emu.config.patch({"faults": {"529": 0.0, "502": 1.0}})
    with pytest.raises(UnknownHTTPResponseError) as err:
        client(server).users.me()
    assert err.value.status == 502 and "<html>" in err.value.body
    assert err.value.headers["content-type"].startswith("text/html")


def test_dropped_connection_is_a_transport_error(server, emu):
    emu.config.patch({"faults": {"drop": 1.0}})
    with pytest.raises(httpx.TransportError):
        client(server).users.me()


def test_hang_outlasts_the_client_timeout(server, emu):
    emu.config.patch({"faults": {"hang": 1.0}, "hang_seconds": 5})
    started = time.monotonic()
    with pytest.raises(RequestTimeoutError):
        client(server, timeout_ms=300).users.me()
    assert time.monotonic() - started < 4


def test_lost_create_stores_the_page_but_the_client_sees_an_error(server, emu, ids):
    emu.config.patch({"faults": {"lost_create": 1.0}})
    notion = client(server)
    assert notion.users.me()["object"] == "user"  # lost_create only hits page creates
    with pytest.raises(httpx.TransportError):
        create(notion, ids["data_source_id"], "ghost")
    emu.config.patch({"faults": {"lost_create": 0.0}})
    found = notion.data_sources.query(
        ids["data_source_id"], filter={"property": "Name", "title": {"equals": "ghost"}}
    )
    assert len(found["results"]) == 1


def test_script_forces_the_next_matching_responses(server, ids):
    script = {
        "responses": [
            {"status": 429, "retry_after": 30, "method": "POST", "path_prefix": "/v1/pages", "count": 1},
            {"fault": "lost_create", "count": 1},
        ]
    }
    assert control(server, "POST", "script", script).json() == {"pending": 2}
    notion = client(server)
    assert notion.users.me()["object"] == "user"  # does not match either entry
    with pytest.raises(APIResponseError) as err:
        create(notion, ids["data_source_id"], "first")
    assert err.value.code == "rate_limited" and err.value.headers["retry-after"] == "30"
    with pytest.raises(httpx.TransportError):
        create(notion, ids["data_source_id"], "second")
    create(notion, ids["data_source_id"], "third")
    names = sorted(_names(notion.data_sources.query(ids["data_source_id"])))
    assert names == ["second", "third"]
    assert control(server, "POST", "script", {"responses": [{"status": 418}]}).status_code == 400


def test_latency_applies_to_the_api_only(server, emu):
    emu.config.patch({"latency_median_ms": 300, "latency_p95_ms": 300})  # p95 = median: always 300 ms
    started = time.monotonic()
    client(server).users.me()
    assert time.monotonic() - started >= 0.29
    emu.config.patch({"latency_median_ms": 5000, "latency_p95_ms": 5000})
    response = httpx.get(f"{server.url}/_sandbox/config", timeout=2.5)  # would time out if delayed
    assert response.json()["latency_median_ms"] == 5000


def test_config_reads_and_patches_and_rejects_bad_values(server):
    config = control(server, "GET", "config").json()
    assert set(config) == {
        "limit_mode",
        "window_requests",
        "window_s",
        "window_alignment",
        "rate",
        "burst",
        "workspace_window_requests",
        "workspace_window_s",
        "workspace_retry_after_s",
        "workspace_rate",
        "workspace_burst",
        "endpoint_limits",
        "blocked_tokens",
        "token_workspaces",
        "shared_with",
        "latency_median_ms",
        "latency_p95_ms",
        "faults",
        "hang_seconds",
        "query_lag_s",
    }
    assert set(config["faults"]) == {
        "429", "500", "502", "503", "504", "409", "529", "hang", "drop",
        "lost_create", "committed_503", "committed_503_silent",
    }
    patched = control(server, "PATCH", "config", {"rate": 7, "faults": {"503": 0.25}}).json()
    assert patched["rate"] == 7 and patched["faults"]["503"] == 0.25
    assert control(server, "PATCH", "config", {"faults": {"503": 2}}).status_code == 400
    assert control(server, "PATCH", "config", {"speed": 1}).status_code == 400
    assert control(server, "GET", "config").json()["faults"]["503"] == 0.25


# -- state and request log ---------------------------------------------------------------------


def test_state_survives_a_restart(tmp_path):
    first = NotionEmulator(state_dir=tmp_path, tokens=[TOKEN], rate=0, latency_median_ms=0)
    ids = first.create_database("Persisted", SCHEMA)
    with first.serve() as running:
        page = create(client(running), ids["data_source_id"], "kept", Amount={"number": 7})
        client(running).pages.update(page["id"], properties={"Amount": {"number": 8}})
    first.close()
    second = NotionEmulator(state_dir=tmp_path, tokens=[TOKEN], rate=0, latency_median_ms=0)
    with second.serve() as running:
        notion = client(running)
        assert notion.databases.retrieve(ids["database_id"])["data_sources"][0]["id"] == ids["data_source_id"]
        assert notion.pages.retrieve(page["id"])["properties"]["Amount"]["number"] == 8
        assert len(notion.data_sources.query(ids["data_source_id"])["results"]) == 1
    second.close()


def test_control_databases_and_reset(server):
    made = control(
        server, "POST", "databases", {"title": "Contacts", "properties": {"Full name": {"type": "title"}}}
    ).json()
    assert set(made) == {"database_id", "data_source_id"}
    assert (
        client(server).data_sources.retrieve(made["data_source_id"])["properties"]["Full name"]["type"]
        == "title"
    )
    assert control(server, "POST", "reset").status_code == 200
    with pytest.raises(APIResponseError) as err:
        client(server).databases.retrieve(made["database_id"])
    assert err.value.code == "object_not_found"
    assert (
        control(
            server, "POST", "databases", {"title": "x", "properties": {"a": {"type": "rollup"}}}
        ).status_code
        == 400
    )


def test_request_log_has_fingerprints_never_tokens(server, emu, ids):
    since = time.time() - 1
    notion = client(server)
    notion.users.me()
    with pytest.raises(APIResponseError):
        notion.pages.retrieve("6f1c0d1e-0000-4000-8000-000000000000")
    log = control(server, "GET", f"requests?since={since}").json()
    assert [(e["method"], e["path"], e["status"]) for e in log] == [
        ("GET", "/v1/users/me", 200),
        ("GET", "/v1/pages/6f1c0d1e-0000-4000-8000-000000000000", 404),
    ]
    assert all(
        len(e["token"]) == 12 and e["token"] != TOKEN and e["latency_ms"] >= 0 and e["request_id"]
        for e in log
    )
    assert control(server, "GET", f"requests?since={time.time() + 60}").json() == []
    stored = b"".join(p.read_bytes() for p in Path(emu.store.path).parent.iterdir())
    assert TOKEN.encode() not in stored


def test_module_entry_point_serves(tmp_path):
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sf_notion_sync.sandbox.notion_emulator",
            "--port",
            "0",
            "--state-dir",
            str(tmp_path),
            "--token",
            TOKEN,
            "--rate",
            "0",
            "--latency-median-ms",
            "0",
            "--fault-503",
            "0.0",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()  # the first line names the URL; bounded by the test timeout
        assert line.startswith("Notion emulator listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1].strip()
        me = httpx.get(
            f"{url}/v1/users/me", headers={"Authorization": f"Bearer {TOKEN}", "Notion-Version": "2025-09-03"}
        )
        assert me.status_code == 200 and me.json()["type"] == "bot"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_renames_keep_values_and_equals_lookups_follow_updates(server, ids):
    notion = client(server)
    ds = ids["data_source_id"]
    page = create(notion, ds, "Acme", **{"SF Id": text("001OLD"), "Amount": {"number": 5}})
    notion.pages.update(page["id"], properties={"SF Id": text("001NEW")})

    def by_sf_id(value, prop="SF Id"):
        return notion.data_sources.query(ds, filter={"property": prop, "rich_text": {"equals": value}})[
            "results"
        ]

    assert by_sf_id("001OLD") == [] and [p["id"] for p in by_sf_id("001NEW")] == [page["id"]]
    notion.data_sources.update(
        ds, properties={"SF Id": {"name": "Salesforce Id"}, "Amount": {"rich_text": {}}}
    )
    moved = notion.pages.retrieve(page["id"])["properties"]
    assert moved["Salesforce Id"]["rich_text"][0]["plain_text"] == "001NEW"
    assert moved["Amount"] == {
        "id": moved["Amount"]["id"],
        "type": "rich_text",
        "rich_text": [],
    }  # type changed
    assert [p["id"] for p in by_sf_id("001NEW", "Salesforce Id")] == [page["id"]]
