"""The HotDocs Advance API client: service principal log-in and streaming downloads.

Only URLs of the source's own API origin are ever requested, redirects included.
"""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

from webhooks.models import Source
from webhooks.registry import RetryableError

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 5
DEFAULT_PORTS = {"http": 80, "https": 443}


class AdvanceError(Exception):
    """Advance refused for good (404, another origin, bad answer): retrying will not help."""


class AdvanceUnavailable(RetryableError):
    """Advance could not answer now (network, timeout, 5xx, 429): retry later."""


def origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or DEFAULT_PORTS.get(scheme, 0)
    except ValueError:
        port = -1
    return scheme, (parts.hostname or ""), port


def origin_check(url: str, api_base_url: str) -> None:
    """Raise AdvanceError unless url has the API base URL's scheme, host and port."""
    if origin(url) != origin(api_base_url) or origin(url)[0] not in DEFAULT_PORTS:
        raise AdvanceError(f"refused URL of another origin than the source's API: {url[:300]}")


def _session() -> requests.Session:
    # One pooled session per thread: connections to Advance are reused between documents.
    session = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        session.trust_env = False  # no proxy or .netrc from the environment decides where we connect
        session.mount("http://", HTTPAdapter(pool_connections=4, pool_maxsize=4))
        session.mount("https://", HTTPAdapter(pool_connections=4, pool_maxsize=4))
        _local.session = session
    return session


_local = threading.local()
# Access tokens per source, shared by the threads of a process: (credentials version, token).
_tokens: dict[int, tuple[str, str]] = {}
_tokens_lock = threading.Lock()


@dataclass
class Download:
    response: requests.Response

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
            yield from self.response.iter_content(chunk_size=settings.DOCUMENT_DOWNLOAD_CHUNK_BYTES)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as error:
            raise AdvanceUnavailable(f"download interrupted: {type(error).__name__}") from None


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
        body = {
            "ClientName": self.source.client_name,
            "PrincipalName": self.source.principal_name,
            "PrincipalPassword": self.source.principal_password,
        }
        try:
            response = _session().post(url, json=body, timeout=self.timeout, allow_redirects=False)
        except (requests.ConnectionError, requests.Timeout) as error:
            raise AdvanceUnavailable(f"log-in failed: {type(error).__name__}") from None
        if response.status_code != 200 or not response.text.strip():
            # Wrong credentials are retried too: an operator may fix them before the retries run out.
            raise AdvanceUnavailable(f"log-in refused: HTTP {response.status_code}", retry_after=_retry_after(response))
        logger.info("logged in to Advance: source=%s", self.source.slug)
        return response.text.strip()

    # Requests ----------------------------------------------------------------------------

    def _get(self, url: str, *, stream: bool) -> requests.Response:
        """GET a URL of the source's API with the access token: one re-log-in on 401, same-origin redirects only."""
        renewed = False
        for _ in range(MAX_REDIRECTS + 2):
            origin_check(url, self.source.api_base_url)
            headers = {"Authorization": f"Bearer {self.access_token()}"}
            try:
                response = _session().get(url, headers=headers, stream=stream, timeout=self.timeout, allow_redirects=False)
            except (requests.ConnectionError, requests.Timeout) as error:
                raise AdvanceUnavailable(f"request failed: {type(error).__name__}") from None
            if response.status_code == 401 and not renewed:
                response.close()
                self.access_token(renew=True)
                renewed = True
                continue
            if response.is_redirect:
                response.close()
                url = urljoin(url, response.headers["Location"])
                continue
            _raise_for_status(response)
            return response
        raise AdvanceError("too many redirects")

    def list_documents(self, work_item_id: str) -> list[dict]:
        """The documents of the work item's latest version: [{"id": ..., "name": ...}, ...]."""
        url = f"{self.source.api_base_url.rstrip('/')}/WorkItems/{quote(work_item_id)}/Documents"
        response = self._get(url, stream=False)
        try:
            items = response.json()
        except ValueError:
            raise AdvanceError("the document list is not JSON") from None
        if isinstance(items, dict):  # some editions wrap lists
            items = next((value for value in items.values() if isinstance(value, list)), [])
        documents = []
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict):
                folded = {str(key).lower(): value for key, value in item.items()}
                if folded.get("id"):
                    documents.append({"id": str(folded["id"]), "name": str(folded.get("name") or "")})
        return documents

    def content_url(self, work_item_id: str, document_id: str) -> str:
        base = self.source.api_base_url.rstrip("/")
        return f"{base}/WorkItems/{quote(work_item_id)}/Documents/{quote(document_id)}/Content"

    @contextmanager
    def download(self, url: str) -> Iterator[Download]:
        response = self._get(url, stream=True)
        try:
            yield Download(response)
        finally:
            response.close()


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _raise_for_status(response: requests.Response) -> None:
    code = response.status_code
    if 200 <= code < 300:
        return
    response.close()
    if code in (408, 425, 429) or code >= 500 or code == 401:
        raise AdvanceUnavailable(f"Advance answered HTTP {code}", retry_after=_retry_after(response))
    raise AdvanceError(f"Advance answered HTTP {code}")
