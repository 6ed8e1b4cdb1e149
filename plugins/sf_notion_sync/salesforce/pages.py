"""Result pages of one query, REST or Bulk API 2.0, each fetched through `SalesforceSession.call`.

Each page is one call, so an expired session costs a re-login and a repeat of that page only: REST
resumes at its nextRecordsUrl, Bulk at its Sforce-Locator, the job itself is never created twice.
REST pages can hold fewer records than asked; only `done` / nextRecordsUrl say whether more follow.
The Bulk job is driven over HTTP here because simple-salesforce's bulk2 handler keeps the session id
it was built with and never re-authenticates.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from simple_salesforce.util import call_salesforce

from .errors import ExtractError
from .session import SalesforceSession

DEFAULT_BULK_TIMEOUT_S = 24 * 3600.0
"""How long a Bulk query job may take to complete before extraction gives up (simple-salesforce's bound)."""
_FAILED_STATES = ("Failed", "Aborted")
_CSV = "text/csv; charset=UTF-8"


def rest_pages(session: SalesforceSession, soql: str, include_deleted: bool,
               batch_size: int | None = None) -> Iterator[list[dict[str, Any]]]:
    """The records of each REST page; `batch_size` (200..2,000) asks for smaller pages."""
    headers = {"Sforce-Query-Options": f"batchSize={batch_size}"} if batch_size else {}

    def first(sf: Any) -> dict[str, Any]:
        return sf.query(soql, include_deleted=include_deleted, headers=headers)

    page = session.call(first)
    while True:
        yield page["records"]
        if page.get("done", True):
            return
        url = page["nextRecordsUrl"]

        def more(sf: Any, url: str = url) -> dict[str, Any]:
            return sf.query_more(url, identifier_is_url=True, headers=headers)

        page = session.call(more)


def bulk_pages(session: SalesforceSession, object_name: str, soql: str, include_deleted: bool, page_size: int,
               poll_seconds: float, timeout_s: float = DEFAULT_BULK_TIMEOUT_S) -> Iterator[str]:
    """CSV text of each results page of one Bulk API 2.0 query job (created, polled, then paged)."""
    body = {"operation": "queryAll" if include_deleted else "query", "query": soql,
            "contentType": "CSV", "columnDelimiter": "COMMA", "lineEnding": "LF"}
    job_id = session.call(lambda sf: _bulk(sf, "POST", "", data=json.dumps(body)).json())["id"]
    deadline = time.monotonic() + timeout_s
    while True:
        info = session.call(lambda sf: _bulk(sf, "GET", job_id).json())
        state = info.get("state")
        if state == "JobComplete":
            break
        if state in _FAILED_STATES:
            raise ExtractError(f"Bulk API 2.0 query job {job_id} for {object_name} ended {state}: "
                               f"{info.get('errorMessage') or 'no error message'}")
        if time.monotonic() >= deadline:
            raise ExtractError(f"Bulk API 2.0 query job {job_id} for {object_name} did not complete within "
                               f"{timeout_s:g} s (state {state})")
        time.sleep(poll_seconds)  # a job's progress can only be polled
    locator = ""
    while True:
        params = {"maxRecords": page_size, **({"locator": locator} if locator else {})}

        def results(sf: Any, params: dict[str, Any] = params) -> Any:
            return _bulk(sf, "GET", f"{job_id}/results", params=params, accept=_CSV)

        response = session.call(results)
        yield response.content.decode("utf-8").replace("\x00", "")
        locator = response.headers.get("Sforce-Locator", "")
        if locator in ("", "null"):
            return


def _bulk(sf: Any, method: str, path: str, accept: str = "application/json", **kwargs: Any) -> Any:
    """One Bulk 2.0 query-jobs call with the client's current session; 401 raises SalesforceExpiredSession."""
    headers = {"Authorization": f"Bearer {sf.session_id}", "Content-Type": "application/json", "Accept": accept}
    url = f"{sf.bulk2_url}query" + (f"/{path}" if path else "")
    response = call_salesforce(url=url, method=method, session=sf.session, headers=headers, **kwargs)
    limit_info = response.headers.get("Sforce-Limit-Info")
    if limit_info:  # keep the budget reading current, as simple-salesforce does for REST
        sf.api_usage = sf.parse_api_usage(limit_info)
    return response
