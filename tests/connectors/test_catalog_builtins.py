"""A built-in destination added after an install reaches its catalog at `migrate`."""

from __future__ import annotations

import uuid

import pytest
from django.core.management import call_command

from apps.connectors.models import ConnectorDefinition
from apps.engines import registry as engine_registry

pytestmark = pytest.mark.django_db


def test_migrate_adds_a_missing_builtin_destination_and_keeps_existing_rows():
    mysql = next(d for d in engine_registry.destinations() if d.name == "mysql")
    ConnectorDefinition.objects.filter(
        definition_id=uuid.UUID(mysql.definition_id)
    ).delete()  # an install from before MySQL was written
    postgres = ConnectorDefinition.objects.get(builtin="postgres")
    postgres.docker_repository = "airbyte/destination-postgres"
    postgres.save(update_fields=["docker_repository"])

    call_command("migrate", verbosity=0)

    added = ConnectorDefinition.objects.get(
        definition_id=uuid.UUID(mysql.definition_id)
    )
    assert (added.kind, added.builtin, added.name) == (
        "destination",
        "mysql",
        mysql.title,
    )
    assert "embedded" in added.engines
    postgres.refresh_from_db()
    assert postgres.docker_repository == "airbyte/destination-postgres"
    assert ConnectorDefinition.objects.filter(builtin="postgres").count() == 1
