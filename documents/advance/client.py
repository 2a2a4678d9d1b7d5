"""The HotDocs Advance API client: service principal log-in, token reuse and streaming downloads.

Only URLs of the source's own API origin are ever requested, redirects included (urls.py), and
every connection is checked for where it really goes (connections.py).
"""

import email.utils
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote

import requests
from django.conf import settings
from urllib3.exceptions import ReadTimeoutError

from core.origins import url_origin
from sources.models import Source

from .connections import session
from .errors import AdvanceError, AdvanceUnavailable, URLRefused
from .urls import redirect_url, request_url

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 5

# Access tokens per source, shared by the threads of a process: (credentials version, token).
_tokens: dict[int, tuple[str, str]] = {}
_tokens_lock = threading.Lock()


@dataclass
class Download:
    response: requests.Response
    bytes_read: int = field(default=0, init=False)

    @property
    def status_code(self) -> int:
        return self.response.status_code

    @property
    def content_type(self) -> str:
        return self.response.headers.get("Content-Type", "")

    @property
    def content_disposition(self) -> str:
        return self.response.headers.get("Content-Disposition", "")

    @property
    def content_length(self) -> int | None:
        value = self.response.headers.get("Content-Length")
        return int(value) if value and value.isdigit() else None

    def iter_bytes(self) -> Iterator[bytes]:
        try:
            for chunk in self.response.iter_content(chunk_size=settings.DOCUMENT_DOWNLOAD_CHUNK_BYTES):
                self.bytes_read += len(chunk)
                yield chunk
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as error:
            stalled = any(isinstance(arg, ReadTimeoutError) for arg in error.args)
            reason = "no data within the read timeout" if stalled else type(error).__name__
            raise AdvanceUnavailable(
                f"download interrupted after {self.bytes_read} bytes: {reason}", http_status=self.status_code
            ) from None


