"""The simulated Advance over real HTTP: what the sync client and the fault tests rely on."""

import hashlib
import http.client
import io
import json
import re
import time
import zipfile
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from advance_sim import SimDocument, SimulatedAdvance, document_bytes, document_chunks, document_sha256


@pytest.fixture
def advance() -> Iterator[SimulatedAdvance]:
    with SimulatedAdvance() as server:
        yield server


def log_in(advance: SimulatedAdvance) -> str:
    response = requests.post(
        f"{advance.auth_base_url}/Authorize/ServicePrincipalLogIn",
        json={"ClientName": "sync-client", "PrincipalName": "sync-principal", "PrincipalPassword": "s3cret-pass"},
        timeout=5,
    )
    assert response.status_code == 200
    return response.text


def api_get(url: str, token: str, **kwargs) -> requests.Response:
    return requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5, **kwargs)


def content_url(advance: SimulatedAdvance, work_item_id: str, document: SimDocument) -> str:
    return f"{advance.api_base_url}/WorkItems/{work_item_id}/Documents/{document.id}/Content"


def test_login_answers_a_fresh_plain_text_token_and_counts_log_ins(advance):
    first, second = log_in(advance), log_in(advance)

    assert first != second and len(first) >= 32
    assert advance.login_count == 2
    response = requests.post(f"{advance.auth_base_url}/Authorize/ServicePrincipalLogIn", json={}, timeout=5)
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b'{"ClientName": "sync-client", "PrincipalName": "sync-principal", "PrincipalPassword": "nope"}', 401),
        (b"not json", 400),
        (b"[1, 2]", 400),
    ],
)
def test_login_refuses_wrong_credentials_and_bad_json(advance, body, status):
    response = requests.post(f"{advance.auth_base_url}/Authorize/ServicePrincipalLogIn", data=body, timeout=5)

    assert response.status_code == status
    assert advance.login_count == 0


def test_login_accepts_any_case_in_its_path_and_keys(advance):
    response = requests.post(
        f"{advance.auth_base_url}/authorize/serviceprincipallogin",
        json={"clientName": "sync-client", "principalName": "sync-principal", "principalPassword": "s3cret-pass"},
        timeout=5,
    )

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")


def test_listing_shows_the_latest_versions_documents(advance):
    work_item = advance.add_work_item(documents=[SimDocument(name="A"), SimDocument(name="B", kind="pdf")])
    token = log_in(advance)
    first = api_get(f"{advance.api_base_url}/WorkItems/{work_item.id}/Documents", token).json()

    advance.new_version(work_item, documents=[SimDocument(name="C")])
    second = api_get(f"{advance.api_base_url}/WorkItems/{work_item.id}/Documents", token).json()

    assert first == [{"id": d.id, "name": d.name} for d in work_item.versions[0].documents]
    assert [d["name"] for d in second] == ["C"]
    unknown = api_get(f"{advance.api_base_url}/WorkItems/no-such-item/Documents", token)
    assert unknown.status_code == 404


def test_only_the_last_five_versions_stay_downloadable(advance):
    work_item = advance.add_work_item()
    oldest = work_item.documents[0]
    version_ids = [advance.new_version(work_item) for _ in range(5)]
    token = log_in(advance)

    assert work_item.version_id == version_ids[-1]
    assert work_item.documents[0].id != oldest.id and work_item.documents[0].name == oldest.name
    assert api_get(content_url(advance, work_item.id, oldest), token).status_code == 404
    assert api_get(content_url(advance, work_item.id, work_item.versions[0].documents[0]), token).ok


