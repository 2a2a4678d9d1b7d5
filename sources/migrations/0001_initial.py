"""Source (from webhooks) and SourceSync (from documents) become this app's, in the migrations' state
only: their tables stay as those apps made them, under their old names until 0002 renames them.
The other apps' foreign keys follow in their own migrations (webhooks 0008, documents 0009,
interviews 0002), and the old apps then forget the models (webhooks 0008, documents 0009)."""

import django.core.validators
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    # The tables as the old apps left them, with every column: the state created here must be them.
    dependencies = [
        ('webhooks', '0007_delivery_received_at_database_default'),
        ('documents', '0008_document_text_without_permissions'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Source',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('slug', models.SlugField(help_text="Short name, part of every stored document's key.", max_length=64, unique=True)),
                        ('name', models.CharField(blank=True, max_length=200)),
                        ('api_base_url', models.URLField(help_text='e.g. https://acme.hotdocsadvance.com/api/rest/v1.1. Only this origin is ever fetched.', max_length=500, verbose_name='API base URL')),
                        ('auth_base_url', models.URLField(help_text='e.g. https://acme.hotdocsadvance.com/auth', max_length=500, verbose_name='auth base URL')),
                        ('client_name', models.CharField(max_length=200)),
                        ('principal_name', models.CharField(max_length=200, verbose_name='service principal name')),
                        ('principal_password_encrypted', models.TextField(blank=True, editable=False)),
                        ('is_active', models.BooleanField(default=True, help_text="Inactive sources' tokens are refused.", verbose_name='active')),
                        ('auth_method', models.CharField(choices=[('token', 'Access token (a webhook token of ours in the Authorization header)'), ('hmac', 'HMAC (a code computed with a secret Advance generates)')], default='token', help_text='Token: Advance calls /webhooks/advance/ with one of our tokens. HMAC: Advance calls /webhooks/advance/<slug>/ with a code made with its secret.', max_length=16, verbose_name='authentication method')),
                        ('hmac_algorithm', models.CharField(choices=[('sha256', 'HMAC-SHA256'), ('sha1', 'HMAC-SHA1'), ('sha512', 'HMAC-SHA512')], default='sha256', max_length=16, verbose_name='HMAC algorithm')),
                        ('hmac_encoding', models.CharField(choices=[('base64', 'Base64'), ('hex', 'Hex')], default='base64', help_text='Base64 (standard or URL-safe, padding optional) or hex (any case).', max_length=16, verbose_name='HMAC code encoding')),
                        ('hmac_signed_material', models.CharField(choices=[('body', 'The raw body'), ('body-without-token', 'The raw body without its token form field'), ('json-field', 'The value of the form field holding the event as JSON'), ('shared-value', 'No HMAC: the code is the secret itself (a shared value)'), ('timestamp.body', '{timestamp}.{body}, the timestamp from a header'), ('standard-webhooks', 'Standard Webhooks: {id}.{timestamp}.{body} in webhook-* headers'), ('github', 'GitHub: X-Hub-Signature-256: sha256=<hex>')], default='body-without-token', max_length=32, verbose_name='HMAC signed material')),
                        ('hmac_code_location', models.CharField(choices=[('form', "Form field 'token' (or query parameter 'token')"), ('authorization', 'Authorization header'), ('header', 'The header named below')], default='form', help_text='Where the code is read. Ignored by Standard Webhooks and GitHub, whose headers are fixed.', max_length=16, verbose_name='HMAC code location')),
                        ('hmac_header_name', models.CharField(blank=True, help_text='The header carrying the code, e.g. X-Signature.', max_length=100, verbose_name='HMAC code header')),
                        ('hmac_prefix', models.CharField(blank=True, help_text='Removed from the code if present, e.g. sha256= or v1,', max_length=32, verbose_name='HMAC code prefix')),
                        ('hmac_timestamp_header', models.CharField(default='webhook-timestamp', help_text='For {timestamp}.{body}: the header carrying the Unix timestamp that is signed.', max_length=100, verbose_name='HMAC timestamp header')),
                        ('hmac_tolerance_seconds', models.PositiveIntegerField(default=300, help_text='Signed timestamps further than this from our clock are refused (replay protection).', verbose_name='HMAC timestamp tolerance (s)')),
                        ('hmac_secret_encrypted', models.TextField(blank=True, editable=False)),
                        ('hmac_previous_secret_encrypted', models.TextField(blank=True, editable=False)),
                        ('hmac_secret_changed_at', models.DateTimeField(blank=True, editable=False, null=True, verbose_name='HMAC secret changed')),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                    ],
                    options={
                        'ordering': ['slug'],
                        'db_table': 'webhooks_source',
                    },
                ),
                migrations.CreateModel(
                    name='SourceSync',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('documents_scope', models.CharField(choices=[('auto', "By the API base URL: v2.0 and later the version's own list, v1.x the latest"), ('version', "Only the version's own list (API v2.0)"), ('latest', "Only the work item's latest list (API v1.1)")], default='auto', help_text="Advance v2.0 lists a version's own documents; v1.1 only the latest completed version's.", max_length=16, verbose_name='documents list when an event names none')),
                        ('post_processing_status_path', models.CharField(blank=True, help_text="Empty: off. The call that sets a version's post-assembly processing status to Complete, relative to the API base URL, with {workItemId} and {versionId}; Advance's help does not name it. Without it, a registered PostProcessingEvent leaves work items 'post-assembly processing is in progress'.", max_length=500)),
                        ('post_processing_status_method', models.CharField(choices=[('PUT', 'PUT'), ('POST', 'POST'), ('PATCH', 'PATCH')], default='PUT', max_length=8)),
                        ('post_processing_status_body', models.TextField(blank=True, default='{"status": "Complete"}', help_text='JSON sent with the call ({workItemId} and {versionId} are replaced); empty: no body.')),
                        ('reconcile_interval_minutes', models.PositiveIntegerField(default=15, help_text='How often beat asks Advance for completed versions no webhook announced; 0: never.')),
                        ('reconcile_query', models.CharField(blank=True, default='filter=Completed&modifiedSince={since}', help_text='Query string of GET /WorkItems ({since} is the watermark, ISO 8601); skip and take are added.', max_length=500)),
                        ('reconcile_watermark', models.DateTimeField(blank=True, help_text='Versions completed before this are not looked for again; it moves only over what was recorded.', null=True)),
                        ('reconcile_next_at', models.DateTimeField(blank=True, help_text='When beat reconciles next.', null=True)),
                        ('reconcile_last_run_at', models.DateTimeField(blank=True, null=True)),
                        ('reconcile_last_error', models.TextField(blank=True)),
                        ('search_config', models.CharField(blank=True, help_text="How this source's documents' words are stemmed for search (PostgreSQL's configuration: english, german, french, simple for no stemming...). Blank: SEARCH_CONFIG. After a change, run documents_reindex.", max_length=63, validators=[django.core.validators.RegexValidator('^[a-z_]+$', "A PostgreSQL text search configuration's name: english, german, simple...")], verbose_name='text search language')),
                        ('source', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='sync', to='sources.source')),
                    ],
                    options={
                        'verbose_name': 'sync settings',
                        'verbose_name_plural': 'sync settings',
                        'db_table': 'documents_sourcesync',
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
