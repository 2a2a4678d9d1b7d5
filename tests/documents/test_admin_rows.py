"""The rows of the admin's lists: drawn as Django draws them, with less work per row."""

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse

from documents.models import Document
from tests.factories import document_make

HOSTILE_NAME = """<b>Lease</b> & "Annex" 'A' {x} %s"""


@pytest.mark.django_db
def test_each_admins_row_checkbox_is_the_one_djangos_widget_renders(source):
    # What the admin's script selects rows by: any difference in name, value, class or label breaks it.
    document = document_make(source, name=HOSTILE_NAME)
    user = get_user_model().objects.create_user("user-<&>\"'", password="x")
    rows = {Document: document, get_user_model(): user, type(source): source}

    for model, row in rows.items():
        model_admin = admin.site.get_model_admin(model)
        assert model_admin.action_checkbox(row) == admin.ModelAdmin.action_checkbox(model_admin, row)


@pytest.mark.django_db
def test_the_document_list_carries_a_checkbox_per_row_with_its_key_and_escaped_name(admin_client, source):
    documents = [document_make(source, document_id=f"doc-{n}", name=f"{HOSTILE_NAME} {n}") for n in range(3)]

    content = admin_client.get(reverse("admin:documents_document_changelist")).content.decode()

    for document in documents:
        label = f"Select this object for an action - {document}".replace("&", "&amp;").replace("<", "&lt;")
        label = label.replace(">", "&gt;").replace('"', "&quot;").replace("'", "&#x27;")
        assert (
            f'<input type="checkbox" name="_selected_action" value="{document.pk}" class="action-select"'
            f' aria-label="{label}">' in content
        )
    assert "<b>Lease</b>" not in content
