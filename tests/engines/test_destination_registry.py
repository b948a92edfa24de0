"""Built-in destinations come from one registry: a new one is a descriptor away.

A fake third destination registered here reaches the catalog, the "new destination"
form, the engine's check and the sync's writer without any other change; the real
descriptors build the dbt targets issue #14 runs models with.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from django.urls import reverse

from apps.connectors.catalog.registry import (
    SHIPPED_REGISTRY,
    RegistryError,
    load_registry_file,
    merge_registry,
    parse_registry,
)
from apps.connectors.models import ConnectorDefinition
from apps.engines import registry
from apps.engines.base import CheckResult, ConnectorSpec, DestinationDescriptor
from apps.engines.embedded.engine import EmbeddedEngine
from apps.engines.embedded.sync import make_writer
from apps.engines.embedded.writers import writer_for

FAKE_ID = uuid.UUID("5eaf00d5-1111-4222-8333-444455556666")
# A workspace's public id, for the verbs that keep each workspace's files apart.
WS = "0c0ffee0-1111-4222-8333-444455556666"
FAKE_SPEC = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["bucket"],
    "properties": {
        "bucket": {"title": "Name of the fake bucket", "type": "string"},
    },
}


class FakeBucketWriter:
    """Just enough of a writer to see which config it was built with."""

    def __init__(self, config: dict, **options) -> None:
        self.config = config
        self.options = options


def _check(config: dict, *, workspace_id: str) -> CheckResult:
    bucket = config.get("bucket") or ""
    return CheckResult(ok=bucket.startswith("ok-"), message=f"bucket {bucket}")


FAKE = DestinationDescriptor(
    name="fakebucket",
    title="Fake Bucket",
    definition_id=str(FAKE_ID),
    spec=ConnectorSpec(
        connection_specification=FAKE_SPEC,
        documentation_url="https://docs.example.test/fake-bucket",
    ),
    docs_url="https://docs.example.test/fake-bucket",
    check=_check,
    prepare_config=lambda config, *, workspace_id: {
        **config,
        "bucket": config["bucket"].lower(),
    },
    writer=lambda: FakeBucketWriter,
    dbt_profile=lambda config, *, workspace_id: {
        "type": "fakebucket",
        "bucket": config["bucket"],
    },
)


@pytest.fixture
def fake_destination():
    registry.register_destination(FAKE)
    try:
        yield FAKE
    finally:
        registry.unregister_destination(FAKE.name)


def _load_catalog() -> None:
    """What the migration and `connectors refresh` do with the shipped file."""
    merge_registry(
        parse_registry(load_registry_file(SHIPPED_REGISTRY)),
        model=ConnectorDefinition,
    )


@pytest.mark.django_db
def test_a_registered_destination_is_in_the_catalog_and_the_new_form(
    fake_destination, admin, workspace, login
):
    _load_catalog()

    row = ConnectorDefinition.objects.get(definition_id=FAKE_ID)
    assert (row.kind, row.name, row.builtin) == (
        "destination",
        "Fake Bucket",
        "fakebucket",
    )
    assert row.documentation_url == "https://docs.example.test/fake-bucket"
    assert row.engines == ["embedded"]
    assert not row.is_installable
    client = login(admin)
    create = reverse("connectors:destination_create", args=[workspace.public_id])
    picker = client.get(create)
    assert picker.status_code == 200
    assert "Fake Bucket" in picker.text
    form = client.get(create, {"definition": row.public_id})
    assert form.status_code == 200
    assert "Name of the fake bucket" in form.text
    assert 'name="cfg__bucket"' in form.text


@pytest.mark.django_db
def test_the_engine_checks_and_writes_a_registered_destination(fake_destination):
    _load_catalog()
    row = ConnectorDefinition.objects.get(definition_id=FAKE_ID)

    good = EmbeddedEngine().check(row, {"bucket": "ok-one"})
    bad = EmbeddedEngine().check(row, {"bucket": "nope"})
    writer = make_writer(row, {"bucket": "OK-Two"}, schema="raw", workspace_id=WS)

    assert EmbeddedEngine().spec(row).connection_specification == FAKE_SPEC
    assert (good.ok, good.message) == (True, "bucket ok-one")
    assert not bad.ok
    assert writer_for("fakebucket") is FakeBucketWriter
    assert isinstance(writer, FakeBucketWriter)
    assert writer.config == {"bucket": "ok-two"}
    assert writer.options == {"schema": "raw"}


def test_an_unregistered_destination_leaves_the_catalog_file_invalid():
    entry = {
        "destinationDefinitionId": str(FAKE_ID),
        "name": "Fake Bucket",
        "console": {"builtin": "fakebucket"},
    }

    with pytest.raises(RegistryError, match="builtin must be one of postgres, duckdb"):
        parse_registry({"destinations": [entry]})
    assert registry.destination("fakebucket") is None


def test_a_catalog_entry_cannot_give_a_builtin_another_id():
    entry = {
        "destinationDefinitionId": str(FAKE_ID),
        "name": "Not DuckDB",
        "console": {"builtin": "duckdb"},
    }

    with pytest.raises(RegistryError, match="builtin 'duckdb' has definition id"):
        parse_registry({"destinations": [entry]})


def test_postgres_dbt_profile_targets_the_destination_database():
    config = {
        "host": "db.internal",
        "port": 6543,
        "database": "warehouse",
        "schema": "analytics",
        "username": "loader",
        "password": "s3cret",
        "ssl_mode": "require",
    }

    profile = registry.destination("postgres").dbt_profile(config, workspace_id=WS)

    assert profile == {
        "type": "postgres",
        "host": "db.internal",
        "port": 6543,
        "user": "loader",
        "password": "s3cret",
        "dbname": "warehouse",
        "schema": "analytics",
        "sslmode": "require",
        "connect_timeout": 10,
    }


def test_postgres_dbt_profile_fills_the_spec_defaults():
    profile = registry.destination("postgres").dbt_profile(
        {"host": "h", "database": "d", "username": "u"}, workspace_id=WS
    )

    assert (profile["port"], profile["schema"], profile["password"]) == (
        5432,
        "public",
        "",
    )


def test_duckdb_dbt_profile_targets_the_resolved_file(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.DUCKDB_DIR = tmp_path / "duckdb"
    duckdb = registry.destination("duckdb")

    relative = duckdb.dbt_profile({"destination_path": "w.duckdb"}, workspace_id=WS)
    with_schema = duckdb.dbt_profile(
        {"destination_path": "team/w.duckdb", "schema": "marts"}, workspace_id=WS
    )

    assert relative == {
        "type": "duckdb",
        "path": str(Path(tmp_path / "duckdb" / WS / "w.duckdb").resolve()),
        "schema": "main",
    }
    assert with_schema["path"] == str(
        (tmp_path / "duckdb" / WS / "team/w.duckdb").resolve()
    )
    assert with_schema["schema"] == "marts"
    assert not (tmp_path / "duckdb").exists()
    with pytest.raises(ValueError, match="outside this workspace's DuckDB folder"):
        duckdb.dbt_profile({"destination_path": "/elsewhere/w.duckdb"}, workspace_id=WS)
