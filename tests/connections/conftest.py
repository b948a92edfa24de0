"""Fixtures for end-to-end syncs: real connectors, real destinations."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from apps.connections import services
from apps.connectors.models import Destination, Source
from tests.engines.fixtures import (
    DUCKDB_ID,
    FAKER_ID,
    HARDCODED_ID,
    POSTGRES_ID,
    definition,
)
from tests.services_plugin import port_open, skip_or_fail

PG_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
_CATALOGS: dict[str, dict] = {}


@pytest.fixture
def pg_schema():
    """A scratch schema in the real PostgreSQL, dropped afterwards."""
    if not port_open("postgres://127.0.0.1:5432", 5432):
        skip_or_fail("needs PostgreSQL at 127.0.0.1:5432")
    name = f"t_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def pg_rows(sql: str, *params):
    with psycopg.connect(PG_DSN) as conn:
        return conn.execute(sql, params).fetchall()


@pytest.fixture
def faker_source(workspace, real_connectors, faker_installed):
    def make(count: int = 200, **config):
        source = Source.objects.create(
            workspace=workspace,
            name=f"Faker {uuid.uuid4().hex[:6]}",
            definition=definition(FAKER_ID),
            config={
                "count": count,
                "seed": 1,
                "records_per_slice": 100,
                "parallelism": 1,
                **config,
            },
        )
        # Faker's catalog does not depend on its config: discover it once per session
        # (a real `discover`), then reuse it.
        if "faker" not in _CATALOGS:
            from apps.connectors.services import source_discover_run

            source_discover_run(pk=source.pk)
            source.refresh_from_db()
            _CATALOGS["faker"] = source.catalog
        source.catalog = _CATALOGS["faker"]
        source.save(update_fields=["catalog"])
        return source

    return make


@pytest.fixture
def hardcoded_source(workspace, real_connectors, hardcoded_installed):
    source = Source.objects.create(
        workspace=workspace,
        name="Hardcoded",
        definition=definition(HARDCODED_ID),
        config={"count": 300},
    )
    from apps.connectors.services import source_discover_run

    source_discover_run(pk=source.pk)
    source.refresh_from_db()
    return source


@pytest.fixture
def duckdb_destination(workspace, settings, tmp_path):
    settings.DUCKDB_DIR = tmp_path
    return Destination.objects.create(
        workspace=workspace,
        name="Duck",
        definition=definition(DUCKDB_ID),
        config={"destination_path": "warehouse.duckdb"},
    )


@pytest.fixture
def postgres_destination(workspace, pg_schema):
    import json

    return Destination.objects.create(
        workspace=workspace,
        name="PG",
        definition=definition(POSTGRES_ID),
        config={
            "host": "127.0.0.1",
            "port": 5432,
            "database": "postgres",
            "schema": pg_schema,
            "username": "postgres",
            "ssl_mode": "disable",
        },
        secrets=json.dumps({}),
    )


@pytest.fixture
def make_connection(admin, workspace):
    def make(source, destination, streams, namespace="public", **extra):
        return services.connection_create(
            actor=admin,
            workspace=workspace,
            name=f"C {uuid.uuid4().hex[:6]}",
            source=source,
            destination=destination,
            streams=streams,
            namespace=namespace,
            **extra,
        )

    return make
