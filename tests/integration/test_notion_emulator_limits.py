"""The emulator's request limits as the real notion-client 3.1 meets them ("Request limits",
developers.notion.com): a budget per window per connection, a workspace budget, endpoint budgets,
blocked tokens, 529s, the older GCRA mode, and each 429's reason in the request log."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time

import httpx
import pytest
from notion_client import APIResponseError, Client
from notion_client.client import ClientOptions
from notion_client.errors import UnknownHTTPResponseError

from sf_notion_sync.sandbox.notion_emulator.app import fingerprint
from sf_notion_sync.sandbox.run import start

TOKEN, OTHER = "secret_limits", "secret_limits_other"
CONNECTION = "public_api_request_rate_limit"
WORKSPACE = "public_api_space_request_rate_limit"
ENDPOINT = "public_api_endpoint_rate_limit"
BLOCKED = "public_api_request_blocked"
QUERY = "POST /v1/data_sources/{id}/query"


@pytest.fixture
def emu(notion_emulator):
    return notion_emulator(tokens=[TOKEN, OTHER])


def client(server, auth: str = TOKEN) -> Client:
    return Client(options=ClientOptions(base_url=server.base_url, auth=auth, retry=False, timeout_ms=5_000))


def control(server, method: str, path: str, body=None) -> httpx.Response:
    return httpx.request(method, f"{server.url}/_sandbox/{path}", json=body, timeout=10)


def refused(call) -> tuple[int, dict]:
    """The Retry-After and additional_data of the 429 that `call` must raise."""
    with pytest.raises(APIResponseError) as err:
        call()
    assert err.value.status == 429 and err.value.code == "rate_limited"
    retry_after = int(err.value.headers["retry-after"])
    additional = json.loads(err.value.body)["additional_data"]
    assert additional["retry_after"] == retry_after
    return retry_after, additional


def poll_until_admitted(call, bound_s: float) -> tuple[float, int]:
    """Retry `call` every 50 ms until it is admitted (at most `bound_s`): when, and how many 429s first."""
    deadline, refusals = time.monotonic() + bound_s, 0
    while True:
        try:
            call()
            return time.monotonic(), refusals
        except APIResponseError as error:
            assert error.status == 429 and time.monotonic() < deadline, "not admitted in time"
            refusals += 1
            time.sleep(0.05)


def reasons(server, since: float) -> list[str | None]:
    return [e["reason"] for e in control(server, "GET", f"requests?since={since}").json() if e["status"] == 429]


def test_the_whole_window_budget_in_one_burst_then_429_until_the_reset(server):
    since = time.time()
    control(server, "PATCH", "config", {"window_requests": 5, "window_s": 2, "window_alignment": "first_request"})
    notion = client(server)
    opened = time.monotonic()
    for _ in range(5):
        notion.users.me()
    retry_after, additional = refused(notion.users.me)
    assert additional == {"rate_limit_reason": CONNECTION, "retry_after": retry_after} and 1 <= retry_after <= 2
    admitted, refusals = poll_until_admitted(notion.users.me, bound_s=retry_after + 1)
    assert admitted - opened >= 2 - 0.05  # not before the window's reset
    for _ in range(4):  # the next window holds the whole budget again: refusals spent none of it
        notion.users.me()
    refused(notion.users.me)
    assert reasons(server, since) == [CONNECTION] * (refusals + 2)


def test_epoch_aligned_windows_reset_at_multiples_of_the_window(server):
    control(server, "PATCH", "config", {"window_requests": 3, "window_s": 60})
    notion = client(server)
    while 60 - time.time() % 60 < 5:  # the burst and its 429 well inside one window (waits under 5 s)
        time.sleep(0.05)
    latest = math.ceil(60 - time.time() % 60)
    for _ in range(3):
        notion.users.me()
    retry_after, _ = refused(notion.users.me)
    assert math.ceil(60 - time.time() % 60) <= retry_after <= latest <= 60


def test_two_tokens_share_the_workspace_budget_and_its_long_retry_after(server):
    since = time.time()
    control(server, "PATCH", "config", {"workspace_window_requests": 4, "workspace_retry_after_s": 90})
    first, second = client(server), client(server, OTHER)
    for notion in (first, first, second, second):
        notion.users.me()
    assert refused(first.users.me) == (90, {"rate_limit_reason": WORKSPACE, "retry_after": 90})
    retry_after, additional = refused(second.users.me)
    assert additional["rate_limit_reason"] == WORKSPACE and 89 <= retry_after <= 90
    assert reasons(server, since) == [WORKSPACE, WORKSPACE]


def test_an_endpoint_limit_refuses_only_that_endpoint_of_that_token(server, emu):
    ids = emu.create_database("Accounts", {"Name": {"type": "title"}})
    source = ids["data_source_id"]
    control(server, "PATCH", "config", {"endpoint_limits": {QUERY: {"requests": 2, "window_s": 60}}})
    notion = client(server)
    notion.data_sources.query(source)
    notion.data_sources.query(source)
    retry_after, additional = refused(lambda: notion.data_sources.query(source))
    assert additional["rate_limit_reason"] == ENDPOINT and 1 <= retry_after <= 60
    notion.pages.create(parent={"data_source_id": source}, properties={"Name": {"title": [{"text": {"content": "x"}}]}})
    notion.data_sources.retrieve(source)
    client(server, OTHER).data_sources.query(source)


def test_a_blocked_token_gets_the_blocked_reason_until_unblocked(server):
    assert control(server, "PATCH", "config", {"blocked_tokens": [fingerprint(TOKEN)]}).status_code == 200
    with pytest.raises(APIResponseError) as err:
        client(server).users.me()
    body = json.loads(err.value.body)
    assert err.value.status == 429 and body["additional_data"]["rate_limit_reason"] == BLOCKED
    assert "Retrying will not help" in body["message"]
    client(server, OTHER).users.me()
    control(server, "PATCH", "config", {"blocked_tokens": []})
    client(server).users.me()


def test_scripted_429s_repeat_retry_after_and_529s_are_service_overload(server):
    since = time.time()
    script = [{"status": 429, "retry_after": 30, "rate_limit_reason": ENDPOINT}, {"status": 529, "retry_after": 7}]
    control(server, "POST", "script", {"responses": script})
    assert refused(client(server).users.me) == (30, {"rate_limit_reason": ENDPOINT, "retry_after": 30})
    with pytest.raises(UnknownHTTPResponseError) as err:  # notion-client 3.1 does not know service_overload
        client(server).users.me()
    assert err.value.status == 529 and json.loads(err.value.body)["code"] == "service_overload"
    assert err.value.headers["retry-after"] == "7"
    assert [(e["status"], e["reason"]) for e in control(server, "GET", f"requests?since={since}").json()] == [
        (429, ENDPOINT), (529, None)]


def test_gcra_mode_still_paces_an_average_rate(server):
    control(server, "PATCH", "config", {"limit_mode": "gcra", "rate": 1, "burst": 2})
    notion = client(server)
    notion.users.me()
    notion.users.me()
    assert refused(notion.users.me) == (1, {"rate_limit_reason": CONNECTION, "retry_after": 1})
    poll_until_admitted(notion.users.me, bound_s=2)


def test_config_rejects_bad_limits_and_keeps_the_old_ones(server):
    for bad in ({"window_s": 0}, {"limit_mode": "bucket"}, {"endpoint_limits": {"GET /v1/nowhere": {"requests": 1}}},
                {"blocked_tokens": [TOKEN]}, {"window_requests": 1, "workspace_window_requests": -1}):
        response = control(server, "PATCH", "config", bad)
        assert response.status_code == 400 and response.json()["code"] == "validation_error", bad
    config = control(server, "GET", "config").json()
    assert (config["limit_mode"], config["window_requests"], config["window_s"]) == ("window", 180, 60)
    assert TOKEN not in json.dumps(config)


def test_module_flags_set_the_limits(tmp_path):
    limits = json.dumps({QUERY: {"requests": 1, "window_s": 30}})
    process = subprocess.Popen(
        [sys.executable, "-m", "sf_notion_sync.sandbox.notion_emulator", "--port", "0", "--state-dir", str(tmp_path),
         "--token", TOKEN, "--latency-median-ms", "0", "--window-requests", "2", "--window-s", "10",
         "--window-alignment", "first_request", "--workspace-window-requests", "50", "--endpoint-limits", limits,
         "--blocked-token", fingerprint(OTHER)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        url = process.stdout.readline().rsplit(" ", 1)[1].strip()  # bounded by the test timeout
        config = httpx.get(f"{url}/_sandbox/config", timeout=10).json()
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert {k: config[k] for k in ("limit_mode", "window_requests", "window_s", "window_alignment",
                                   "workspace_window_requests", "endpoint_limits", "blocked_tokens")} == {
        "limit_mode": "window", "window_requests": 2, "window_s": 10, "window_alignment": "first_request",
        "workspace_window_requests": 50, "endpoint_limits": {QUERY: {"requests": 1, "window_s": 30}},
        "blocked_tokens": [fingerprint(OTHER)]}


def test_sandbox_takes_the_budget_per_window_and_scales_latency(tmp_path):
    with start(tmp_path / "box", accounts=5, contacts=0, opportunities=0, notion_window_requests=180,
               notion_window_s=6) as box:
        config = httpx.get(f"{box.notion_url}/_sandbox/config", timeout=10).json()
        extra = json.loads(box.env()["AIRFLOW_CONN_NOTION_DEFAULT"])["extra"]
    assert (config["limit_mode"], config["window_requests"], config["window_s"]) == ("window", 180, 6)
    assert config["latency_median_ms"] == pytest.approx(25)  # 250 ms scaled like the window, 10x
    assert extra == {"budget_requests": 180, "budget_window_s": 6}
    with start(tmp_path / "box", accounts=5, contacts=0, opportunities=0, notion_rate=7, notion_burst=4) as box:
        config = httpx.get(f"{box.notion_url}/_sandbox/config", timeout=10).json()
        extra = json.loads(box.env()["AIRFLOW_CONN_NOTION_DEFAULT"])["extra"]
    assert (config["limit_mode"], config["rate"], config["burst"], config["latency_median_ms"]) == ("gcra", 7, 4, 250)
    assert extra == {"budget_rate": 7, "budget_burst": 2}
    with pytest.raises(ValueError, match="not both"), start(tmp_path / "box", notion_rate=3, notion_window_requests=180):
        pass
