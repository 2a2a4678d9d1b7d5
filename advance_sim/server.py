"""A simulated HotDocs Advance tenancy: service-principal log-in, the documents API, a webhook
sender, and faults on demand for tests, benchmarks and the demo."""

import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import requests

from .documents import SimDocument, document_chunks, document_size

# Advance keeps only the last five versions of a work item; older document URLs stop working.
KEPT_VERSIONS = 5
MAX_REQUEST_BODY = 1024 * 1024
# Where this simulator takes the post-assembly processing status (Advance's help names no call:
# this path is our guess, and the source's setting must be given it).
POST_PROCESSING_STATUS_PATH = "WorkItems/{workItemId}/Versions/{versionId}/PostAssemblyProcessingStatus"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class SimVersion:
    id: str
    documents: list[SimDocument]
    completed_at: datetime = field(default_factory=_now)


@dataclass
class SimWorkItem:
    id: str
    name: str
    versions: list[SimVersion] = field(default_factory=list)

    @property
    def version_id(self) -> str:
        return self.versions[-1].id

    @property
    def documents(self) -> list[SimDocument]:
        """The latest version's documents, as `GET /WorkItems/{id}/Documents` lists them."""
        return self.versions[-1].documents

    def find_document(self, document_id: str) -> SimDocument | None:
        for version in reversed(self.versions):
            for document in version.documents:
                if document.id.lower() == document_id.lower():
                    return document
        return None


@dataclass(frozen=True)
class StatusCall:
    """A post-assembly processing status call received: for which version, with what body."""

    method: str
    work_item_id: str
    version_id: str
    body: bytes


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # Authorization redacted
    time: float


@dataclass
class _Fault:
    remaining: int
    status: int
    path_contains: str
    headers: dict[str, str]
    body: bytes


def content_disposition(document: SimDocument) -> str:
    """The `Content-Disposition` header value the server sends for `document`."""
    if not document.filename_star:
        return f'attachment; filename="{document.filename}"'
    # ASP.NET sends an ASCII fallback next to `filename*`; a good client prefers the latter.
    fallback = document.filename.encode("ascii", "replace").decode().replace("?", "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(document.filename)}"


def send_webhook(
    url: str,
    payload_or_bytes: Mapping[str, Any] | bytes,
    *,
    token: str | None,
    bearer: bool = True,
    timeout: float = 10,
) -> requests.Response:
    """POST an event the way Advance does: JSON body, the webhook token in `Authorization`."""
    body = payload_or_bytes if isinstance(payload_or_bytes, bytes) else json.dumps(payload_or_bytes).encode()
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}" if bearer else token
    return requests.post(url, data=body, headers=headers, timeout=timeout)


def send_interview_call(
    url: str,
    *,
    token: str | None,
    event_type: str = "InterviewLoadEvent",
    event_name: str = "",
    work_item_id: str = "",
    user_id: str = "",
    method: str = "POST",
    answers: Any = None,
    timeout: float = 10,
) -> requests.Response:
    """Call the webhook as Advance does during an interview, and return the answer.

    What Advance sends here is not documented; POST sends a JSON body like its other events, GET
    sends the same fields in the query string (Advance's request verb is configurable).
    """
    fields: dict[str, Any] = {"eventId": str(uuid.uuid4()), "eventType": event_type}
    if event_name:
        fields["eventName"] = event_name
    data: dict[str, Any] = {"workItemId": work_item_id, "userId": user_id}
    if answers is not None:
        data["answers"] = answers
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    if method.upper() == "GET":
        query = {**fields, "workItemId": work_item_id, "userId": user_id}
        return requests.get(url, params=query, headers=headers, timeout=timeout)
    headers["Content-Type"] = "application/json"
    body = json.dumps({**fields, "data": data}).encode()
    return requests.request(method.upper(), url, data=body, headers=headers, timeout=timeout)


