"""Outbound safety: no connection to link-local, cloud metadata or unspecified addresses, whatever
the spelling of the URL or the answer of DNS. (Another port and a redirect to another origin are
in test_advance.py.)

Every socket this process connects is seen through the interpreter's audit hook, so "nothing was
contacted" is asserted on the connections actually attempted, not on what the client says.
"""

import ipaddress
import re
import socket
import sys
import threading
from collections.abc import Iterator

import pytest

from advance_sim import SimDocument
from documents.advance.client import AdvanceClient
from documents.advance.connections import address_refusal
from documents.advance.errors import AdvanceError, OutboundRefused
from documents.advance.urls import request_url
from documents.models import Document, DocumentAttempt
from documents.sync import document_sync
from sources.models import Source
from sources.services import source_save
from tests.factories import document_make

pytestmark = pytest.mark.django_db

METADATA_NETWORKS = [ipaddress.ip_network(n) for n in ("169.254.0.0/16", "fd00:ec2::254/128", "fe80::/10")]

_connects: list[object] | None = None


def _audit(event: str, args: tuple) -> None:
    if event == "socket.connect" and _connects is not None:
        _connects.append(args[1])


sys.addaudithook(_audit)  # hooks cannot be removed: this one records only while a test asks it to


@pytest.fixture
def connects() -> Iterator[list[object]]:
    """Every address a socket of this process tries to connect to during the test."""
    global _connects
    _connects = []
    try:
        yield _connects
    finally:
        _connects = None


def refused_connects(connects: list[object]) -> list[object]:
    """The connects that reached, or would have reached, a refused address."""
    found = []
    for address in connects:
        if isinstance(address, tuple):
            host = str(address[0]).split("%", 1)[0]
            try:
                ip = ipaddress.ip_address(host)
            except ValueError:
                continue
            mapped = getattr(ip, "ipv4_mapped", None) or ip
            if (
                ip.is_unspecified
                or str(mapped).startswith("0.")
                or any(mapped.version == net.version and mapped in net for net in METADATA_NETWORKS)
            ):
                found.append(address)
    return found


def hostile_source(advance, api_base_url: str, *, auth_base_url: str | None = None) -> Source:
    """A source whose API is at api_base_url; it logs in at the simulated Advance unless told otherwise.

    Stored without validation (as a bug, a migration or a raw SQL edit could): the URL validator
    refuses some of these spellings, and the connection layer must not depend on it.
    """
    source, _ = source_save(
        slug="hostile",
        api_base_url=advance.api_base_url,
        auth_base_url=advance.auth_base_url,
        client_name=advance.client_name,
        principal_name=advance.principal_name,
        principal_password=advance.principal_password,
    )
    Source.objects.filter(pk=source.pk).update(
        api_base_url=api_base_url, auth_base_url=auth_base_url or advance.auth_base_url
    )
    source.refresh_from_db()
    return source


@pytest.fixture
def resolve(monkeypatch):
    """resolve(name, address): make one made-up host name resolve to address (others resolve as usual)."""
    real_getaddrinfo = socket.getaddrinfo
    names: dict[str, list[str]] = {}

    def getaddrinfo(host, port, *args, **kwargs):
        if isinstance(host, str) and host.lower() in names:
            addresses = names[host.lower()]
            answer = addresses.pop(0) if len(addresses) > 1 else addresses[0]  # a rebinding DNS: next answer
            family = socket.AF_INET6 if ":" in answer else socket.AF_INET
            address = (answer, int(port), 0, 0) if family == socket.AF_INET6 else (answer, int(port))
            return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", address)]
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    def add(name: str, *addresses: str) -> None:
        names[name.lower()] = list(addresses)

    return add


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A socket listening on 127.0.0.1 that no test should ever reach."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.5)
    yield sock
    sock.close()