def test_content_answers_the_bytes_with_type_length_and_file_name(advance):
    document = SimDocument(name="Example Contract")
    work_item = advance.add_work_item(documents=[document])

    response = api_get(content_url(advance, work_item.id, document), log_in(advance))

    assert response.status_code == 200
    assert response.content == document_bytes(document)
    assert response.headers["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    )
    assert response.headers["Content-Length"] == str(len(response.content))
    assert response.headers["Content-Disposition"] == 'attachment; filename="Example Contract.docx"'


def test_docx_is_a_valid_zip_naming_the_document():
    document = SimDocument(name="Contract <A&B>")

    archive = zipfile.ZipFile(io.BytesIO(document_bytes(document)))

    assert archive.testzip() is None
    assert {"[Content_Types].xml", "_rels/.rels", "word/document.xml"} <= set(archive.namelist())
    assert b"Contract &lt;A&amp;B&gt;" in archive.read("word/document.xml")


def assert_valid_pdf_structure(data: bytes) -> None:
    assert data.startswith(b"%PDF-1.")
    assert data.rstrip().endswith(b"%%EOF")
    xref_offset = int(re.search(rb"startxref\s+(\d+)\s+%%EOF\s*$", data).group(1))
    assert data[xref_offset:].startswith(b"xref")
    entries = re.findall(rb"(\d{10}) 00000 n \n", data[xref_offset:])
    for number, offset in enumerate(entries, start=1):
        assert data[int(offset) :].startswith(b"%d 0 obj" % number)


def test_pdf_is_well_formed_with_correct_xref_offsets():
    data = document_bytes(SimDocument(name="Summary (final)", kind="pdf"))

    assert_valid_pdf_structure(data)
    assert b"(Summary \\(final\\))" in data


def test_documents_are_deterministic_per_id():
    document = SimDocument(kind="pdf", size=200_000)
    same = SimDocument(id=document.id, kind="pdf", size=200_000)

    assert document_bytes(document) == document_bytes(same)
    assert document_sha256(document) != document_sha256(SimDocument(kind="pdf", size=200_000))


@pytest.mark.parametrize("kind", ["docx", "pdf"])
def test_large_document_streams_with_the_expected_size_and_sha256(advance, kind):
    document = SimDocument(kind=kind, size=5 * 1024 * 1024 + 3)
    work_item = advance.add_work_item(documents=[document])
    digest, size, data = hashlib.sha256(), 0, bytearray()

    with api_get(content_url(advance, work_item.id, document), log_in(advance), stream=True) as response:
        for chunk in response.iter_content(256 * 1024):
            digest.update(chunk)
            size += len(chunk)
            data += chunk

    assert size == document.size == int(response.headers["Content-Length"])
    assert digest.hexdigest() == document_sha256(document)
    assert max(len(chunk) for chunk in document_chunks(document)) <= 64 * 1024
    if kind == "pdf":
        assert_valid_pdf_structure(bytes(data))
    else:
        assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None


def test_chunked_transfer_has_no_content_length(advance):
    document = SimDocument(kind="pdf", size=300_000, chunked=True)
    work_item = advance.add_work_item(documents=[document])

    response = api_get(content_url(advance, work_item.id, document), log_in(advance))

    assert response.headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in response.headers
    assert hashlib.sha256(response.content).hexdigest() == document_sha256(document)


def test_content_disposition_can_be_left_out_or_carry_filename_star(advance):
    plain = SimDocument(name="No Header", content_disposition=False, content_type="application/octet-stream")
    star = SimDocument(name="Vertrag Müller", kind="pdf", filename_star=True)
    work_item = advance.add_work_item(documents=[plain, star])
    token = log_in(advance)

    without = api_get(content_url(advance, work_item.id, plain), token)
    with_star = api_get(content_url(advance, work_item.id, star), token)

    assert "Content-Disposition" not in without.headers
    assert without.headers["Content-Type"] == "application/octet-stream"
    assert with_star.headers["Content-Disposition"] == (
        "attachment; filename=\"Vertrag M_ller.pdf\"; filename*=UTF-8''Vertrag%20M%C3%BCller.pdf"
    )


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "{token}", "Basic {token}"])
def test_api_calls_need_a_bearer_access_token(advance, authorization):
    work_item = advance.add_work_item()
    headers = {} if authorization is None else {"Authorization": authorization.format(token=log_in(advance))}

    response = requests.get(f"{advance.api_base_url}/WorkItems/{work_item.id}/Documents", headers=headers, timeout=5)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_expired_tokens_get_401_until_the_client_logs_in_again(advance):
    work_item = advance.add_work_item()
    url = f"{advance.api_base_url}/WorkItems/{work_item.id}/Documents"
    token = log_in(advance)
    assert api_get(url, token).status_code == 200

    advance.expire_tokens()

    assert api_get(url, token).status_code == 401
    assert api_get(url, log_in(advance)).status_code == 200


def test_token_lifetime_can_be_limited(advance):
    work_item = advance.add_work_item()
    advance.token_ttl_seconds = 0.05
    token = log_in(advance)
    time.sleep(0.1)

    assert api_get(f"{advance.api_base_url}/WorkItems/{work_item.id}/Documents", token).status_code == 401


def test_fail_next_answers_the_fault_then_recovers(advance):
    work_item = advance.add_work_item()
    url = content_url(advance, work_item.id, work_item.documents[0])
    token = log_in(advance)
    advance.fail_next(2, 503, path_contains="/content")
    advance.fail_next(1, 429, path_contains="/CONTENT", headers={"Retry-After": "1"}, body=b"slow down")

    listing = api_get(f"{advance.api_base_url}/WorkItems/{work_item.id}/Documents", token)
    answers = [api_get(url, token) for _ in range(4)]

    assert listing.status_code == 200
    assert [r.status_code for r in answers] == [503, 503, 429, 200]
    assert answers[2].headers["Retry-After"] == "1" and answers[2].content == b"slow down"


