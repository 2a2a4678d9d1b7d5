"""Outbound safety: where a connection to Advance may go.

No connection is ever made to a link-local, cloud metadata or unspecified address, whatever the
host name resolves to at the moment of connecting: the check is made on the address the socket
really connects to.
"""

import ipaddress
import socket
import sys
import threading
from functools import cache

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family

from .errors import OutboundRefused

# Never connected to: link-local addresses (the cloud metadata services answer at 169.254.169.254
# and, on AWS, fd00:ec2::254) and "this host" / unspecified addresses, which Linux routes to the
# local machine. Checked against the address a connection is actually made to, so no spelling
# (decimal, IPv4-mapped IPv6) and no DNS answer, however late it changes, gets around it.
REFUSED_NETWORKS = ("169.254.0.0/16", "0.0.0.0/8", "fe80::/10", "fd00:ec2::254/128", "::/128")
NAT64_NETWORK = ipaddress.ip_network("64:ff9b::/96")


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


_local = threading.local()


def session() -> requests.Session:
    """This thread's pooled session, whose connections are checked (CheckedAdapter), proxies ignored."""
    # One pooled session per thread: connections to Advance are reused between documents.
    pooled = getattr(_local, "session", None)
    if pooled is None:
        pooled = requests.Session()
        pooled.trust_env = False  # no proxy or .netrc from the environment decides where we connect
        pooled.mount("http://", CheckedAdapter(pool_connections=4, pool_maxsize=4))
        pooled.mount("https://", CheckedAdapter(pool_connections=4, pool_maxsize=4))
        _local.session = pooled
    return pooled
