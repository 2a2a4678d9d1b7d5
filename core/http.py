"""HTTP header values every app reads the same way: media types, the caller's address."""

import functools
import ipaddress

from django.conf import settings


def media_type_of(content_type: str) -> str:
    """The media type of a Content-Type value, lower case, without its parameters."""
    # On the intake's path for every request: one split, no parsing of the parameters.
    return content_type.split(";")[0].strip().lower()


def client_address(meta: dict) -> str | None:
    """The caller's IP address, for webhook calls and the access audit alike: REMOTE_ADDR, or behind
    WEBHOOK_TRUSTED_PROXIES proxies the address the outermost trusted proxy put into X-Forwarded-For.
    None when it is not an IP address."""
    address = meta.get("REMOTE_ADDR") or ""
    proxies = settings.WEBHOOK_TRUSTED_PROXIES
    forwarded = meta.get("HTTP_X_FORWARDED_FOR") or ""
    if proxies > 0 and forwarded:
        # Each proxy appends the address it got the request from: only the last `proxies` entries
        # were written by proxies we trust; whatever comes before is the client's to choose.
        hops = [hop.strip() for hop in forwarded.split(",")]
        address = hops[-min(proxies, len(hops))]
    address = address.strip()
    # Calls come from a few addresses (Advance's, a proxy's): each is parsed once, not per call.
    # No IP address is longer than this; a longer hop is not kept in the cache.
    return _ip_address_normalized(address) if len(address) <= 64 else _ip_address_parse(address)


def _ip_address_parse(address: str) -> str | None:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


_ip_address_normalized = functools.lru_cache(maxsize=1024)(_ip_address_parse)
