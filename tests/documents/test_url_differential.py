"""Payload and redirect URLs that URL parsers read differently never make the worker connect elsewhere.

Each row goes through the real path: a webhook over HTTP into the app, a real Celery worker, the
simulated Advance over HTTP, S3. Beside the simulated Advance a canary listens on loopback (a raw
TCP server on a port of its own, on 127.0.0.1 and ::1) and records every connection it accepts.
Every row must leave the canary untouched, fail its own document with the reason, and still
store the event's other document, byte for byte.

Vectors come from published parser-confusion work, spelled for this test's hosts and ports:
- Orange Tsai, "A New Era of SSRF - Exploiting URL Parser in Trending Programming Languages!",
  Black Hat USA 2017 (marked "Orange"): `http://1.1.1.1 &@2.2.2.2# @3.3.3.3/`,
  `http://foo@evil.com:80@google.com/`, `http://foo@evil.com:80 @google.com/`,
  `http://google.com#@evil.com/`, `http://127.0.0.1:11211:80/`, CR-LF in the host, full-width
  and circled Unicode letters normalised by IDNA.
- The WHATWG URL Standard's test data, web-platform-tests `url/resources/urltestdata.json`
  (marked "WHATWG"): `\\` read as `/` in special schemes (`http:\\\\www.google.com\\foo`),
  percent-decoded hosts (`http://%30%78%63%30%2e%30%32%35%30.01`), full-width hosts
  (`http://０Ｘｃ０．０２５０．０１`), trailing dots, IPv6 literals.
- Python's own issues: bpo-36216 (NFKC normalisation of the netloc), bpo-43882 (urlsplit drops
  tab and newline), and this project's issue 9 (the first row, as measured).

Placeholders: {C} the canary's port, {A} the simulated Advance's port, {P} the target
document's real content path, {B} the API base path and {R} the rest of {P} after it.
"""

import contextlib
import json
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import requests

from advance_sim import SimDocument, SimulatedAdvance, document_bytes
from documents.models import Document
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CANARY_BODY = b"planted by the canary"


