"""Salesforce's error shape: a JSON list of {"message", "errorCode"} with the matching HTTP status."""

from __future__ import annotations


class SalesforceError(Exception):
    def __init__(self, status: int, error_code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.headers = headers or {}

    def body(self) -> list[dict]:
        return [{"message": self.message, "errorCode": self.error_code}]


def not_found(message: str = "The requested resource does not exist") -> SalesforceError:
    return SalesforceError(404, "NOT_FOUND", message)


def query_error(error_code: str, query: str, column: int, detail: str) -> SalesforceError:
    """A query error worded like Salesforce's: the query, a caret under the column, then the reason."""
    line = query.replace("\n", " ")
    return SalesforceError(
        400, error_code, f"\n{line}\n{' ' * max(0, column - 1)}^\nERROR at Row:1:Column:{column}\n{detail}"
    )