def assert_never_accepted(sock: socket.socket) -> None:
    try:
        connection, peer = sock.accept()
    except TimeoutError:
        return
    connection.close()
    pytest.fail(f"the listening socket was connected to from {peer}")


@pytest.mark.parametrize(
    "api_base_url",
    [
        "http://169.254.169.254/latest",
        "https://169.254.169.254/latest",  # refused before any TLS handshake
        "http://2852039166/latest",  # 169.254.169.254 as one decimal number
        "http://0251.0376.0251.0376/latest",  # and in octal
        "http://[fd00:ec2::254]/latest",  # AWS's IPv6 metadata address
        "http://[::ffff:169.254.169.254]/latest",  # IPv4-mapped IPv6
        "http://[fe80::1]/latest",
    ],
)
def test_api_at_a_metadata_address_is_never_contacted(advance, connects, api_base_url):
    source = hostile_source(advance, api_base_url)
    client = AdvanceClient(source)

    with pytest.raises(OutboundRefused, match="refused to connect to .*link-local, cloud metadata"):
        client.list_documents("work-item")

    assert refused_connects(connects) == []
    assert len(advance.requests_for("ServicePrincipalLogIn")) == 1  # the log-in went where it may


def test_host_name_resolving_to_the_metadata_address_is_never_contacted(advance, connects, resolve):
    resolve("advance.acme.test", "169.254.169.254")
    source = hostile_source(advance, "http://advance.acme.test/HdaApi/rest/v1.1")

    with pytest.raises(OutboundRefused, match=r"refused to connect to advance\.acme\.test: 169\.254\.169\.254"):
        AdvanceClient(source).list_documents("work-item")

    assert refused_connects(connects) == []


def test_log_in_at_a_host_resolving_to_the_metadata_address_is_refused(advance, connects, resolve):
    resolve("auth.acme.test", "169.254.169.254")
    source = hostile_source(advance, advance.api_base_url, auth_base_url="http://auth.acme.test/HdaAuth")

    with pytest.raises(OutboundRefused):
        AdvanceClient(source).list_documents("work-item")

    assert refused_connects(connects) == []
    assert advance.requests == []


def test_dns_answer_changing_to_the_metadata_address_is_caught_at_connect(advance, connects, resolve):
    # A rebinding DNS: the first answer is the real (simulated) Advance, every later one the
    # metadata service. The check is made on each connection, not once on the name.
    work_item = advance.add_work_item(documents=[SimDocument(kind="pdf")])
    port = int(advance.base_url.rsplit(":", 1)[1])
    resolve("advance.acme.test", "127.0.0.1", "169.254.169.254")
    source, _ = source_save(
        slug="rebind",
        api_base_url=f"http://advance.acme.test:{port}/HdaApi/rest/v1.1",
        auth_base_url=f"http://advance.acme.test:{port}/HdaAuth",
        client_name=advance.client_name,
        principal_name=advance.principal_name,
        principal_password=advance.principal_password,
    )
    assert [d["id"] for d in AdvanceClient(source).list_documents(work_item.id)] == [work_item.documents[0].id]
    seen = len(advance.requests)
    raised: list[BaseException] = []

    def in_a_new_thread() -> None:  # a new thread has its own session, so a new connection
        try:
            AdvanceClient(source).list_documents(work_item.id)
        except BaseException as error:  # noqa: BLE001 - handed to the test
            raised.append(error)

    thread = threading.Thread(target=in_a_new_thread)
    thread.start()
    thread.join()

    assert len(raised) == 1 and isinstance(raised[0], OutboundRefused), raised
    assert len(advance.requests) == seen
    assert refused_connects(connects) == []


@pytest.mark.parametrize("host", ["0.0.0.0", "0", "[::]"])  # noqa: S104
def test_unspecified_address_never_reaches_the_local_machine(advance, connects, listener, host):
    # Linux connects 0.0.0.0 (and ::) to the local machine, where internal services listen.
    port = listener.getsockname()[1]
    source = hostile_source(advance, f"http://{host}:{port}/api")

    with pytest.raises(OutboundRefused, match="unspecified"):
        AdvanceClient(source).list_documents("work-item")

    assert_never_accepted(listener)
    assert refused_connects(connects) == []


