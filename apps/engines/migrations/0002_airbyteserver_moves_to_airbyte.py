# The Airbyte server settings moved to the ``airbyte`` app (issue #11). Only
# Django's model state changes here; the table and its rows stay where they are.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("engines", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="AirbyteServer")],
            database_operations=[],
        ),
    ]
