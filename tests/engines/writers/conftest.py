"""A scratch destination per test: a PostgreSQL schema or a DuckDB file.

PostgreSQL tests use the real server at 127.0.0.1:5432 (trust auth), each in a
schema of its own that is dropped afterwards; DuckDB tests use a file in tmp_path.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import duckdb
import psycopg
import pytest

from apps.engines.embedded.writers import StreamConfig, writer_for
from apps.engines.embedded.writers.base import BaseWriter
from tests.services_plugin import port_open, skip_or_fail

PG_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
BACKENDS = ["postgres", "duckdb"]


def pg_available() -> bool:
    return port_open("postgres://127.0.0.1:5432", 5432)


class Destination:
    """One scratch destination: makes writers and reads what they committed."""

    def __init__(self, backend: str, schema: str, path: str | None) -> None:
        self.backend = backend
        self.schema = schema
        self.path = path
        self.logs: list[tuple[str, str]] = []
        self.writers: list[BaseWriter] = []

    @property
    def config(self) -> dict[str, Any]:
        if self.backend == "postgres":
            return {
                "host": "127.0.0.1",
                "port": 5432,
                "database": "postgres",
                "username": "postgres",
            }
        return {"destination_path": self.path}

    def writer(
        self,
        streams: list[StreamConfig],
        *,
        prefix: str = "",
        connection_id: str = "conn-1",
        batch_rows: int | None = None,
        **config: Any,
    ) -> BaseWriter:
        writer = writer_for(self.backend)(
            {**self.config, **config},
            schema=self.schema,
            table_prefix=prefix,
            streams=streams,
            connection_id=connection_id,
            log=lambda level, message: self.logs.append((level, message)),
        )
        if batch_rows is not None:
            writer.batch_rows = batch_rows
        self.writers.append(writer)
        return writer

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run ``sql`` ({s} is the schema) on a separate connection: committed data."""
        sql = sql.replace("{s}", f'"{self.schema}"')
        if self.backend == "postgres":
            with psycopg.connect(PG_DSN, autocommit=True) as conn:
                return conn.execute(sql, params or None).fetchall()
        open_writer = next((w for w in self.writers if w._is_open), None)
        if open_writer is not None:
            cursor = open_writer.conn.cursor()
            try:
                return cursor.execute(sql.replace("%s", "?"), list(params)).fetchall()
            finally:
                cursor.close()
        with duckdb.connect(self.path) as conn:
            return conn.execute(sql.replace("%s", "?"), list(params)).fetchall()

    def execute(self, sql: str) -> None:
        """Run a statement that returns nothing (PostgreSQL cleanup)."""
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(sql)

    def count(self, table: str) -> int:
        return self.query(f'SELECT count(*) FROM {{s}}."{table}"')[0][0]

    def columns(self, table: str) -> dict[str, str]:
        rows = self.query(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (self.schema, table),
        )
        return {name: kind.lower() for name, kind in rows}

    def tables(self) -> set[str]:
        rows = self.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (self.schema,),
        )
        return {name for (name,) in rows}


@pytest.fixture(params=BACKENDS)
def dest(request, tmp_path) -> Iterator[Destination]:
    """A scratch destination, once per backend."""
    yield from _destination(request.param, tmp_path)


@pytest.fixture
def pg(tmp_path) -> Iterator[Destination]:
    yield from _destination("postgres", tmp_path)


@pytest.fixture
def duck(tmp_path) -> Iterator[Destination]:
    yield from _destination("duckdb", tmp_path)


def _destination(backend: str, tmp_path) -> Iterator[Destination]:
    if backend == "postgres" and not pg_available():
        skip_or_fail("needs PostgreSQL at 127.0.0.1:5432")
    schema = f"wt_{uuid.uuid4().hex[:12]}"
    destination = Destination(backend, schema, str(tmp_path / "warehouse.duckdb"))
    try:
        yield destination
    finally:
        for writer in destination.writers:
            writer.abort()
        if backend == "postgres":
            with psycopg.connect(PG_DSN, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def stream(
    name: str = "users",
    properties: dict[str, Any] | None = None,
    *,
    mode: str = "append",
    primary_key: list[list[str]] | None = None,
    cursor: list[str] | None = None,
    generation: int = 1,
    namespace: str | None = None,
    **extra: Any,
) -> StreamConfig:
    """A StreamConfig with a small default schema (id, name, updated_at)."""
    if properties is None:
        properties = {
            "id": {"type": "integer"},
            "name": {"type": ["null", "string"]},
            "updated_at": {"type": "string", "format": "date-time"},
        }
    return StreamConfig(
        name=name,
        namespace=namespace,
        json_schema={"type": "object", "properties": properties},
        destination_sync_mode=mode,  # type: ignore[arg-type]
        primary_key=primary_key or [],
        cursor_field=cursor or [],
        generation_id=generation,
        **extra,
    )


def stream_state(name: str, value: Any, namespace: str | None = None) -> dict:
    descriptor: dict[str, Any] = {"name": name}
    if namespace:
        descriptor["namespace"] = namespace
    return {
        "type": "STREAM",
        "stream": {"stream_descriptor": descriptor, "stream_state": value},
    }


def write_users(
    writer: BaseWriter, ids: range | list[int], *, name: str = "user", ts: int = 0
) -> None:
    for index in ids:
        writer.write(
            "users",
            None,
            {
                "id": index,
                "name": f"{name}-{index}",
                "updated_at": "2024-01-01T00:00:00Z",
            },
            1_700_000_000_000 + ts,
        )
