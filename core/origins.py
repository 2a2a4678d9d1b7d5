"""Where a URL leads: the one reading of a URL's origin that the HTTP client and our checks share."""

from urllib.parse import urlsplit

import requests
from urllib3.util import parse_url

DEFAULT_PORTS = {"http": 80, "https": 443}


def client_origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) where the HTTP client connects for url; None when it cannot read it.

    requests prepares the URL, then urllib3's parse_url picks the connection pool: the one reading
    that decides where a request goes. Host in lower case without IPv6 brackets, default ports filled in.
    """
    try:
        prepared = requests.PreparedRequest()
        prepared.prepare_url(url, None)
        parsed = parse_url(prepared.url)
    except (requests.RequestException, ValueError):  # urllib3's LocationParseError is a ValueError
        return None
    scheme = (parsed.scheme or "").lower()
    return scheme, (parsed.host or "").lower().strip("[]"), parsed.port or DEFAULT_PORTS.get(scheme, 0)


def url_origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL, default ports filled in; ("", "", -1) when it cannot be read.

    Unreadable too: userinfo, a backslash, whitespace, control or non-ASCII characters, or any
    disagreement between urlsplit and where the HTTP client connects (client_origin), since the
    client may connect to another host than the one this function would name (issue 9).
    """
    unreadable = ("", "", -1)
    if "\\" in url or any(not "!" <= char <= "~" for char in url):
        return unreadable
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return unreadable
    scheme = parts.scheme.lower()
    origin = (scheme, parts.hostname or "", port or DEFAULT_PORTS.get(scheme, 0))
    if "@" in parts.netloc or client_origin(url) != origin:
        return unreadable
    return origin
