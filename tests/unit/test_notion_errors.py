"""Retriable vs fatal sorting, for every status and code the client meets; the token never shows."""

import json

import httpx
import pytest
from notion_client.errors import RequestTimeoutError, build_request_error

from sf_notion_sync.notion.errors import ErrorKind, NotionApiError, classify, from_exception, from_response

R, T, F = ErrorKind.RATE_LIMITED, ErrorKind.TRANSIENT, ErrorKind.FATAL


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (429, "rate_limited", R),
        (529, "service_overload", R),
        (429, None, R),
        (500, "internal_server_error", T),
        (502, None, T),
        (503, "service_unavailable", T),
        (504, "gateway_timeout", T),
        (409, "conflict_error", T),
        (0, "timeout", T),
        (0, "transport_error", T),
        (599, None, T),
        (400, "validation_error", F),
        (400, "invalid_json", F),
        (400, "missing_version", F),
        (400, "invalid_request_url", F),
        (401, "unauthorized", F),
        (403, "restricted_resource", F),
        (404, "object_not_found", F),
        (418, None, F),
    ],
)
def test_classify(status, code, kind):
    assert classify(status, code) is kind
    assert NotionApiError("x", status=status, code=code).retriable is (kind is not F)


def _response(status, body, headers=None):
    return httpx.Response(status, headers=headers or {}, content=json.dumps(body).encode())


def test_429_carries_retry_after_and_reason():
    body = {
        "object": "error", "status": 429, "code": "rate_limited", "message": "slow down",
        "request_id": "req-1", "additional_data": {"rate_limit_reason": "public_api_request_rate_limit"},
    }  # fmt: skip
    err = from_response(_response(429, body, {"Retry-After": "12"}), method="POST", endpoint="POST /v1/pages")
    assert err.kind is R and err.retry_after == 12 and err.request_id == "req-1"
    assert err.rate_limit_reason == "public_api_request_rate_limit"
    assert "status 429" in str(err) and "POST /v1/pages" in str(err) and "retry after 12s" in str(err)


def test_529_from_sdk_error_is_rate_limited():
    # The SDK does not know service_overload and raises its "unknown response" error: we read the body.
    response = _response(529, {"code": "service_overload", "message": "busy"}, {"Retry-After": "3"})
    sdk_error = build_request_error(response, response.text)
    err = from_exception(sdk_error, method="GET", endpoint="GET /v1/pages/{id}")
    assert err.kind is R and err.code == "service_overload" and err.retry_after == 3


def test_sdk_validation_error_is_fatal_and_names_record_and_property():
    response = _response(400, {"code": "validation_error", "message": "body.properties.Email.email is invalid"})
    err = from_exception(build_request_error(response, response.text), record_id="0015g00000ABCDE")
    assert err.kind is F and not err.retriable
    named = err.with_context(property_name="Email", limit="200 characters")
    assert "record 0015g00000ABCDE" in str(named) and "property 'Email'" in str(named) and "limit 200" in str(named)


def test_timeouts_and_transport_errors_are_transient():
    assert from_exception(RequestTimeoutError()).kind is T
    assert from_exception(httpx.ReadTimeout("read timed out")).kind is T
    err = from_exception(httpx.RemoteProtocolError("Server disconnected without sending a response."))
    assert err.kind is T and err.status == 0 and err.code == "transport_error"
    assert from_exception(json.JSONDecodeError("x", "", 0)).kind is T


def test_unknown_exception_is_not_swallowed():
    with pytest.raises(TypeError):
        from_exception(KeyError("x"))


def test_token_never_in_error_text():
    token = "secret_abcdef123456"
    request = httpx.Request("GET", "https://api.notion.com/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    exc = httpx.ConnectError("connection refused", request=request)
    err = from_exception(exc, method="GET", endpoint="GET /v1/users/me")
    assert token not in str(err) and token not in repr(err)


def test_message_names_the_templated_endpoint_once():
    error = NotionApiError("refused", status=503, method="POST", endpoint="POST /v1/pages")
    assert str(error).startswith("Notion POST /v1/pages failed (status 503")