def test_fault_on_login(advance):
    advance.fail_next(1, 500)

    response = requests.post(f"{advance.auth_base_url}/Authorize/ServicePrincipalLogIn", json={}, timeout=5)

    assert response.status_code == 500
    assert log_in(advance)


@pytest.mark.parametrize("per_document", [True, False])
def test_cut_after_bytes_drops_the_connection_mid_body(advance, per_document):
    document = SimDocument(kind="pdf", size=1_000_000, cut_after_bytes=100_000 if per_document else None)
    work_item = advance.add_work_item(documents=[document])
    if not per_document:
        advance.cut_after_bytes = 100_000
    url = urlsplit(content_url(advance, work_item.id, document))
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=5)

    connection.request("GET", url.path, headers={"Authorization": f"Bearer {log_in(advance)}"})
    with pytest.raises(http.client.IncompleteRead) as cut:
        connection.getresponse().read()

    assert cut.value.partial == document_bytes(document)[:100_000]
    with pytest.raises(requests.exceptions.ChunkedEncodingError):  # what a requests-based client sees
        api_get(content_url(advance, work_item.id, document), log_in(advance))


def test_redirect_answers_302_with_location(advance):
    work_item = advance.add_work_item()
    url = content_url(advance, work_item.id, work_item.documents[0])
    advance.add_redirect(url.removeprefix(advance.base_url), "http://elsewhere.invalid/doc")

    response = api_get(url, log_in(advance), allow_redirects=False)

    assert response.status_code == 302
    assert response.headers["Location"] == "http://elsewhere.invalid/doc"


def test_paths_are_case_insensitive_like_the_example_payload(advance):
    document = SimDocument()
    work_item = advance.add_work_item(documents=[document])
    token = log_in(advance)

    lower = api_get(advance.document_url(work_item.id.upper(), document.id.upper()), token)
    mixed = api_get(f"{advance.base_url}/hdaapi/REST/v1.1/WORKITEMS/{work_item.id}/documents", token)

    assert lower.status_code == 200 and lower.content == document_bytes(document)
    assert mixed.status_code == 200


def test_delay_applies_to_every_request(advance):
    advance.delay_seconds = 0.2
    started = time.monotonic()

    requests.get(f"{advance.base_url}/anything", timeout=5)

    assert time.monotonic() - started >= 0.2


def test_request_log_redacts_authorization_and_reset_clears_it(advance):
    work_item = advance.add_work_item()
    api_get(f"{advance.api_base_url}/WorkItems/{work_item.id}/Documents?x=1", log_in(advance))

    [record] = advance.requests_for("/documents")

    assert (record.method, record.query) == ("GET", "x=1")
    assert record.headers["Authorization"] == "Bearer <redacted>"
    assert len(advance.requests) == 2
    advance.fail_next(1, 500)
    advance.reset()
    assert advance.requests == [] and advance.login_count == 0
    assert requests.get(f"{advance.base_url}/x", timeout=5).status_code == 404


def test_event_payload_has_the_example_shape_and_urls_that_download(advance):
    work_item = advance.add_work_item(name="WI001", documents=[SimDocument(), SimDocument(kind="pdf")])

    payload = advance.event_payload(work_item, event_id="evt-1")

    assert set(payload) == {"eventId", "eventType", "createdDate", "createdBy", "data"}
    assert set(payload["createdBy"]) == {"id", "loginName", "accountType"}
    assert set(payload["data"]) == {"workItemId", "workItemVersionId", "workItemName", "documents"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z", payload["createdDate"])
    assert payload["eventId"] == "evt-1" and payload["data"]["workItemVersionId"] == work_item.version_id
    token = log_in(advance)
    for entry, document in zip(payload["data"]["documents"], work_item.documents, strict=True):
        assert entry["url"] == f"{advance.api_base_url}/workitems/{work_item.id}/documents/{document.id}/content"
        assert api_get(entry["url"], token).content == document_bytes(document)
    assert advance.event_payload(work_item, include_documents=False)["data"]["documents"] == []


@pytest.mark.parametrize(("bearer", "expected"), [(True, "Bearer <redacted>"), (False, "<redacted>")])
def test_send_webhook_posts_json_with_the_token(advance, bearer, expected):
    payload = advance.event_payload(advance.add_work_item())

    response = advance.send_webhook(f"{advance.base_url}/hook", payload, token="k", bearer=bearer)

    assert response.status_code == 404  # the simulator is its own receiver here; only the log matters
    [record] = advance.requests_for("/hook")
    assert record.method == "POST"
    assert record.headers["Content-Type"] == "application/json"
    assert record.headers["Authorization"] == expected
    assert int(record.headers["Content-Length"]) == len(json.dumps(payload).encode())