class SimulatedAdvance:
    """An Advance server on a background thread; use as a context manager or start()/stop()."""

    send_webhook = staticmethod(send_webhook)
    send_interview_call = staticmethod(send_interview_call)

    def __init__(
        self,
        *,
        client_name: str = "sync-client",
        principal_name: str = "sync-principal",
        principal_password: str = "s3cret-pass",  # noqa: S107 (the simulator's well-known demo credential)
        host: str = "127.0.0.1",
        port: int = 0,
        api_prefix: str = "/HdaApi/rest/v1.1",
        auth_prefix: str = "/HdaAuth",
    ) -> None:
        self.client_name = client_name
        self.principal_name = principal_name
        self.principal_password = principal_password
        self.host = host
        self.port = port
        self.api_prefix = api_prefix.rstrip("/")
        self.auth_prefix = auth_prefix.rstrip("/")
        # Knobs tests may set at any time; each request reads them once.
        self.delay_seconds: float = 0.0
        self.cut_after_bytes: int | None = None
        # A pause after each 64 KiB chunk of a document's body: a slow line, for downloads that
        # must still be running when a test interrupts them (or that stall past a read timeout).
        self.chunk_delay_seconds: float = 0.0
        self.token_ttl_seconds: float | None = None
        # False: an API v1.1 that has no version-scoped document list (404, as for an unknown route).
        self.version_scoped_documents: bool = True
        self.status_calls: list[StatusCall] = []
        self.login_count = 0
        self._lock = threading.Lock()
        self._work_items: dict[str, SimWorkItem] = {}
        self._tokens: dict[str, float] = {}  # access token -> monotonic time issued
        self._faults: list[_Fault] = []
        self._redirects: dict[str, str] = {}
        self._requests: list[RequestRecord] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._login_path = f"{self.auth_prefix}/Authorize/ServicePrincipalLogIn".lower()
        self._api_path = re.compile(
            rf"^{re.escape(self.api_prefix)}/workitems/(?P<work_item>[^/]+)/documents"
            r"(?:/(?P<document>[^/]+)/content)?/?$",
            re.IGNORECASE,  # Advance runs on IIS; its own payloads use lower-case paths
        )
        prefix = re.escape(self.api_prefix)
        self._work_items_path = re.compile(rf"^{prefix}/workitems/?$", re.IGNORECASE)
        self._versions_path = re.compile(rf"^{prefix}/workitems/(?P<work_item>[^/]+)/versions/?$", re.IGNORECASE)
        self._version_documents_path = re.compile(
            rf"^{prefix}/workitems/(?P<work_item>[^/]+)/versions/(?P<version>[^/]+)/documents"
            r"(?:/(?P<document>[^/]+)/content)?/?$",
            re.IGNORECASE,
        )
        self._status_path = re.compile(
            rf"^{prefix}/workitems/(?P<work_item>[^/]+)/versions/(?P<version>[^/]+)/postassemblyprocessingstatus/?$",
            re.IGNORECASE,
        )

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> "SimulatedAdvance":
        server = _Server((self.host, self.port), _Handler)
        server.sim = self
        self._server = server
        # A short poll interval keeps stop() (and so every test's teardown) quick.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="advance-sim", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = self._thread = None

    def __enter__(self) -> "SimulatedAdvance":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulated Advance is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_base_url(self) -> str:
        return self.base_url + self.api_prefix

    @property
    def auth_base_url(self) -> str:
        return self.base_url + self.auth_prefix

    # --- data --------------------------------------------------------------------------------

    def add_work_item(
        self, *, work_item_id: str | None = None, name: str = "WI001", documents: list[SimDocument] | None = None
    ) -> SimWorkItem:
        """Register a work item with one completed version (default: one .docx)."""
        work_item = SimWorkItem(id=work_item_id or str(uuid.uuid4()), name=name)
        work_item.versions.append(SimVersion(str(uuid.uuid4()), [SimDocument()] if documents is None else documents))
        with self._lock:
            self._work_items[work_item.id.lower()] = work_item
        return work_item

    def work_item_put(self, work_item: SimWorkItem) -> None:
        """Register a work item as given (its ids, versions and dates), e.g. one a database already knows."""
        with self._lock:
            self._work_items[work_item.id.lower()] = work_item

    def new_version(self, work_item: SimWorkItem, documents: list[SimDocument] | None = None) -> str:
        """Complete a new version and return its id; by default the same documents under new ids."""
        if documents is None:
            documents = [replace(document, id=str(uuid.uuid4())) for document in work_item.documents]
        version = SimVersion(str(uuid.uuid4()), documents)
        with self._lock:
            work_item.versions = [*work_item.versions, version][-KEPT_VERSIONS:]
        return version.id

    def version(self, work_item: SimWorkItem, version_id: str) -> SimVersion | None:
        with self._lock:
            return next((v for v in work_item.versions if v.id.lower() == version_id.lower()), None)

    def document_url(self, work_item_id: str, document_id: str) -> str:
        return f"{self.api_base_url}/workitems/{work_item_id}/documents/{document_id}/content"

    # --- faults ------------------------------------------------------------------------------

    def fail_next(
        self,
        count: int,
        status: int,
        *,
        path_contains: str = "",
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> None:
        """Answer the next `count` requests whose path contains `path_contains` with `status`."""
        with self._lock:
            self._faults.append(_Fault(count, status, path_contains.lower(), dict(headers or {}), body))

    def expire_tokens(self) -> None:
        """Invalidate every access token issued so far, as a lapsed token lifetime would."""
        with self._lock:
            self._tokens.clear()

    def add_redirect(self, path: str, location: str) -> None:
        """Answer requests for `path` (case-insensitive, query ignored) with 302 to `location`."""
        with self._lock:
            self._redirects[path.lower()] = location

    def reset(self) -> None:
        """Clear faults, redirects, delays, cuts, the request log and the log-in count."""
        with self._lock:
            self._faults.clear()
            self._redirects.clear()
            self._requests.clear()
            self.delay_seconds = 0.0
            self.cut_after_bytes = None
            self.chunk_delay_seconds = 0.0
            self.login_count = 0
            self.status_calls.clear()

    # --- request log -------------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, path_contains: str) -> list[RequestRecord]:
        return [record for record in self.requests if path_contains.lower() in record.path.lower()]

    # --- webhook side ------------------------------------------------------------------------

    def event_payload(
        self,
        work_item: SimWorkItem,
        *,
        version_id: str | None = None,
        event_id: str | None = None,
        include_documents: bool = True,
        event_type: str = "NewWorkItemVersionComplete",
        user_login: str = "john.smith@example.com",
    ) -> dict[str, Any]:
        """An event shaped exactly like Advance's documented NewWorkItemVersionComplete example.

        An unknown `version_id` is sent as given, with the latest version's documents.
        """
        version = next((v for v in work_item.versions if v.id == version_id), work_item.versions[-1])
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
        documents = version.documents if include_documents else []
        return {
            "eventId": event_id or str(uuid.uuid4()),
            "eventType": event_type,
            "createdDate": now + "0Z",  # .NET writes seven fractional digits
            "createdBy": {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, user_login)),
                "loginName": user_login,
                "accountType": "UserAccount",
            },
            "data": {
                "workItemId": work_item.id,
                "workItemVersionId": version_id or version.id,
                "workItemName": work_item.name,
                "documents": [
                    {"id": d.id, "name": d.name, "url": self.document_url(work_item.id, d.id)} for d in documents
                ],
            },
        }

    # --- used by the request handler -----------------------------------------------------------

    def _record(self, method: str, path: str, query: str, headers: Mapping[str, str]) -> None:
        redacted = {}
        for name, value in headers.items():
            if name.lower() == "authorization":
                scheme, _, credentials = value.partition(" ")
                value = f"{scheme} <redacted>" if credentials else "<redacted>"
            redacted[name] = value
        with self._lock:
            self._requests.append(RequestRecord(method, path, query, redacted, time.time()))

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.path_contains in path.lower():
                    fault.remaining -= 1
                    return fault
        return None

    def _redirect_for(self, path: str) -> str | None:
        with self._lock:
            return self._redirects.get(path.lower())

    def _log_in(self, client_name: object, principal_name: object, password: object) -> str | None:
        if (client_name, principal_name, password) != (self.client_name, self.principal_name, self.principal_password):
            return None
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = time.monotonic()
            self.login_count += 1
        return token

    def _token_valid(self, authorization: str) -> bool:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return False
        with self._lock:
            issued = self._tokens.get(token.strip())
        if issued is None:
            return False
        return self.token_ttl_seconds is None or time.monotonic() - issued < self.token_ttl_seconds

    def _work_item(self, work_item_id: str) -> SimWorkItem | None:
        with self._lock:
            return self._work_items.get(work_item_id.lower())

    def _work_items_listed(self, query: str) -> list[dict[str, Any]]:
        """GET /WorkItems: work items whose latest version completed at or after modifiedSince, paged by skip/take.

        Advance documents a `filter` parameter on this call (for a status) but not its syntax nor
        paging; this simulator takes filter=Completed, modifiedSince (ISO 8601), skip and take.
        """
        params = {key.lower(): values[-1] for key, values in parse_qs(query).items()}
        since = (
            datetime.fromisoformat(params["modifiedsince"].replace("Z", "+00:00"))
            if "modifiedsince" in params
            else None
        )
        with self._lock:
            items = sorted(self._work_items.values(), key=lambda w: w.versions[-1].completed_at)
        if since is not None:
            items = [w for w in items if w.versions[-1].completed_at >= since]
        skip, take = int(params.get("skip", 0)), int(params.get("take", 100))
        return [
            {"id": w.id, "name": w.name, "status": "Completed", "lastModified": w.versions[-1].completed_at.isoformat()}
            for w in items[skip : skip + take]
        ]


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a stalled download must not keep stop() or the process waiting
    request_queue_size = 128  # benchmarks open many connections at once
    sim: SimulatedAdvance


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked bodies, as a real server
    # Headers and body go out in two writes: with Nagle's algorithm on, the body waited for the
    # client's delayed ACK of the headers (about 40 ms on Linux) on every request of a kept-alive
    # connection.
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log replaces stderr noise

    def _dispatch(self) -> None:
        sim = self.server.sim
        url = urlsplit(self.path)
        path = unquote(url.path)
        sim._record(self.command, path, url.query, self.headers)
        if sim.delay_seconds:
            time.sleep(sim.delay_seconds)
        body = self._read_body()
        if body is None:
            return
        if fault := sim._take_fault(path):
            self._send(fault.status, fault.body, headers=fault.headers)
        elif location := sim._redirect_for(path):
            self._send(302, b"", headers={"Location": location})
        elif path.lower() == sim._login_path and self.command == "POST":
            self._log_in(body)
        elif path.lower() == sim._login_path:
            self._send_json(405, {"error": "use POST"})
        elif match := sim._status_path.match(path):
            self._status_call(match["work_item"], match["version"], body)
        elif self.command == "GET" and sim._work_items_path.match(path) and self._authorized():
            self._send_json(200, sim._work_items_listed(url.query))
        elif self.command == "GET" and (match := sim._versions_path.match(path)) and self._authorized():
            self._versions(match["work_item"])
        elif match := sim._version_documents_path.match(path):
            self._version_documents(match["work_item"], match["version"], match["document"])
        elif match := sim._api_path.match(path):
            self._api(match["work_item"], match["document"])
        else:
            self._send_json(404, {"error": "not found"})

    def _read_body(self) -> bytes | None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BODY:
            self.close_connection = True  # the unread body would otherwise be parsed as a request
            self._send_json(413, {"error": "request body too large"})
            return None
        return self.rfile.read(length)

    def _log_in(self, body: bytes) -> None:
        try:
            credentials = json.loads(body)
            if not isinstance(credentials, dict):
                raise ValueError("not an object")
        except ValueError:
            self._send_json(400, {"error": "expected a JSON object"})
            return
        fields = {str(key).lower(): value for key, value in credentials.items()}  # .NET binds keys in any case
        token = self.server.sim._log_in(
            fields.get("clientname"), fields.get("principalname"), fields.get("principalpassword")
        )
        if token is None:
            self._send_json(401, {"error": "invalid client or principal credentials"})
        else:
            self._send(200, token.encode(), content_type="text/plain; charset=utf-8")

    def _api(self, work_item_id: str, document_id: str | None) -> None:
        sim = self.server.sim
        if self.command != "GET":
            self._send_json(405, {"error": "use GET"})
        elif not sim._token_valid(self.headers.get("Authorization", "")):
            self._send_json(
                401, {"error": "missing, invalid or expired access token"}, headers={"WWW-Authenticate": "Bearer"}
            )
        elif (work_item := sim._work_item(work_item_id)) is None:
            self._send_json(404, {"error": f"work item {work_item_id} not found"})
        elif document_id is None:
            self._send_json(200, [{"id": d.id, "name": d.name} for d in work_item.documents])
        elif (document := work_item.find_document(document_id)) is None:
            self._send_json(404, {"error": f"document {document_id} not found"})
        else:
            self._send_document(document)

    def _authorized(self) -> bool:
        """True when the access token is valid; else answers 401 and returns False."""
        if self.server.sim._token_valid(self.headers.get("Authorization", "")):
            return True
        self._send_json(
            401, {"error": "missing, invalid or expired access token"}, headers={"WWW-Authenticate": "Bearer"}
        )
        return False

    def _versions(self, work_item_id: str) -> None:
        sim = self.server.sim
        if (work_item := sim._work_item(work_item_id)) is None:
            self._send_json(404, {"error": f"work item {work_item_id} not found"})
            return
        with sim._lock:
            versions = list(work_item.versions)
        self._send_json(
            200, [{"id": v.id, "status": "Completed", "completedDate": v.completed_at.isoformat()} for v in versions]
        )

    def _version_documents(self, work_item_id: str, version_id: str, document_id: str | None) -> None:
        sim = self.server.sim
        if not sim.version_scoped_documents:
            self._send_json(404, {"error": "not found"})
        elif self.command != "GET":
            self._send_json(405, {"error": "use GET"})
        elif not self._authorized():
            return
        elif (work_item := sim._work_item(work_item_id)) is None:
            self._send_json(404, {"error": f"work item {work_item_id} not found"})
        elif (version := sim.version(work_item, version_id)) is None:
            self._send_json(404, {"error": f"version {version_id} not found"})  # one of the 5 kept, or none
        elif document_id is None:
            self._send_json(200, [{"id": d.id, "name": d.name} for d in version.documents])
        elif (document := next((d for d in version.documents if d.id.lower() == document_id.lower()), None)) is None:
            self._send_json(404, {"error": f"document {document_id} not found"})
        else:
            self._send_document(document)

    def _status_call(self, work_item_id: str, version_id: str, body: bytes) -> None:
        sim = self.server.sim
        if self.command not in ("PUT", "POST", "PATCH"):
            self._send_json(405, {"error": "use PUT"})
        elif not self._authorized():
            return
        elif (work_item := sim._work_item(work_item_id)) is None or sim.version(work_item, version_id) is None:
            self._send_json(404, {"error": f"version {version_id} not found"})
        else:
            with sim._lock:
                sim.status_calls.append(StatusCall(self.command, work_item_id, version_id, body))
            self._send(204, b"")

    def _send_document(self, document: SimDocument) -> None:
        cut_after = (
            document.cut_after_bytes if document.cut_after_bytes is not None else self.server.sim.cut_after_bytes
        )
        self.send_response(200)
        self.send_header("Content-Type", document.media_type)
        if document.content_disposition:
            self.send_header("Content-Disposition", content_disposition(document))
        if document.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(document_size(document)))
        self.end_headers()
        sent = 0
        try:
            for chunk in document_chunks(document):
                if cut_after is not None and sent + len(chunk) > cut_after:
                    self._write_body(chunk[: cut_after - sent], document.chunked)
                    self.close_connection = True  # the client sees a short body, as on a dropped line
                    return
                self._write_body(chunk, document.chunked)
                sent += len(chunk)
                if self.server.sim.chunk_delay_seconds:
                    self.wfile.flush()
                    time.sleep(self.server.sim.chunk_delay_seconds)
            if document.chunked:
                self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away; nothing to tell it

    def _write_body(self, chunk: bytes, chunked: bool) -> None:
        if not chunk:
            return  # an empty chunk would end a chunked body
        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)

    def _send_json(self, status: int, data: object, *, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode(), content_type="application/json", headers=headers)

    def _send(
        self,
        status: int,
        body: bytes,
        *,
        content_type: str = "text/plain; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        headers = headers or {}
        self.send_response(status)
        if body and not any(name.lower() == "content-type" for name in headers):
            self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
