"""The content types of Source and SourceSync take this app's label, so that the permissions users
and groups hold (view_source, change_source...) and the admin's log entries stay theirs.

On a fresh database there are no rows yet (post_migrate makes them after the last migration):
nothing to do."""

from django.db import migrations

# (old app label, model): the rows that move to this app's label.
MOVED = [("webhooks", "source"), ("documents", "sourcesync")]


def content_types_relabel(apps, schema_editor, *, backwards: bool = False) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    content_types = ContentType.objects.using(schema_editor.connection.alias)
    for old_label, model in MOVED:
        source_label, target_label = ("sources", old_label) if backwards else (old_label, "sources")
        if not content_types.filter(app_label=source_label, model=model).exists():
            continue
        # A row under the target label exists only if post_migrate ran partway through these
        # migrations; the moving row holds the permissions granted and the log, so it wins.
        content_types.filter(app_label=target_label, model=model).delete()
        content_types.filter(app_label=source_label, model=model).update(app_label=target_label)
    ContentType.objects.clear_cache()


def content_types_relabel_back(apps, schema_editor) -> None:
    content_types_relabel(apps, schema_editor, backwards=True)


class Migration(migrations.Migration):
    dependencies = [
        ("sources", "0002_tables_renamed"),
        ("contenttypes", "0002_remove_content_type_name"),
        # Deleting a content type cascades to permissions and log entries: their models are in the state.
        ("auth", "0012_alter_user_first_name_max_length"),
        ("admin", "0003_logentry_add_action_flag_choices"),
    ]

    operations = [
        migrations.RunPython(content_types_relabel, content_types_relabel_back),
    ]
