"""Which URL is requested for a URL from a payload or a redirect: only the source's API origin, plainly named.

The host never comes from the payload: a URL may only name the API's scheme, host and port, in a
spelling no two parsers read differently; what is requested is the API's origin with its path
and query (issue 9).
"""

import re
from dataclasses import dataclass
from urllib.parse import unquote, urljoin, urlsplit

from core.origins import DEFAULT_PORTS, client_origin

from .errors import URLRefused

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


def _refused(url: str, what: str, reason: str) -> URLRefused:
    return URLRefused(f"refused {what} ({reason}): {ascii(url[:300])}")


def _other_origin(url: str, what: str, detail: str) -> URLRefused:
    return URLRefused(f"refused {what} of another origin than the source's API{detail}: {ascii(url[:300])}")


def request_url(url: str, api_base_url: str, *, what: str = "URL") -> str:
    """The URL to request for url (from a payload or a redirect): the API's origin, url's path and query.

    The host never comes from url: url may only name the API's scheme, host and port, plainly.
    Raises URLRefused (the document fails, no retry) when its characters or authority leave room
    for two parsers to disagree (userinfo, a backslash, whitespace, control or non-ASCII
    characters, percent-encoding, a fragment, a trailing dot), when our reading, urllib3's (the
    client's) and urlsplit's do not all name the API's origin, or when its path has dot segments
    or encoded separators.
    """
    match = _absolute_url_match(url, what)
    named = _authority_origin(url, what, scheme=match["scheme"], authority=match["authority"])
    _readings_agree(url, what, named=named)
    api = _api_origin(api_base_url)
    if named != api:
        raise _other_origin(url, what, f": it would connect to {named}, the API is at {api}")
    _path_check(url, what, path=match["path"])
    return _api_url(url, what, api=api, path=match["path"], query=match["query"])


def _absolute_url_match(url: str, what: str) -> re.Match:
    """url in plain printable characters, read as http(s)://authority path ?query."""
    if reason := _characters_refusal(url):
        raise _refused(url, what, reason)
    match = _ABSOLUTE_URL.fullmatch(url)
    if match is None:
        raise _refused(url, what, "not an absolute http(s) URL")
    if match["scheme"].lower() not in DEFAULT_PORTS:
        raise _other_origin(url, what, " (not http or https)")
    return match


def _authority_origin(url: str, what: str, *, scheme: str, authority: str) -> _Origin:
    """The origin an authority names, when it is nothing but host[:port]."""
    if "%" in authority:  # %5C, %2F, %40, IPv6 zone ids, encoded hosts
        raise _refused(url, what, "percent-encoding in the authority")
    if "@" in authority:
        raise _refused(url, what, "userinfo in the authority")
    host_port = _HOST_PORT.fullmatch(authority)
    if host_port is None:
        raise _refused(url, what, "an authority that is not host[:port]")
    if host_port["host"].endswith("."):
        raise _refused(url, what, "a trailing dot in the host")
    if host_port["port"] is not None and not 0 < int(host_port["port"]) < 65536:
        raise _refused(url, what, "a port out of range")
    return _origin(scheme, host_port["host"], int(host_port["port"] or 0))


def _readings_agree(url: str, what: str, *, named: _Origin) -> None:
    """Our reading, the HTTP client's and urlsplit's name the same origin."""
    readings = {"ours": named, "urllib3": _client_origin(url), "urlsplit": _urlsplit_origin(url)}
    if len(set(readings.values())) > 1:
        seen = ", ".join(f"{parser} {origin or 'cannot read it'}" for parser, origin in readings.items())
        raise _refused(url, what, f"URL parsers disagree on where it goes: {seen}")


def _path_check(url: str, what: str, *, path: str) -> None:
    """No path a server or urllib3 could resolve outside what it names."""
    if _STRAY_PERCENT.search(url):
        raise _refused(url, what, "a '%' that is not percent-encoding")
    if _ENCODED_SEPARATOR.search(path):
        raise _refused(url, what, "an encoded '/' or '\\' in the path")
    if any(unquote(segment) in (".", "..") for segment in path.split("/")):
        raise _refused(url, what, "a dot segment in the path")  # the server, or urllib3, would climb out of it


def _api_url(url: str, what: str, *, api: _Origin, path: str, query: str | None) -> str:
    """The API's origin with url's path and query, where the client must connect to the API."""
    port = "" if api.port == DEFAULT_PORTS[api.scheme] else f":{api.port}"
    built = f"{api.scheme}://{api.host}{port}{path or '/'}" + (f"?{query}" if query else "")
    if _client_origin(built) != api:  # cannot happen after the checks above; the client has the last word
        raise _refused(url, what, "the client would connect elsewhere")
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
        raise _refused(location, "redirect", reason)  # before urljoin, which drops tabs and newlines
    return request_url(urljoin(current, location), api_base_url, what="redirect")
