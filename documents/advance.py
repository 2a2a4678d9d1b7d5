"""The HotDocs Advance API client: service principal log-in and streaming downloads.

Only URLs of the source's own API origin are ever requested, redirects included, and no
connection is ever made to a link-local, cloud metadata or unspecified address, whatever the
host name resolves to at the moment of connecting.
"""

import email.utils
import ipaddress
import logging
import re
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from urllib.parse import quote, unquote, urljoin, urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError, ReadTimeoutError
from urllib3.util.connection import allowed_gai_family

from core.errors import PermanentError, RetryableError
from core.origins import DEFAULT_PORTS, client_origin, url_origin
from webhooks.models import Source

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 5


# Never connected to: link-local addresses (the cloud metadata services answer at 169.254.169.254
# and, on AWS, fd00:ec2::254) and "this host" / unspecified addresses, which Linux routes to the
# local machine. Checked against the address a connection is actually made to, so no spelling
# (decimal, IPv4-mapped IPv6) and no DNS answer, however late it changes, gets around it.
REFUSED_NETWORKS = ("169.254.0.0/16", "0.0.0.0/8", "fe80::/10", "fd00:ec2::254/128", "::/128")
NAT64_NETWORK = ipaddress.ip_network("64:ff9b::/96")


class AdvanceError(PermanentError):
    """Advance refused for good (404, another origin, bad answer): retrying will not help."""

    def __init__(self, message: str, *, http_status: int | None = None):
        super().__init__(message)
        self.http_status = http_status


class OutboundRefused(AdvanceError):
    """A connection to an address we never connect to was refused before it was made."""


class AdvanceUnavailable(RetryableError):
    """Advance could not answer now (network, timeout, 5xx, 429): retry later."""

    def __init__(self, message: str, *, retry_after: float | None = None, http_status: int | None = None):
        super().__init__(message, retry_after=retry_after)
        self.http_status = http_status


class URLRefused(AdvanceError):
    """A URL from a payload or a redirect that does not plainly name the source's API origin."""


# The only URLs requested: http(s)://host[:port], then a path and a query. Anything a parser could
# read another way is refused before it is read at all (see request_url).
_ABSOLUTE_URL = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/?]*)(?P<path>[^?]*)(?:\?(?P<query>.*))?"
)
_HOST_PORT = re.compile(r"(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]{1,5}))?")
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ENCODED_SEPARATOR = re.compile(r"%(?:2f|5c)", re.IGNORECASE)


@dataclass(frozen=True)
class _Origin:
    scheme: str
    host: str  # lower case, an IPv6 address in brackets
    port: int

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


def _origin(scheme: str | None, host: str | None, port: int | None) -> _Origin:
    scheme = (scheme or "").lower()
    host = (host or "").lower()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # urlsplit gives IPv6 addresses without their brackets
    return _Origin(scheme, host, port or DEFAULT_PORTS.get(scheme, 0))


def _client_origin(url: str) -> _Origin | None:
    """Where the HTTP client connects for url (core.origins.client_origin), as an _Origin."""
    found = client_origin(url)
    return _origin(*found) if found else None


def _urlsplit_origin(url: str) -> _Origin | None:
    """Where Python's urlsplit says url goes (what the same-origin check trusted before issue 9)."""
    try:
        parts = urlsplit(url)
        return _origin(parts.scheme, parts.hostname, parts.port)
    except ValueError:
        return None


def _characters_refusal(url: str) -> str | None:
    # Printable ASCII only: .NET's Uri (which writes Advance's URLs) percent-encodes everything
    # else, while parsers differ on whether they drop, keep or normalise (NFKC, IDNA) it.
    if any(not "!" <= char <= "~" for char in url):
        return "whitespace, a control or a non-ASCII character"
    if "\\" in url:
        return "a backslash"  # urllib3 ends the authority there; urlsplit and WHATWG do not
    if "#" in url:
        return "a fragment ('#')"  # never sent, and where the authority ends is parser-dependent
    return None