class AdvanceClient:
    def __init__(self, source: Source):
        self.source = source
        self.timeout = (settings.ADVANCE_CONNECT_TIMEOUT, settings.ADVANCE_READ_TIMEOUT)

    # Log-in ------------------------------------------------------------------------------

    def _credentials_version(self) -> str:
        # The ciphertext changes when the password does, so a changed password forces a log-in.
        return f"{self.source.client_name}|{self.source.principal_name}|{self.source.principal_password_encrypted}"

    def access_token(self, *, renew: bool = False) -> str:
        version = self._credentials_version()
        with _tokens_lock:
            cached = _tokens.get(self.source.pk)
        if cached and cached[0] == version and not renew:
            return cached[1]
        token = self.login()
        with _tokens_lock:
            _tokens[self.source.pk] = (version, token)
        return token

    def login(self) -> str:
        """Log in as the service principal; return the access token."""
        url = f"{self.source.auth_base_url.rstrip('/')}/Authorize/ServicePrincipalLogIn"
        if url_origin(url)[2] == -1:
            # The password goes there: never to a URL the client may read as another host (a source
            # saved before Source.clean refused such URLs, or stored without it).
            raise URLRefused(f"refused to log in at an unsafe auth base URL: {ascii(self.source.auth_base_url[:300])}")
        body = {
            "ClientName": self.source.client_name,
            "PrincipalName": self.source.principal_name,
            "PrincipalPassword": self.source.principal_password,
        }
        try:
            response = session().post(url, json=body, timeout=self.timeout, allow_redirects=False)
        except (requests.ConnectionError, requests.Timeout) as error:
            raise AdvanceUnavailable(f"log-in failed: {type(error).__name__}") from None
        if response.status_code != 200 or not response.text.strip():
            # Wrong credentials are retried too: an operator may fix them before the retries run out.
            raise AdvanceUnavailable(
                f"log-in refused: HTTP {response.status_code}",
                retry_after=_retry_after(response),
                http_status=response.status_code,
            )
        logger.info("logged in to Advance: source=%s", self.source.slug)
        return response.text.strip()

    # Requests ----------------------------------------------------------------------------

    def _send(self, method: str, url: str, *, stream: bool = False, body: bytes | None = None) -> requests.Response:
        """One call with the access token, redirects not followed; network failures are AdvanceUnavailable."""
        headers = {"Authorization": f"Bearer {self.access_token()}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            return session().request(
                method, url, data=body, headers=headers, stream=stream, timeout=self.timeout, allow_redirects=False
            )
        except (requests.ConnectionError, requests.Timeout) as error:
            raise AdvanceUnavailable(f"request failed: {type(error).__name__}") from None

    def _get(self, url: str, *, stream: bool) -> requests.Response:
        """GET a URL of the source's API with the access token: one re-log-in on 401, same-origin redirects only.

        What is requested is the API's own origin with the path and query url names (request_url),
        and the same for every redirect hop.
        """
        renewed = False
        url = request_url(url, self.source.api_base_url)
        for _ in range(MAX_REDIRECTS + 2):
            response = self._send("GET", url, stream=stream)
            if response.status_code == 401 and not renewed:
                response.close()
                self.access_token(renew=True)
                renewed = True
                continue
            if response.is_redirect:
                response.close()
                url = redirect_url(response.headers["Location"], current=url, api_base_url=self.source.api_base_url)
                continue
            _raise_for_status(response)
            return response
        raise AdvanceError("too many redirects")

    def send_json(self, method: str, path: str, body: bytes | None) -> int:
        """Send a call with a JSON body to a path of the source's API; return the HTTP status.

        One re-log-in on 401; a redirect is refused rather than followed (a write is not replayed elsewhere).
        """
        url = request_url(f"{self._base()}/{path.lstrip('/')}", self.source.api_base_url)
        response = self._send(method, url, body=body)
        if response.status_code == 401:
            response.close()
            self.access_token(renew=True)
            response = self._send(method, url, body=body)
        if response.is_redirect:
            response.close()
            raise AdvanceError(f"Advance answered a redirect (HTTP {response.status_code}) to {method} {path[:200]}")
        if response.status_code in (401, 403):
            _raise_write_refused(response, f"{method} {path[:200]}")
        _raise_for_status(response)
        response.close()
        return response.status_code

    def _json_list(self, url: str, what: str) -> list[dict]:
        """GET a JSON list (bare, or the first list inside an object), its objects' keys case-folded."""
        response = self._get(url, stream=False)
        try:
            items = response.json()
        except ValueError:
            raise AdvanceError(f"the {what} is not JSON") from None
        if isinstance(items, dict):  # some editions wrap lists
            items = next((value for value in items.values() if isinstance(value, list)), [])
        return [
            {str(key).lower(): value for key, value in item.items()}
            for item in (items if isinstance(items, list) else [])
            if isinstance(item, dict)
        ]

    # The API's calls ---------------------------------------------------------------------

    def list_documents(self, work_item_id: str) -> list[dict]:
        """The documents of the work item's latest version: [{"id": ..., "name": ...}, ...]."""
        url = f"{self._base()}/WorkItems/{quote(work_item_id)}/Documents"
        return [
            {"id": str(item["id"]), "name": str(item.get("name") or "")}
            for item in self._json_list(url, "document list")
            if item.get("id")
        ]

    def list_version_documents(self, work_item_id: str, version_id: str) -> list[dict]:
        """The documents of that very version (API v2.0): [{"id": ..., "name": ..., "url": ...}, ...]."""
        url = f"{self._version_base(work_item_id, version_id)}/Documents"
        return [
            {
                "id": str(item["id"]),
                "name": str(item.get("name") or ""),
                "url": self.version_content_url(work_item_id, version_id, str(item["id"])),
            }
            for item in self._json_list(url, "version's document list")
            if item.get("id")
        ]

    def list_work_items(self, *, query: str, skip: int, take: int) -> list[dict]:
        """One page of GET /WorkItems?{query}&skip=&take= (keys case-folded)."""
        separator = "&" if query else ""
        url = f"{self._base()}/WorkItems?{query}{separator}skip={skip}&take={take}"
        return self._json_list(url, "work item list")

    def list_versions(self, work_item_id: str) -> list[dict]:
        """GET /WorkItems/{id}/Versions (keys case-folded)."""
        return self._json_list(f"{self._base()}/WorkItems/{quote(work_item_id)}/Versions", "version list")

    def _base(self) -> str:
        return self.source.api_base_url.rstrip("/")

    def _version_base(self, work_item_id: str, version_id: str) -> str:
        return f"{self._base()}/WorkItems/{quote(work_item_id)}/Versions/{quote(version_id)}"

    def version_content_url(self, work_item_id: str, version_id: str, document_id: str) -> str:
        return f"{self._version_base(work_item_id, version_id)}/Documents/{quote(document_id)}/Content"

    def content_url(self, work_item_id: str, document_id: str) -> str:
        return f"{self._base()}/WorkItems/{quote(work_item_id)}/Documents/{quote(document_id)}/Content"

    @contextmanager
    def download(self, url: str) -> Iterator[Download]:
        response = self._get(url, stream=True)
        try:
            yield Download(response)
        finally:
            response.close()


def _retry_after(response: requests.Response) -> float | None:
    """Retry-After in seconds, from either of its forms (seconds, or an HTTP date)."""
    value = response.headers.get("Retry-After", "").strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _raise_write_refused(response: requests.Response, call: str) -> None:
    """A write refused with 401 (after a fresh log-in) or 403: most likely the API client's scope."""
    code = response.status_code
    response.close()
    reason = (
        f"Advance refused {call} (HTTP {code}): the API client needs the Command (or Root) scope for this call; "
        "with the Query scope it can only read"
    )
    if code == 401:
        # Retried, as a refused log-in is: the scope may be changed before the retries run out.
        raise AdvanceUnavailable(reason, retry_after=_retry_after(response), http_status=code)
    raise AdvanceError(reason, http_status=code)


def _raise_for_status(response: requests.Response) -> None:
    code = response.status_code
    if 200 <= code < 300:
        return
    response.close()
    if code in (408, 425, 429) or code >= 500 or code == 401:
        raise AdvanceUnavailable(f"Advance answered HTTP {code}", retry_after=_retry_after(response), http_status=code)
    raise AdvanceError(f"Advance answered HTTP {code}", http_status=code)