def test_host_name_resolving_to_an_unspecified_address_never_reaches_the_local_machine(
    advance, connects, listener, resolve
):
    port = listener.getsockname()[1]
    resolve("advance.acme.test", "0.0.0.0")  # noqa: S104
    source = hostile_source(advance, f"http://advance.acme.test:{port}/api")

    with pytest.raises(OutboundRefused):
        AdvanceClient(source).list_documents("work-item")

    assert_never_accepted(listener)


def test_refused_connection_fails_the_document_at_once_with_the_reason(advance, connects, resolve):
    resolve("advance.acme.test", "169.254.169.254")
    source = hostile_source(advance, "http://advance.acme.test/HdaApi/rest/v1.1")
    document = document_make(
        source, document_id="d-1", status=Document.Status.PENDING, url="http://advance.acme.test/HdaApi/rest/v1.1/x"
    )

    document_sync(document_id=document.pk)  # permanent: returns, nothing to retry

    document.refresh_from_db()
    assert document.status == Document.Status.FAILED
    assert "refused to connect to advance.acme.test: 169.254.169.254" in document.last_error
    [attempt] = DocumentAttempt.objects.filter(document=document)
    assert attempt.outcome == DocumentAttempt.Outcome.FAILED
    assert attempt.finished_at is not None
    assert "169.254.169.254" in attempt.error
    assert refused_connects(connects) == []


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("169.254.169.254", True),
        ("169.254.0.1", True),
        ("0.0.0.0", True),  # noqa: S104
        ("0.1.2.3", True),
        ("::", True),
        ("fe80::1", True),
        ("fe80::1%eth0", True),
        ("fd00:ec2::254", True),
        ("::ffff:169.254.169.254", True),
        ("64:ff9b::a9fe:a9fe", True),  # NAT64 of 169.254.169.254
        ("2002:a9fe:a9fe::1", True),  # 6to4 of 169.254.169.254
        ("127.0.0.1", False),
        ("::1", False),
        ("10.0.0.5", False),
        ("fd00:ec2::253", False),
        ("93.184.215.14", False),
    ],
)
def test_address_refusal(address, refused):
    assert (address_refusal(address) is not None) is refused


@pytest.mark.parametrize("url", ["http://2852039166/latest", "http://[::ffff:169.254.169.254]/latest"])
def test_payload_urls_in_these_spellings_are_refused_before_any_connection(url):
    with pytest.raises(AdvanceError, match="another origin"):
        request_url(url, "http://advance.acme.test/HdaApi/rest/v1.1")


def test_refused_networks_can_be_extended(settings):
    from documents.advance import connections

    settings.ADVANCE_REFUSED_NETWORKS = ["100.100.100.200/32"]
    connections._refused_networks.cache_clear()
    try:
        assert address_refusal("100.100.100.200") is not None
        assert address_refusal("100.100.100.201") is None
    finally:
        connections._refused_networks.cache_clear()


# Payload URLs: the host never comes from the payload (issue 9; the full parser-differential table
# runs end to end in test_url_differential.py).