def request_url(url: str, api_base_url: str, *, what: str = "URL") -> str:
    """The URL to request for url (from a payload or a redirect): the API's origin, url's path and query.

    The host never comes from url: url may only name the API's scheme, host and port, plainly.
    Raises URLRefused (the document fails, no retry) when its characters or authority leave room
    for two parsers to disagree (userinfo, a backslash, whitespace, control or non-ASCII
    characters, percent-encoding, a fragment, a trailing dot), when our reading, urllib3's (the
    client's) and urlsplit's do not all name the API's origin, or when its path has dot segments
    or encoded separators.
    """
    shown = ascii(url[:300])

    def refused(reason: str) -> URLRefused:
        return URLRefused(f"refused {what} ({reason}): {shown}")

    if reason := _characters_refusal(url):
        raise refused(reason)
    match = _ABSOLUTE_URL.fullmatch(url)
    if match is None:
        raise refused("not an absolute http(s) URL")
    if match["scheme"].lower() not in DEFAULT_PORTS:
        raise URLRefused(f"refused {what} of another origin than the source's API (not http or https): {shown}")
    authority = match["authority"]
    if "%" in authority:
        raise refused("percent-encoding in the authority")  # %5C, %2F, %40, IPv6 zone ids, encoded hosts
    if "@" in authority:
        raise refused("userinfo in the authority")
    host_port = _HOST_PORT.fullmatch(authority)
    if host_port is None:
        raise refused("an authority that is not host[:port]")
    if host_port["host"].endswith("."):
        raise refused("a trailing dot in the host")
    if host_port["port"] is not None and not 0 < int(host_port["port"]) < 65536:
        raise refused("a port out of range")
    named = _origin(match["scheme"], host_port["host"], int(host_port["port"] or 0))
    readings = {"ours": named, "urllib3": _client_origin(url), "urlsplit": _urlsplit_origin(url)}
    if len(set(readings.values())) > 1:
        seen = ", ".join(f"{parser} {origin or 'cannot read it'}" for parser, origin in readings.items())
        raise refused(f"URL parsers disagree on where it goes: {seen}")
    api = _api_origin(api_base_url)
    if named != api:
        raise URLRefused(
            f"refused {what} of another origin than the source's API: it would connect to {named}, "
            f"the API is at {api}: {shown}"
        )

    path, query = match["path"], match["query"]
    if _STRAY_PERCENT.search(url):
        raise refused("a '%' that is not percent-encoding")
    if _ENCODED_SEPARATOR.search(path):
        raise refused("an encoded '/' or '\\' in the path")
    if any(unquote(segment) in (".", "..") for segment in path.split("/")):
        raise refused("a dot segment in the path")  # the server, or urllib3, would climb out of it
    port = "" if api.port == DEFAULT_PORTS[api.scheme] else f":{api.port}"
    built = f"{api.scheme}://{api.host}{port}{path or '/'}" + (f"?{query}" if query else "")
    if _client_origin(built) != api:  # cannot happen after the checks above; the client has the last word
        raise refused("the client would connect elsewhere")
    return built


def _api_origin(api_base_url: str) -> _Origin:
    """Where the client connects for the source's API base URL (operator-entered, trusted)."""
    origin = _client_origin(api_base_url)
    if origin is None:
        raise URLRefused(f"the source's API base URL cannot be read: {ascii(api_base_url[:300])}")
    return origin


def redirect_url(location: str, *, current: str, api_base_url: str) -> str:
    """The URL to request for a redirect's Location, judged as a payload's URL is (request_url)."""
    if reason := _characters_refusal(location):
        # Before urljoin, which drops tabs and newlines and would hide them.
        raise URLRefused(f"refused redirect ({reason}): {ascii(location[:300])}")
    return request_url(urljoin(current, location), api_base_url, what="redirect")


# Outbound safety: where a connection may go ---------------------------------------------


@cache
def _refused_networks() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    names = [*REFUSED_NETWORKS, *settings.ADVANCE_REFUSED_NETWORKS]
    return tuple(ipaddress.ip_network(name, strict=False) for name in names)


def address_refusal(address: str) -> str | None:
    """Why no connection may be made to this IP address, or None when it may."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # without an IPv6 zone ("fe80::1%eth0")
    # An IPv6 address can carry an IPv4 one that the kernel or a gateway connects to in its stead.
    candidates = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            candidates.append(ip.ipv4_mapped)
        if ip.sixtofour:
            candidates.append(ip.sixtofour)
        if ip in NAT64_NETWORK:
            candidates.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    for candidate in candidates:
        for network in _refused_networks():
            if candidate.version == network.version and candidate in network:
                return f"{address} is in {network} (link-local, cloud metadata or unspecified addresses)"
    return None


def _connect_checked(
    host: str, port: int, timeout: object, source_address: tuple[str, int] | None, socket_options: list | None
) -> socket.socket:
    """urllib3's create_connection, refusing every address address_refusal() names."""
    host = host.strip("[]")
    refusals: list[str] = []
    error: OSError | None = None
    for family, kind, proto, _, address in socket.getaddrinfo(host, port, allowed_gai_family(), socket.SOCK_STREAM):
        refusal = address_refusal(address[0])
        if refusal:
            refusals.append(refusal)
            continue
        sock = socket.socket(family, kind, proto)
        try:
            for option in socket_options or ():
                sock.setsockopt(*option)
            if timeout is None or isinstance(timeout, int | float):
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(address)
            # The address the kernel actually connected to, which is what matters.
            refusal = address_refusal(sock.getpeername()[0])
        except OSError as failure:
            sock.close()
            error = failure
            continue
        if refusal:
            sock.close()
            raise OutboundRefused(f"refused to connect to {host}: {refusal}")
        return sock
    if error is not None:
        raise error
    if refusals:
        raise OutboundRefused(f"refused to connect to {host}: {refusals[0]}")
    raise OSError(f"no address found for {host}")


