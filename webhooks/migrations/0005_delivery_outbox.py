from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0004_refused_calls_kept_and_form_hmac_schemes"),
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
    ]
