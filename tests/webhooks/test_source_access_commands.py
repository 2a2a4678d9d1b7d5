"""source_access_grant and source_access_revoke (CONTRACT.md): each prints what it did, and a refusal
says why, exits non-zero and changes nothing. A granted staff user needs nothing more in the admin."""

import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.test import Client

from sources.models import SourceAccess
from tests.factories import document_make, source_make
from tests.support.processes import BASE_DIR

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def grants() -> list[tuple]:
    return sorted(SourceAccess.objects.values_list("source__slug", "user__username", "group__name", "level"), key=str)


@pytest.fixture
def acme(db):
    return source_make("acme")


@pytest.fixture
def ann(db):
    return get_user_model().objects.create_user("ann", password="ann-password-41d0", is_staff=True)


def test_a_user_granted_by_the_command_uses_the_source_in_the_admin_with_nothing_more(acme, ann):
    document = document_make(acme, name="Lease of the barn")

    printed = run("source_access_grant", "acme", "--user", "ann", "--level", "view")
    client = Client()
    client.force_login(ann)
    listed = client.get("/admin/documents/document/")

    assert printed == "Granted view on source 'acme' to user 'ann'.\n"
    assert listed.status_code == 200 and "Lease of the barn" in listed.content.decode()
    assert client.get(f"/admin/documents/document/{document.pk}/download/").status_code == 403
    assert ann.user_permissions.count() == 0


def test_grant_again_changes_the_level_or_says_nothing_changed(acme, ann):
    run("source_access_grant", "acme", "--user", "ann", "--level", "view")

    changed = run("source_access_grant", "acme", "--user", "ann", "--level", "manage")
    same = run("source_access_grant", "acme", "--user", "ann", "--level", "manage")

    assert changed == "Changed the access of user 'ann' on source 'acme': view -> manage.\n"
    assert same == "The user 'ann' has manage on source 'acme' already; nothing changed.\n"
    assert grants() == [("acme", "ann", None, "manage")]


def test_a_group_is_granted_and_revoked(acme):
    Group.objects.create(name="records")

    granted = run("source_access_grant", "acme", "--group", "records", "--level", "download")
    revoked = run("source_access_revoke", "acme", "--group", "records")
    again = run("source_access_revoke", "acme", "--group", "records")

    assert granted == "Granted download on source 'acme' to group 'records'.\n"
    assert revoked == "Revoked the download access of group 'records' on source 'acme'.\n"
    assert again == "The group 'records' had no grant on source 'acme'; nothing changed.\n"
    assert grants() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["source_access_grant", "nope", "--user", "ann", "--level", "view"], "No source with the slug 'nope'."),
        (["source_access_grant", "acme", "--user", "nobody", "--level", "view"], "No user 'nobody'."),
        (["source_access_grant", "acme", "--group", "nogroup", "--level", "view"], "No group 'nogroup'."),
        (
            ["source_access_grant", "acme", "--user", "walter", "--level", "view"],
            "The user 'walter' is not staff: only staff users can use the admin.",
        ),
        (["source_access_revoke", "nope", "--user", "ann"], "No source with the slug 'nope'."),
        (["source_access_revoke", "acme", "--user", "nobody"], "No user 'nobody'."),
        (["source_access_revoke", "acme", "--group", "nogroup"], "No group 'nogroup'."),
    ],
)
def test_a_refusal_says_why_and_changes_nothing(acme, ann, args, message):
    get_user_model().objects.create_user("walter", password="x", is_staff=False)
    run("source_access_grant", "acme", "--user", "ann", "--level", "download")
    before = grants()

    with pytest.raises(CommandError) as refused:
        run(*args)

    assert str(refused.value) == message
    assert grants() == before


@pytest.mark.parametrize(
    "args",
    [
        ["source_access_grant", "acme", "--level", "view"],
        ["source_access_grant", "acme", "--user", "ann", "--group", "records", "--level", "view"],
        ["source_access_grant", "acme", "--user", "ann", "--level", "owner"],
        ["source_access_revoke", "acme"],
    ],
)
def test_the_command_line_exits_non_zero_on_a_user_and_a_group_both_or_neither_or_an_unknown_level(args):
    # The real command line (argparse exits), not call_command: what an operator's script sees.
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, capture_output=True, text=True, timeout=60
    )

    assert result.returncode != 0
    assert "error:" in result.stderr