def test_request_goes_to_the_api_origin_with_only_the_path_and_query_of_the_payload_url():
    from documents.advance.urls import request_url

    api = "https://acme.hotdocsadvance.com/api/rest/v1.1"

    assert (
        request_url("HTTPS://Acme.HotDocsAdvance.com:443/api/rest/v1.1/workitems/w-1/documents/d-1/content?v=2", api)
        == "https://acme.hotdocsadvance.com/api/rest/v1.1/workitems/w-1/documents/d-1/content?v=2"
    )
    assert request_url("http://127.0.0.1:8123/x", "http://127.0.0.1:8123/HdaApi") == "http://127.0.0.1:8123/x"


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/HdaApi/rest/v1.1/moved", "http://advance.acme.test:8123/HdaApi/rest/v1.1/moved"),
        ("moved?x=1", "http://advance.acme.test:8123/HdaApi/rest/v1.1/workitems/moved?x=1"),
        ("//advance.acme.test:8123/elsewhere", "http://advance.acme.test:8123/elsewhere"),
    ],
)
def test_relative_redirects_resolve_on_the_api_origin(location, expected):
    from documents.advance.urls import redirect_url

    current = "http://advance.acme.test:8123/HdaApi/rest/v1.1/workitems/w-1"
    api = "http://advance.acme.test:8123/HdaApi/rest/v1.1"

    assert redirect_url(location, current=current, api_base_url=api) == expected


def test_unsafe_payload_url_is_refused_before_logging_in_or_connecting(source, advance, connects, listener):
    port = listener.getsockname()[1]
    url = f"http://127.0.0.1:{port}\\@{advance.api_base_url.removeprefix('http://')}/workitems/w/documents/d/content"

    with pytest.raises(AdvanceError, match="backslash"), AdvanceClient(source).download(url):
        pass

    assert_never_accepted(listener)
    assert advance.requests == []  # not even the log-in: the access token never leaves for it
    assert connects == []


@pytest.mark.parametrize(
    "unsafe",
    [
        "https://collector.example.net\\@acme.hotdocsadvance.com/auth",  # urllib3 connects to collector
        "https://collector.example.net:443\\@acme.hotdocsadvance.com/auth",
        "https://user:pw@acme.hotdocsadvance.com/auth",
    ],
)
@pytest.mark.parametrize("field", ["api_base_url", "auth_base_url"])
def test_source_refuses_a_base_url_the_client_could_read_as_another_host(field, unsafe):
    from django.core.exceptions import ValidationError

    urls = {"api_base_url": "https://acme.hotdocsadvance.com/api/rest/v1.1", "auth_base_url": unsafe}
    if field == "api_base_url":
        urls = {
            "api_base_url": unsafe.replace("/auth", "/api"),
            "auth_base_url": "https://acme.hotdocsadvance.com/auth",
        }

    with pytest.raises(ValidationError) as raised:
        source_save(slug="acme", client_name="c", principal_name="p", principal_password="pw", **urls)

    assert field in raised.value.message_dict
    assert not Source.objects.exists()


def test_log_in_at_an_auth_url_read_as_another_host_never_sends_the_password(advance, connects, listener):
    port = listener.getsockname()[1]
    auth = f"http://127.0.0.1:{port}\\@{advance.auth_base_url.removeprefix('http://')}"
    source = hostile_source(advance, advance.api_base_url, auth_base_url=auth)

    with pytest.raises(AdvanceError, match="unsafe auth base URL"):
        AdvanceClient(source).login()

    assert_never_accepted(listener)
    assert advance.requests == []
    assert connects == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:0/HdaApi/x", "a port out of range"),
        ("http://127.0.0.1:8123/HdaApi/rest/v1.1/a%2F..%2Fb", "an encoded '/'"),
        ("http://127.0.0.1:8123/HdaApi/rest/v1.1/a%5Cb", "an encoded '/' or '\\'"),
        ("http://127.0.0.1:8123/HdaApi/rest/v1.1/%zz", "not percent-encoding"),
        ("http://127.0.0.1:8123/HdaApi/rest/v1.1/./x", "a dot segment"),
        ("http://127.0.0.1:8123/HdaApi/rest/v1.1/%2E%2e/x", "a dot segment"),
    ],
)
def test_payload_url_of_the_api_origin_with_an_unplain_port_or_path_is_refused(url, reason):
    with pytest.raises(AdvanceError, match=re.escape(reason)):
        request_url(url, "http://127.0.0.1:8123/HdaApi/rest/v1.1")