class _CheckedConnectionMixin:
    """Connects through _connect_checked; errors are mapped as urllib3's own _new_conn maps them.

    OutboundRefused is not an OSError, so urllib3 and requests let it through unchanged (no retry).
    """

    def _new_conn(self) -> socket.socket:
        try:
            sock = _connect_checked(self._dns_host, self.port, self.timeout, self.source_address, self.socket_options)
        except socket.gaierror as error:
            raise NameResolutionError(self.host, self, error) from error
        except TimeoutError as error:
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out.") from error
        except OSError as error:
            raise NewConnectionError(self, f"Failed to establish a new connection: {error}") from error
        sys.audit("http.client.connect", self, self.host, self.port)
        return sock


class _CheckedHTTPConnection(_CheckedConnectionMixin, HTTPConnection):
    pass


class _CheckedHTTPSConnection(_CheckedConnectionMixin, HTTPSConnection):
    pass


class _CheckedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _CheckedHTTPConnection


class _CheckedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection


class CheckedAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections refuse link-local, metadata and unspecified addresses."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _CheckedHTTPConnectionPool,
            "https": _CheckedHTTPSConnectionPool,
        }


def _session() -> requests.Session:
    # One pooled session per thread: connections to Advance are reused between documents.
    session = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        session.trust_env = False  # no proxy or .netrc from the environment decides where we connect
        session.mount("http://", CheckedAdapter(pool_connections=4, pool_maxsize=4))
        session.mount("https://", CheckedAdapter(pool_connections=4, pool_maxsize=4))
        _local.session = session
    return session


_local = threading.local()
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
            response = _session().post(url, json=body, timeout=self.timeout, allow_redirects=False)
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

    def _get(self, url: str, *, stream: bool) -> requests.Response:
        """GET a URL of the source's API with the access token: one re-log-in on 401, same-origin redirects only.

        What is requested is the API's own origin with the path and query url names (request_url),
        and the same for every redirect hop.
        """
        renewed = False
        url = request_url(url, self.source.api_base_url)
        for _ in range(MAX_REDIRECTS + 2):
            headers = {"Authorization": f"Bearer {self.access_token()}"}
            try:
                response = _session().get(
                    url, headers=headers, stream=stream, timeout=self.timeout, allow_redirects=False
                )
            except (requests.ConnectionError, requests.Timeout) as error:
                raise AdvanceUnavailable(f"request failed: {type(error).__name__}") from None
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

    def list_version_documents(self, work_item_id: str, version_id: str) -> list[dict]:
        """The documents of that very version (API v2.0): [{"id": ..., "name": ..., "url": ...}, ...]."""
        url = f"{self._base()}/WorkItems/{quote(work_item_id)}/Versions/{quote(version_id)}/Documents"
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

    def send_json(self, method: str, path: str, body: bytes | None) -> int:
        """Send a call with a JSON body to a path of the source's API; return the HTTP status.

        One re-log-in on 401; a redirect is refused rather than followed (a write is not replayed elsewhere).
        """
        url = request_url(f"{self._base()}/{path.lstrip('/')}", self.source.api_base_url)
        for renewed in (False, True):
            headers = {"Authorization": f"Bearer {self.access_token(renew=renewed)}"}
            if body is not None:
                headers["Content-Type"] = "application/json"
            try:
                response = _session().request(
                    method, url, data=body, headers=headers, timeout=self.timeout, allow_redirects=False
                )
            except (requests.ConnectionError, requests.Timeout) as error:
                raise AdvanceUnavailable(f"request failed: {type(error).__name__}") from None
            if response.status_code == 401 and not renewed:
                response.close()
                continue
            break
        if response.is_redirect:
            response.close()
            raise AdvanceError(f"Advance answered a redirect (HTTP {response.status_code}) to {method} {path[:200]}")
        _raise_for_status(response)
        response.close()
        return response.status_code

    def _base(self) -> str:
        return self.source.api_base_url.rstrip("/")

    def version_content_url(self, work_item_id: str, version_id: str, document_id: str) -> str:
        version = f"{self._base()}/WorkItems/{quote(work_item_id)}/Versions/{quote(version_id)}"
        return f"{version}/Documents/{quote(document_id)}/Content"

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


def _raise_for_status(response: requests.Response) -> None:
    code = response.status_code
    if 200 <= code < 300:
        return
    response.close()
    if code in (408, 425, 429) or code >= 500 or code == 401:
        raise AdvanceUnavailable(f"Advance answered HTTP {code}", retry_after=_retry_after(response), http_status=code)
    raise AdvanceError(f"Advance answered HTTP {code}", http_status=code)
