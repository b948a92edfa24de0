# The Airbyte server settings, moved here from ``engines`` (issue #11). The table
# already exists under its old name, so only Django's model state is created.

import django.db.models.deletion
import encrypted_model_fields.fields
import uuid
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("engines", "0002_airbyteserver_moves_to_airbyte"),
        ("workspaces", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AirbyteServer",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "public_id",
                            models.UUIDField(
                                default=uuid.uuid4, editable=False, unique=True
                            ),
                        ),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        ("url", models.URLField(max_length=300)),
                        (
                            "auth",
                            models.CharField(
                                choices=[
                                    ("application", "Application client id and secret"),
                                    ("basic", "Basic auth (old installs)"),
                                    (
                                        "none",
                                        "None (server started with --disable-auth)",
                                    ),
                                ],
                                default="application",
                                max_length=12,
                            ),
                        ),
                        ("client_id", models.CharField(blank=True, max_length=200)),
                        (
                            "client_secret",
                            encrypted_model_fields.fields.EncryptedTextField(
                                blank=True, default=""
                            ),
                        ),
                        ("username", models.CharField(blank=True, max_length=200)),
                        (
                            "password",
                            encrypted_model_fields.fields.EncryptedTextField(
                                blank=True, default=""
                            ),
                        ),
                        (
                            "remote_workspace_id",
                            models.CharField(blank=True, max_length=64),
                        ),
                        (
                            "remote_workspace_name",
                            models.CharField(blank=True, max_length=200),
                        ),
                        ("server_version", models.CharField(blank=True, max_length=50)),
                        ("server_edition", models.CharField(blank=True, max_length=50)),
                        (
                            "server_auth_mode",
                            models.CharField(blank=True, max_length=20),
                        ),
                        (
                            "last_checked_at",
                            models.DateTimeField(blank=True, null=True),
                        ),
                        ("last_check_ok", models.BooleanField(null=True)),
                        ("last_check_message", models.TextField(blank=True)),
                        ("definition_ids", models.JSONField(blank=True, default=list)),
                        ("last_import_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "last_import_summary",
                            models.JSONField(blank=True, default=dict),
                        ),
                        (
                            "workspace",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="airbyte_server",
                                to="workspaces.workspace",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "engines_airbyteserver",
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
