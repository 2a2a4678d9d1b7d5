from django.db import migrations, models

CHANNEL = "webhooks_delivery_stored"  # webhooks.relay.NOTIFY_CHANNEL

# PostgreSQL wakes the relay (webhooks.relay) as an accepted event is committed: a trigger, so that
# the request still sends one statement. Other databases are polled.
NOTIFY_SQL = [
    f"""
CREATE OR REPLACE FUNCTION webhooks_delivery_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql
""",
    """
CREATE TRIGGER webhooks_delivery_notify AFTER INSERT ON webhooks_delivery
    FOR EACH ROW WHEN (NEW.status = 'accepted' AND NEW.due_at IS NULL)
    EXECUTE FUNCTION webhooks_delivery_notify()
""",
]
DROP_SQL = [
    "DROP TRIGGER IF EXISTS webhooks_delivery_notify ON webhooks_delivery",
    "DROP FUNCTION IF EXISTS webhooks_delivery_notify()",
]


def notify_create(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        for statement in NOTIFY_SQL:
            schema_editor.execute(statement)


def notify_drop(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        for statement in DROP_SQL:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0003_delivery_due_at"),
    ]

    operations = [
        migrations.AlterField(
            model_name="delivery",
            name="due_at",
            field=models.DateTimeField(
                blank=True,
                help_text="When processing should next run; later than that, the sweep queues it again. "
                "Empty on an accepted event: stored, not published yet (the relay publishes it).",
                null=True,
            ),
        ),
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(
                condition=models.Q(("due_at__isnull", True), ("status", "accepted")),
                fields=["id"],
                name="delivery_unpublished",
            ),
        ),
        migrations.RunPython(notify_create, notify_drop),
    ]
