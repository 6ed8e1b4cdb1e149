"""HTTP routes of the Salesforce emulator (Starlette): REST, Bulk 2.0, OAuth, and the /_sandbox/ control API
(control.py).

Every /services/data call is authenticated (sessions expire: see sessions.py), counted against the
rolling 24 h limit and answered with Sforce-Limit-Info; every failure is a Salesforce-shaped error,
never a bare 500 for a bad request. REST pages can be made short (`short_batches`): Salesforce may
return fewer records than the batch size asked, so clients must follow nextRecordsUrl, not count.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import logging
import re
import threading
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..datagen import Generator, make_id
from ..datagen.schema import object_def
from .bulk import DELIMITERS, LINE_ENDINGS, BulkJobs
from .clock import Clock
from .control import SandboxControl
from .cursors import Cursor, CursorCache
from .describe import describe, describe_global
from .errors import SalesforceError, not_found
from .formats import csv_chunks, json_record
from .limits import ApiUsage
from .pubsub import ChangeEventBus
from .replication import Replication
from .sessions import Sessions
from .soql import parse
from .store import RecordStore

log = logging.getLogger(__name__)

_VERSION = re.compile(r"^v(\d{2}\.\d)$")
MAX_BATCH, MIN_BATCH = 2000, 200


@dataclass
class Settings:
    """Credentials the emulator accepts (sandbox values, not secrets)."""

    session_id: str
    username: str
    password: str
    client_id: str
    client_secret: str


@dataclass
class Req:
    """What a handler needs from a request, read once on the event loop."""

    request: Request
    body: bytes
    version: str

    @property
    def params(self):
        return self.request.query_params

    @property
    def path(self) -> dict:
        return self.request.path_params

    def json(self) -> dict:
        try:
            data = json.loads(self.body or b"{}")
        except ValueError as exc:
            raise SalesforceError(400, "JSON_PARSER_ERROR", f"Unexpected character in JSON body: {exc}") from None
        if not isinstance(data, dict):
            raise SalesforceError(400, "JSON_PARSER_ERROR", "Expected a JSON object")
        return data


def _error_response(exc: SalesforceError, limit_header: str | None) -> JSONResponse:
    headers = dict(exc.headers)
    if limit_header and "Sforce-Limit-Info" not in headers:
        headers["Sforce-Limit-Info"] = limit_header
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


class SalesforceApp:
    """State shared by the routes: store, limits, cursors, Bulk jobs and settings."""

    def __init__(self, gen: Generator, store: RecordStore, usage: ApiUsage, settings: Settings,
                 min_job_seconds: float = 0.2, session_timeout_s: float | None = None) -> None:
        self.gen = gen
        self.store = store
        self.usage = usage
        self.clock: Clock = usage.clock
        self.settings = settings
        self.sessions = Sessions(settings.session_id, self.clock, session_timeout_s)
        self.replication = Replication(gen, store, self.clock)
        self.bulk = BulkJobs(store, min_job_seconds)
        self.change_events = ChangeEventBus(self.clock)  # the Pub/Sub API's change events (pubsub/)
        self.short_batches = False
        self.control = SandboxControl(self)
        self.cursors = CursorCache()
        self._locators = itertools.count(1)
        self._lock = threading.Lock()
        self.requests_served = 0
        self.base_url = ""  # set once the server knows its port
        self.app = Starlette(routes=self._routes(), exception_handlers={HTTPException: self._http_error})

    # -- plumbing --------------------------------------------------------------------------------

    async def _http_error(self, request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 405:
            body = [{"errorCode": "METHOD_NOT_ALLOWED", "message": f"HTTP Method '{request.method}' not allowed."}]
        else:
            body = [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
        return JSONResponse(body, status_code=exc.status_code if exc.status_code in (404, 405) else 400)

    def _api(self, handler, counted: bool = True):
        async def endpoint(request: Request) -> Response:
            with self._lock:
                self.requests_served += 1
            version = ""
            try:
                if "version" in request.path_params:
                    m = _VERSION.match(request.path_params["version"])
                    if not m or not 20.0 <= float(m.group(1)) <= 66.0:
                        raise not_found()
                    version = m.group(1)
                if counted:
                    self._authenticate(request)
                    self.usage.hit()
                body = await request.body()
                result = await run_in_threadpool(handler, Req(request, body, version))
            except SalesforceError as exc:
                return _error_response(exc, self.usage.header_value() if counted else None)
            except Exception:  # a bug in the emulator: answer like Salesforce does, and log it
                log.exception("unexpected error serving %s %s", request.method, request.url.path)
                exc = SalesforceError(500, "UNKNOWN_EXCEPTION", "An unexpected error occurred. Please include this"
                                      " ErrorId if you contact support: sandbox")
                return _error_response(exc, self.usage.header_value() if counted else None)
            response = result if isinstance(result, Response) else JSONResponse(result)
            if counted:
                response.headers["Sforce-Limit-Info"] = self.usage.header_value()
            return response

        return endpoint

    def _authenticate(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in ("bearer", "oauth"):
            raise SalesforceError(401, "INVALID_SESSION_ID", "Session expired or invalid")
        self.sessions.check(token.strip())

    def _routes(self) -> list[Route]:
        data = "/services/data/{version}"
        table = [
            ("/services/oauth2/token", self.oauth_token, ["POST"], False),
            ("/services/data", self.versions, ["GET"], False),
            (data, self.resources, ["GET"], True),
            (f"{data}/limits", self.limits, ["GET"], True),
            (f"{data}/query", self.query, ["GET"], True),
            (f"{data}/queryAll", self.query_all, ["GET"], True),
            (f"{data}/query/{{locator}}", self.query_more, ["GET"], True),
            (f"{data}/queryAll/{{locator}}", self.query_more, ["GET"], True),
            (f"{data}/sobjects", self.sobjects, ["GET"], True),
            (f"{data}/sobjects/{{obj}}", self.sobject_info, ["GET"], True),
            (f"{data}/sobjects/{{obj}}/describe", self.describe, ["GET"], True),
            (f"{data}/sobjects/{{obj}}/deleted", self.deleted, ["GET"], True),
            (f"{data}/sobjects/{{obj}}/updated", self.updated, ["GET"], True),
            (f"{data}/sobjects/{{obj}}/{{record_id}}", self.retrieve, ["GET"], True),
            (f"{data}/jobs/query", self.bulk_create_or_list, ["GET", "POST"], True),
            (f"{data}/jobs/query/{{job_id}}", self.bulk_job, ["GET", "PATCH", "DELETE"], True),
            (f"{data}/jobs/query/{{job_id}}/results", self.bulk_results, ["GET"], True),
            *((f"/_sandbox/{name}", handler, methods, False) for name, handler, methods in self.control.routes()),
        ]
        routes = []
        for path, handler, methods, counted in table:
            endpoint = self._api(handler, counted)
            routes.append(Route(path, endpoint, methods=methods))
            routes.append(Route(path + "/", endpoint, methods=methods))
        return routes

    def _object(self, name: str):
        obj = object_def(name)
        if obj is None:
            raise not_found()
        return obj

    # -- auth ------------------------------------------------------------------------------------

    def oauth_token(self, req: Req) -> Response:
        form = dict(parse_qsl(req.body.decode("utf-8", "replace")))
        form.update({k: v for k, v in req.params.items() if k not in form})
        form.update(_basic_client(req.request.headers.get("authorization", "")))  # RFC 6749 2.3.1
        grant = form.get("grant_type")
        s = self.settings
        client_ok = form.get("client_id") == s.client_id and form.get("client_secret", s.client_secret) == s.client_secret
        if grant == "password":
            ok = client_ok and form.get("username") == s.username and form.get("password") in (
                s.password, s.password + form.get("security_token", ""))
            if not ok:
                return JSONResponse({"error": "invalid_grant", "error_description": "authentication failure"}, 400)
        elif grant == "client_credentials":
            if not (client_ok and "client_secret" in form):
                return JSONResponse({"error": "invalid_client", "error_description": "invalid client credentials"}, 400)
        else:
            return JSONResponse({"error": "unsupported_grant_type", "error_description": "grant type not supported"}, 400)
        issued = str(self.clock.ms())
        return JSONResponse({
            "access_token": self.sessions.issue(), "instance_url": self.base_url, "token_type": "Bearer",
            "id": f"{self.base_url}/id/00D5g0000000001EAA/0055g0000000001AAA", "issued_at": issued,
            "signature": "sandbox", "scope": "api",
        })

    # -- REST ------------------------------------------------------------------------------------

    def versions(self, req: Req) -> list:
        return [{"label": "Spring '24", "url": "/services/data/v60.0", "version": "60.0"},
                {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"}]

    def resources(self, req: Req) -> dict:
        base = f"/services/data/v{req.version}"
        return {name: f"{base}/{name}" for name in ("limits", "query", "queryAll", "sobjects", "jobs")}

    def limits(self, req: Req) -> dict:
        u = self.usage
        return {
            "DailyApiRequests": {"Max": u.daily_limit, "Remaining": max(0, u.daily_limit - u.used)},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000 - min(10000, len(self.bulk.jobs))},
            "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
            "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
            "DataStorageMB": {"Max": 1024, "Remaining": 1024},
            "ConcurrentAsyncGetReportInstances": {"Max": 200, "Remaining": 200},
        }

    def query(self, req: Req, include_deleted: bool = False) -> dict:
        text = req.params.get("q")
        if not text:
            raise SalesforceError(400, "MALFORMED_QUERY", "A query string parameter 'q' is required")
        query = parse(text)
        rows = self.store.snapshot(query.obj.name)
        total = self.store.count(query, include_deleted, rows)
        if query.count_only:
            return {"totalSize": total, "done": True, "records": []}
        batch = _batch_size(req.request.headers.get("sforce-query-options", ""))
        locator = make_id("01g", next(self._locators))[:15] + "AAA"
        cursor = Cursor(lambda: self.store.stream(query, include_deleted, rows),
                        {"query": query, "total": total, "batch": batch, "version": req.version})
        if total > batch:
            self.cursors.put(locator, cursor)
        return self._page(cursor, locator, 0)

    def query_all(self, req: Req) -> dict:
        return self.query(req, include_deleted=True)

    def query_more(self, req: Req) -> dict:
        locator, _, offset_text = req.path["locator"].rpartition("-")
        cursor = self.cursors.get(locator) if offset_text.isdigit() else None
        if cursor is None:
            raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(cursor, locator, int(offset_text))

    def _page(self, cursor: Cursor, locator: str, offset: int) -> dict:
        ctx = cursor.context
        fields, obj = ctx["query"].fields, ctx["query"].obj.name
        size = _short(ctx["batch"], offset) if self.short_batches else ctx["batch"]
        with cursor.lock:
            records = [json_record(obj, ctx["version"], fields, r) for r in cursor.take(offset, size)]
        end = offset + len(records)
        done = end >= ctx["total"] or not records
        out = {"totalSize": ctx["total"], "done": done, "records": records}
        if done:
            self.cursors.drop(locator)
        else:
            out["nextRecordsUrl"] = f"/services/data/v{ctx['version']}/query/{locator}-{end}"
        return out

    def sobjects(self, req: Req) -> dict:
        return describe_global(req.version)

    def sobject_info(self, req: Req) -> dict:
        obj = self._object(req.path["obj"])
        d = describe(obj, req.version)
        return {"objectDescribe": {k: v for k, v in d.items() if k != "fields"}, "recentItems": []}

    def describe(self, req: Req) -> dict:
        return describe(self._object(req.path["obj"]), req.version)

    def retrieve(self, req: Req) -> dict:
        obj = self._object(req.path["obj"])
        rec = self.store.find(obj.name, req.path["record_id"])
        if rec is None:
            raise not_found(f"Provided external ID field does not exist or is not accessible: {req.path['record_id']}")
        if rec["IsDeleted"]:
            raise SalesforceError(404, "ENTITY_IS_DELETED", "entity is deleted")
        wanted = req.params.get("fields")
        fields = list(obj.fields)
        if wanted:
            fields = []
            for name in wanted.split(","):
                f = obj.field(name.strip())
                if f is None:
                    raise SalesforceError(400, "INVALID_FIELD", f"No such column '{name.strip()}' on sobject of type {obj.name}")
                fields.append(f)
        return json_record(obj.name, req.version, fields, rec)

    def deleted(self, req: Req) -> dict:
        return self.replication.deleted(self._object(req.path["obj"]), req.params.get("start"), req.params.get("end"))

    def updated(self, req: Req) -> dict:
        return self.replication.updated(self._object(req.path["obj"]), req.params.get("start"), req.params.get("end"))

    # -- Bulk API 2.0 ----------------------------------------------------------------------------

    def bulk_create_or_list(self, req: Req) -> dict:
        if req.request.method == "GET":
            return {"done": True, "records": [j.info() for j in self.bulk.jobs.values()], "nextRecordsUrl": None}
        return self.bulk.create(req.json(), req.version).info()

    def bulk_job(self, req: Req):
        job_id = req.path["job_id"]
        method = req.request.method
        if method == "DELETE":
            self.bulk.delete(job_id)
            return Response(status_code=204)
        if method == "PATCH":
            state = req.json().get("state")
            if state != "Aborted":
                raise SalesforceError(400, "INVALIDJOB", f"Invalid state for a query job: {state!r}")
            return self.bulk.abort(job_id).info()
        return self.bulk.get(job_id).info()

    def bulk_results(self, req: Req) -> Response:
        raw_max = req.params.get("maxRecords")
        if raw_max is not None and not raw_max.isdigit():
            raise SalesforceError(400, "INVALIDJOB", "maxRecords must be a positive integer")
        job, cursor, offset, count, next_locator = self.bulk.page(
            req.path["job_id"], req.params.get("locator") or None, int(raw_max) if raw_max else None)
        fields = job.query.fields
        delimiter, line_ending = DELIMITERS[job.column_delimiter], LINE_ENDINGS[job.line_ending]

        def body():
            if cursor.lock.acquire(blocking=False):
                try:
                    yield from csv_chunks(fields, cursor.take(offset, count), delimiter, line_ending, header=True)
                finally:
                    cursor.lock.release()
            else:  # another page of this job is being read right now: replay independently
                replay = Cursor(cursor.factory, cursor.context)
                yield from csv_chunks(fields, replay.take(offset, count), delimiter, line_ending, header=True)

        headers = {"Sforce-Locator": next_locator, "Sforce-NumberOfRecords": str(count)}
        return StreamingResponse(body(), media_type="text/csv; charset=UTF-8", headers=headers)

def _basic_client(header: str) -> dict[str, str]:
    """client_id and client_secret from an HTTP Basic Authorization header (how simple-salesforce sends them
    for the client-credentials grant); nothing when there is none."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return {}
    try:
        client_id, _, secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return {}
    return {"client_id": client_id, "client_secret": secret}


def _short(batch: int, offset: int) -> int:
    """A page size in [batch/2, batch), fixed by the offset so that a replayed page is the same page."""
    half = max(1, batch // 2)
    return half + (offset * 7919) % half if batch > 1 else 1


def _batch_size(options: str) -> int:
    m = re.search(r"batchSize\s*=\s*(\d+)", options)
    if not m:
        return MAX_BATCH
    return max(MIN_BATCH, min(MAX_BATCH, int(m.group(1))))
