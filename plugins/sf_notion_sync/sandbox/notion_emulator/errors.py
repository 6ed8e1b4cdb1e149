"""Notion's error object: one exception type that every layer raises, one body shape on the wire."""

from __future__ import annotations

from typing import Any

# Default messages, worded as the public API words them.
MESSAGES = {
    "unauthorized": "API token is invalid.",
    "missing_version": "Notion-Version header failed validation: Notion-Version header should be defined, instead was `undefined`.",
    "invalid_json": "Error parsing JSON body.",
    "invalid_request_url": "Invalid request URL.",
    "invalid_request": "This request is not supported.",
    "rate_limited": "You have been rate limited. Please try again in a few minutes.",
    "conflict_error": "Conflict occurred while saving. Please try again.",
    "internal_server_error": "Unexpected error occurred.",
    "service_unavailable": "Notion is unavailable, please try again later.",
    "gateway_timeout": "Gateway timed out. Please try again later.",
    "service_overload": "Notion is temporarily overloaded. Please try again later.",
}

STATUS_CODES = {
    500: "internal_server_error",
    503: "service_unavailable",
    504: "gateway_timeout",
    409: "conflict_error",
    429: "rate_limited",
    529: "service_overload",
    401: "unauthorized",
    404: "object_not_found",
    400: "validation_error",
}

BAD_GATEWAY_HTML = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
)


class NotionError(Exception):
    """An API error with Notion's status, code and message; `headers` go on the response."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str | None = None,
        *,
        additional_data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message or MESSAGES.get(code, code))
        self.status = status
        self.code = code
        self.message = message or MESSAGES.get(code, code)
        self.additional_data = additional_data
        self.headers = headers or {}

    @property
    def reason(self) -> str | None:
        """`additional_data.rate_limit_reason`, what the request log records for a 429."""
        return (self.additional_data or {}).get("rate_limit_reason")

    def body(self, request_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "object": "error",
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "request_id": request_id,
        }
        if self.additional_data is not None:
            body["additional_data"] = self.additional_data
        return body


def validation(message: str) -> NotionError:
    return NotionError(400, "validation_error", message)


def body_failed(path: str, expectation: str) -> NotionError:
    """The API's schema-validation wording: `body failed validation: body.<path> should be ...`."""
    return validation(f"body failed validation: body.{path} {expectation}.")


def too_long(path: str, limit: int, actual: int) -> NotionError:
    return body_failed(f"{path}.length", f"should be ≤ `{limit}`, instead was `{actual}`")


def not_found(kind: str, object_id: str) -> NotionError:
    return NotionError(
        404,
        "object_not_found",
        f"Could not find {kind} with ID: {object_id}. "
        "Make sure the relevant pages and databases are shared with your integration.",
    )


def from_status(status: int, *, retry_after: int | None = None, reason: str | None = None) -> NotionError:
    """An error for an injected or scripted status (everything but 502, which is not JSON)."""
    if status == 429 and reason and retry_after is not None:
        return rate_limited(reason, retry_after)
    code = STATUS_CODES.get(status, "internal_server_error")
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    additional = {"rate_limit_reason": reason} if reason else None
    return NotionError(status, code, additional_data=additional, headers=headers)


def rate_limited(reason: str, retry_after: int, message: str | None = None) -> NotionError:
    """A 429 as "Request limits" describes it: Retry-After in whole seconds, repeated next to the
    reason as `additional_data.retry_after`."""
    return NotionError(
        429,
        "rate_limited",
        message,
        additional_data={"rate_limit_reason": reason, "retry_after": retry_after},
        headers={"Retry-After": str(retry_after)},
    )


COMMITTED_MESSAGE = "The write was saved, but Notion could not confirm it in time. Do not repeat the write."


def committed(resource_id: str | None) -> NotionError:
    """The 503 of a write that was saved ("Status codes"): retry guidance and the saved object's id,
    or, with no id, a plain service_unavailable that leaves the outcome unknown."""
    if resource_id is None:
        return NotionError(503, "service_unavailable")
    return NotionError(
        503,
        "service_unavailable",
        COMMITTED_MESSAGE,
        additional_data={"retry_guidance": "do_not_retry", "committed_resource_id": resource_id},
    )
