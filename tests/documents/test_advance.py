"""The Advance client against the simulated Advance over real HTTP."""

import pytest

from advance_sim import SimDocument, SimulatedAdvance, document_bytes
from documents.advance.client import AdvanceClient
from documents.advance.errors import AdvanceError, AdvanceUnavailable
from documents.advance.urls import request_url

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:1/HdaApi/rest/v1.1/x",  # another port
        "https://127.0.0.1:{port}/HdaApi/rest/v1.1/x",  # another scheme
        "http://localhost:{port}/HdaApi/rest/v1.1/x",  # another host name for the same machine
        "http://169.254.169.254/latest/meta-data/",
        "http://2130706433:{port}/x",  # 127.0.0.1 spelled as a decimal
        "http://[::1]:{port}/x",
        "file:///etc/passwd",
        "ftp://127.0.0.1:{port}/x",
    ],
)
def test_only_the_api_origin_passes(url):
    api = "http://127.0.0.1:8123/HdaApi/rest/v1.1"

    with pytest.raises(AdvanceError, match="another origin"):
        request_url(url.format(port=8123), api)
    assert request_url("http://127.0.0.1:8123/anything/else", api) == "http://127.0.0.1:8123/anything/else"
    assert request_url("HTTP://127.0.0.1:8123/x", api) == "http://127.0.0.1:8123/x"


def test_default_ports_are_the_same_origin():
    requested = request_url(
        "https://acme.hotdocsadvance.com:443/api/x", "https://acme.hotdocsadvance.com/api/rest/v1.1"
    )

    assert requested == "https://acme.hotdocsadvance.com/api/x"


def test_login_is_reused_across_calls(source, advance):
    work_item = advance.add_work_item(documents=[SimDocument(kind="pdf"), SimDocument(kind="docx")])
    client = AdvanceClient(source)

    listed = client.list_documents(work_item.id)
    for document in work_item.documents:
        with client.download(client.content_url(work_item.id, document.id)) as download:
            assert b"".join(download.iter_bytes()) == document_bytes(document)

    assert [item["id"] for item in listed] == [d.id for d in work_item.documents]
    assert advance.login_count == 1


def test_a_401_logs_in_again_once_then_succeeds(source, advance):
    work_item = advance.add_work_item()
    client = AdvanceClient(source)
    client.list_documents(work_item.id)
    advance.expire_tokens()

    client.list_documents(work_item.id)

    assert advance.login_count == 2


def test_a_changed_password_logs_in_again(source, advance):
    work_item = advance.add_work_item()
    AdvanceClient(source).list_documents(work_item.id)
    source.set_principal_password(advance.principal_password)  # new ciphertext, same password
    source.save()

    AdvanceClient(source).list_documents(work_item.id)

    assert advance.login_count == 2


def test_wrong_password_is_retryable_and_names_the_status(source, advance):
    source.set_principal_password("wrong")
    source.save()

    with pytest.raises(AdvanceUnavailable, match="log-in refused: HTTP 401"):
        AdvanceClient(source).list_documents("anything")


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, AdvanceUnavailable),
        (503, AdvanceUnavailable),
        (429, AdvanceUnavailable),
        (404, AdvanceError),
        (403, AdvanceError),
    ],
)
def test_status_codes_are_sorted_into_transient_and_permanent(source, advance, status, error):
    work_item = advance.add_work_item()
    advance.fail_next(1, status, path_contains="/Documents", headers={"Retry-After": "7"})

    with pytest.raises(error) as raised:
        AdvanceClient(source).list_documents(work_item.id)

    if error is AdvanceUnavailable and status == 429:
        assert raised.value.retry_after == 7


def test_same_origin_redirect_is_followed(source, advance):
    work_item = advance.add_work_item(documents=[SimDocument(kind="pdf")])
    document = work_item.documents[0]
    client = AdvanceClient(source)
    moved = "/HdaApi/rest/v1.1/moved"
    advance.add_redirect(moved, client.content_url(work_item.id, document.id))

    with client.download(advance.base_url + moved) as download:
        assert b"".join(download.iter_bytes()) == document_bytes(document)


def test_redirect_to_another_origin_is_not_followed(source, advance):
    with SimulatedAdvance() as elsewhere:
        target = elsewhere.add_work_item(documents=[SimDocument(kind="pdf")])
        moved = "/HdaApi/rest/v1.1/moved"
        advance.add_redirect(moved, elsewhere.document_url(target.id, target.documents[0].id))

        with (
            pytest.raises(AdvanceError, match="another origin"),
            AdvanceClient(source).download(advance.base_url + moved),
        ):
            pass

        assert elsewhere.requests == []


def test_cut_download_is_retryable(source, advance):
    document = SimDocument(kind="pdf", size=2 * 1024 * 1024, cut_after_bytes=100_000)
    work_item = advance.add_work_item(documents=[document])
    client = AdvanceClient(source)

    with (
        pytest.raises(AdvanceUnavailable, match="interrupted"),
        client.download(client.content_url(work_item.id, document.id)) as download,
    ):
        for _ in download.iter_bytes():
            pass