@dataclass
class Canary:
    """A raw TCP listener on loopback that records every connection it accepts.

    It answers each one as a document server would (200, a small body), so that a client fooled
    into connecting stores what it got: the measured outcome of the issue.
    """

    sockets: list[socket.socket]
    port: int
    accepted: list[tuple[str, bytes]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def serve(self, sock: socket.socket) -> None:
        sock.settimeout(0.05)
        while not self.stop.is_set():
            try:
                connection, peer = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with connection:
                connection.settimeout(1)
                try:
                    head = connection.recv(4096)
                except OSError:
                    head = b""
                self.accepted.append((peer[0], head))
                answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/pdf\r\nConnection: close\r\n"
                answer += b"Content-Length: %d\r\n\r\n%s" % (len(CANARY_BODY), CANARY_BODY)
                with contextlib.suppress(OSError):
                    connection.sendall(answer)


def _canary_sockets() -> tuple[list[socket.socket], int]:
    """A listener on 127.0.0.1 and, where the machine has IPv6, one on ::1 at the same port."""
    for _ in range(20):
        v4 = socket.create_server(("127.0.0.1", 0))
        port = v4.getsockname()[1]
        try:
            v6 = socket.create_server(("::1", port), family=socket.AF_INET6)
        except OSError as error:
            if not socket.has_ipv6 or error.errno in (97, 99):  # no IPv6 here at all
                return [v4], port
            v4.close()
            continue  # the port is taken on ::1: try another one
        return [v4, v6], port
    pytest.fail("could not bind the canary on 127.0.0.1 and ::1")


@pytest.fixture
def canary() -> Iterator[Canary]:
    sockets, port = _canary_sockets()
    canary = Canary(sockets=sockets, port=port)
    threads = [threading.Thread(target=canary.serve, args=(sock,), daemon=True) for sock in sockets]
    for thread in threads:
        thread.start()
    yield canary
    canary.stop.set()
    for thread in threads:
        thread.join()
    for sock in sockets:
        sock.close()


def _fill(template: str, *, canary: Canary, advance: SimulatedAdvance, work_item_id: str, document_id: str) -> str:
    base = advance.api_prefix
    rest = f"/workitems/{work_item_id}/documents/{document_id}/content"
    port = advance.base_url.rsplit(":", 1)[1]
    return template.format(C=canary.port, A=port, B=base, R=rest, P=base + rest)


def _document_settled(advance_id: str) -> Document | None:
    document = Document.objects.filter(advance_id=advance_id).first()
    if document is None or document.status in (Document.Status.PENDING, Document.Status.SYNCING):
        return None
    return document


def _sync_event_with(
    *, webhook_url: str, token_key: str, advance: SimulatedAdvance, canary: Canary, template: str, redirect: bool
) -> tuple[Document, Document, SimDocument, str]:
    """Send one event of two documents: the target's URL from the template (directly, or as a
    redirect from the target's own URL), the sibling's as Advance writes it. Wait until both settle."""
    target, sibling = SimDocument(name="Target", kind="docx"), SimDocument(name="Sibling", kind="pdf")
    work_item = advance.add_work_item(documents=[target, sibling])
    payload = advance.event_payload(work_item)
    url = _fill(template, canary=canary, advance=advance, work_item_id=work_item.id, document_id=target.id)
    if redirect:
        moved = f"{advance.api_prefix}/moved/{target.id}"
        advance.add_redirect(moved, url)
        payload["data"]["documents"][0]["url"] = advance.base_url + moved
    else:
        payload["data"]["documents"][0]["url"] = url

    response = requests.post(
        webhook_url,
        data=json.dumps(payload),
        headers={"Authorization": f"Bearer {token_key}", "Content-Type": "application/json"},
        timeout=10,
    )

    assert response.status_code == 202, response.text  # the event is accepted: the URL is judged per document
    settled_target = wait_for(lambda: _document_settled(target.id), timeout=30, message="the target document")
    settled_sibling = wait_for(lambda: _document_settled(sibling.id), timeout=30, message="the sibling document")
    key = f"advance/acme/{work_item.id}/{payload['data']['workItemVersionId']}/{sibling.id}/Sibling.pdf"
    return settled_target, settled_sibling, sibling, key


def _assert_refused(target: Document, sibling: Document, sibling_sim: SimDocument, key: str, *, bucket, canary, reason):
    assert canary.accepted == [], f"the canary was connected to: {canary.accepted}"
    assert target.status == Document.Status.FAILED, (target.status, target.last_error)
    assert re.search(reason, target.last_error), target.last_error
    assert target.attempts == 1  # refused for good, not retried
    assert sibling.status == Document.Status.STORED, sibling.last_error
    assert bucket.keys() == [key]  # nothing planted under the target's key
    assert bucket.get(key)["Body"].read() == document_bytes(sibling_sim)


# (id, URL template, what the document's last_error must say)
PAYLOAD_URLS = [
    # Issue 9, as measured: urlsplit reads the host after "@", urllib3 ends the authority at "\".
    ("issue-9-backslash-at", r"http://127.0.0.1:{C}\@127.0.0.1:{A}{P}", r"backslash"),
    ("mixed-case-scheme-backslash-at", r"HtTp://127.0.0.1:{C}\@127.0.0.1:{A}{P}", r"backslash"),
    ("backslash-ends-authority", r"http://127.0.0.1:{C}\{P}", r"backslash"),  # WHATWG: "\" is "/"
    ("whatwg-backslash-slashes", r"http:\\127.0.0.1:{C}{P}", r"backslash"),  # WHATWG http:\\www.google.com\foo
    ("orange-fragment-before-at", "http://127.0.0.1:{C}#@127.0.0.1:{A}{P}", r"fragment"),
    ("query-before-at", "http://127.0.0.1:{C}?@127.0.0.1:{A}{P}", r"another origin.*would connect to .*:{C}\b"),
    ("orange-space-amp-at-hash", "http://127.0.0.1:{C} &@127.0.0.1:{A}# @127.0.0.1:{A}{P}", r"whitespace"),
    ("orange-double-at", "http://foo@127.0.0.1:{C}@127.0.0.1:{A}{P}", r"userinfo"),
    ("orange-space-before-at", "http://foo@127.0.0.1:{C} @127.0.0.1:{A}{P}", r"whitespace"),
    ("userinfo", "http://user:pass@127.0.0.1:{A}{P}", r"userinfo"),
    ("userinfo-names-the-api", "http://127.0.0.1:{A}@127.0.0.1:{C}{P}", r"userinfo"),
    ("percent-encoded-backslash", "http://127.0.0.1:{C}%5C@127.0.0.1:{A}{P}", r"percent-encoding in the authority"),
    ("percent-encoded-slash", "http://127.0.0.1:{C}%2F@127.0.0.1:{A}{P}", r"percent-encoding in the authority"),
    ("percent-encoded-at", "http://127.0.0.1:{C}%40127.0.0.1:{A}{P}", r"percent-encoding in the authority"),
    ("whatwg-percent-encoded-host", "http://%31%32%37.0.0.1:{C}{P}", r"percent-encoding in the authority"),
    ("tab-in-authority", "http://127.0.0.1:{C}\t@127.0.0.1:{A}{P}", r"whitespace"),  # bpo-43882
    ("newline-in-authority", "http://127.0.0.1:{C}\n@127.0.0.1:{A}{P}", r"whitespace"),  # bpo-43882
    ("orange-crlf-header-injection", "http://127.0.0.1:{A}\r\nHost: 127.0.0.1:{C}\r\n{P}", r"whitespace"),
    ("full-width-digits-and-dots", "http://１２７．０．０．１:{C}{P}", r"non-ASCII"),
    ("ideographic-full-stops", "http://127。0。0。1:{C}{P}", r"non-ASCII"),
    ("whatwg-full-width-hex", "http://０Ｘ７ｆ．１:{C}{P}", r"non-ASCII"),
    ("orange-circled-letters-idna", "http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ:{C}{P}", r"non-ASCII"),
    ("nfkc-full-width-number-sign", "http://127.0.0.1:{C}＃@127.0.0.1:{A}{P}", r"non-ASCII"),  # bpo-36216
    ("trailing-dot", "http://127.0.0.1.:{C}{P}", r"trailing dot"),
    ("ipv4-mapped-ipv6-literal", "http://[::ffff:127.0.0.1]:{C}{P}", r"another origin.*would connect to .*:{C}\b"),
    ("ipv6-loopback-literal", "http://[::1]:{C}{P}", r"another origin.*would connect to .*:{C}\b"),
    ("ipv6-zone-id", "http://[::ffff:127.0.0.1%25lo]:{C}{P}", r"percent-encoding in the authority"),
    ("short-ipv4", "http://127.1:{C}{P}", r"another origin.*would connect to .*:{C}\b"),
    ("decimal-ipv4", "http://2130706433:{C}{P}", r"another origin.*would connect to .*:{C}\b"),
    ("orange-two-ports", "http://127.0.0.1:{C}:80{P}", r"not host\[:port\]"),
    ("default-port-after-backslash", r"http://127.0.0.1:{C}\@127.0.0.1:80{P}", r"backslash"),
    ("scheme-relative", "//127.0.0.1:{C}{P}", r"not an absolute http\(s\) URL"),
    ("whatwg-single-slash", "http:/127.0.0.1:{C}{P}", r"not an absolute http\(s\) URL"),
    ("dot-segments-in-path", "http://127.0.0.1:{A}{B}/elsewhere/..{R}", r"dot segment"),
    ("encoded-dot-segments-in-path", "http://127.0.0.1:{A}{B}/elsewhere/%2e%2E{R}", r"dot segment"),
]

REDIRECT_LOCATIONS = [
    ("issue-9-backslash-at", r"http://127.0.0.1:{C}\@127.0.0.1:{A}{P}", r"backslash"),
    ("scheme-relative", "//127.0.0.1:{C}{P}", r"another origin.*would connect to .*:{C}\b"),
    ("whatwg-backslash-scheme-relative", r"\\127.0.0.1:{C}{P}", r"backslash"),
    ("whatwg-slash-backslash", r"/\127.0.0.1:{C}{P}", r"backslash"),
    ("another-origin", "http://127.0.0.1:{C}{P}", r"another origin.*would connect to .*:{C}\b"),
    ("fragment-before-at", "http://127.0.0.1:{C}#@127.0.0.1:{A}{P}", r"fragment"),
    ("percent-encoded-backslash", "http://127.0.0.1:{C}%5C@127.0.0.1:{A}{P}", r"percent-encoding in the authority"),
    ("tab-in-authority", "http://127.0.0.1:{C}\t@127.0.0.1:{A}{P}", r"whitespace"),
    ("userinfo", "http://user@127.0.0.1:{A}{P}", r"userinfo"),
]


@pytest.mark.parametrize(("template", "reason"), [row[1:] for row in PAYLOAD_URLS], ids=[r[0] for r in PAYLOAD_URLS])
def test_payload_url_read_differently_by_parsers_never_reaches_another_host(
    stack, webhook_url, advance, canary, token_key, bucket, template, reason
):
    target, sibling, sibling_sim, key = _sync_event_with(
        webhook_url=webhook_url, token_key=token_key, advance=advance, canary=canary, template=template, redirect=False
    )

    _assert_refused(
        target, sibling, sibling_sim, key, bucket=bucket, canary=canary, reason=reason.replace("{C}", str(canary.port))
    )


@pytest.mark.parametrize(
    ("template", "reason"), [row[1:] for row in REDIRECT_LOCATIONS], ids=[r[0] for r in REDIRECT_LOCATIONS]
)
def test_redirect_read_differently_by_parsers_is_not_followed(
    stack, webhook_url, advance, canary, token_key, bucket, template, reason
):
    target, sibling, sibling_sim, key = _sync_event_with(
        webhook_url=webhook_url, token_key=token_key, advance=advance, canary=canary, template=template, redirect=True
    )

    _assert_refused(
        target, sibling, sibling_sim, key, bucket=bucket, canary=canary, reason=reason.replace("{C}", str(canary.port))
    )
    assert "redirect" in target.last_error


def test_payload_url_of_the_api_with_a_mixed_case_scheme_is_stored(
    stack, webhook_url, advance, canary, token_key, bucket
):
    # The control for the table: the same path on the API's own origin, spelled in another case, is fine.
    target, sibling, _, _ = _sync_event_with(
        webhook_url=webhook_url,
        token_key=token_key,
        advance=advance,
        canary=canary,
        template="HtTp://127.0.0.1:{A}{P}",
        redirect=False,
    )

    assert (target.status, sibling.status) == (Document.Status.STORED, Document.Status.STORED), target.last_error
    assert len(bucket.keys()) == 2
    assert canary.accepted == []
