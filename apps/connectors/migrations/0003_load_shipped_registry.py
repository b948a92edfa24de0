"""Load the catalog file the console ships (apps/connectors/catalog/registry.json)."""

from django.db import migrations

from apps.connectors.catalog.registry import (
    SHIPPED_REGISTRY,
    load_registry_file,
    merge_registry,
    parse_registry,
)


def load_shipped_registry(apps, schema_editor):
    ConnectorDefinition = apps.get_model("connectors", "ConnectorDefinition")
    entries = parse_registry(load_registry_file(SHIPPED_REGISTRY))
    merge_registry(entries, model=ConnectorDefinition)


class Migration(migrations.Migration):
    dependencies = [
        ("connectors", "0002_catalog_installs_and_spec_cache"),
    ]

    operations = [
        migrations.RunPython(load_shipped_registry, migrations.RunPython.noop),
    ]
