from django.db import migrations


def permissions_drop(apps, schema_editor):
    """The view/add/change/delete permissions of document texts controlled nothing: gone, with
    whatever user or group held them (a document's text follows view_document)."""
    Permission = apps.get_model("auth", "Permission")
    Permission.objects.filter(content_type__app_label="documents", content_type__model="documenttext").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("documents", "0007_name_search_indexes"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="documenttext",
            options={
                "default_permissions": (),
                "verbose_name": "document text",
                "verbose_name_plural": "document texts",
            },
        ),
        migrations.RunPython(permissions_drop, migrations.RunPython.noop),
    ]
