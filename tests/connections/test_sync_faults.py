"""Connectors that misbehave: the attempt says why, the worker stays well, and
nothing committed is lost. The source is the suite's tiny protocol-speaking
connector (tests/engines/fakes.py), installed offline from a wheel."""

from __future__ import annotations

import json

import pytest

from apps.connectors.models import Source
from apps.connectors.selectors import stored_secrets
from apps.connectors.services import source_discover_run
from tests.connections.test_sync_embedded import duck_rows, run_now

pytestmark = pytest.mark.django_db(transaction=True)

CANARY = "tiny-secret-canary-77"


@pytest.fixture
def tiny_source(workspace, offline_connectors, tiny_definition):
    def make(mode: str = "ok", **config):
        source = Source.objects.create(
            workspace=workspace,
            name=f"Tiny {mode}",
            definition=tiny_definition,
            config={"mode": mode, **config},
            secrets=json.dumps({"/api_key": CANARY}),
        )
        assert source_discover_run(pk=source.pk) is not None
        source.refresh_from_db()
        return source

    return make


def things(destination, schema="tiny"):
    return duck_rows(
        destination, f"select count(*), count(distinct id) from {schema}.things"
    )


DEDUP = [
    {
        "name": "things",
        "sync_mode": "incremental",
        "destination_sync_mode": "append_dedup",
    }
]
APPEND = [
    {"name": "things", "sync_mode": "incremental", "destination_sync_mode": "append"}
]


def test_garbage_lines_are_logged_not_fatal(
    admin, tiny_source, duckdb_destination, make_connection
):
    connection = make_connection(
        tiny_source("garbage_midway"), duckdb_destination, DEDUP, namespace="tiny"
    )
    job = run_now(connection, admin)
    assert job.status == "succeeded", job.failure_message
    assert things(duckdb_destination) == [(50, 50)]
    log = job.attempts.get().log
    assert "this line is not JSON" in log
    assert CANARY not in log


def test_a_source_that_dies_fails_with_its_reason_and_keeps_what_it_sent(
    admin, tiny_source, duckdb_destination, make_connection
):
    connection = make_connection(
        tiny_source("die_midway", records=40),
        duckdb_destination,
        DEDUP,
        namespace="tiny",
    )
    job = run_now(connection, admin)
    assert job.status == "incomplete"  # transient: it will be retried
    assert job.failure_origin == "source"
    assert "exited with code 139" in job.failure_message
    assert "Segmentation fault" in job.failure_message
    assert things(duckdb_destination) == [(40, 40)]
    assert job.records_committed == 40


def test_a_silent_source_is_stopped_as_unresponsive(
    admin, settings, tiny_source, duckdb_destination, make_connection
):
    settings.SYNC_CONNECTOR_SILENCE_SECONDS = 2
    connection = make_connection(
        tiny_source("silent_midway", records=30),
        duckdb_destination,
        DEDUP,
        namespace="tiny",
    )
    job = run_now(connection, admin)
    assert job.status == "incomplete"
    assert "unresponsive" in job.failure_message
    assert job.failure_type == "transient_error"
    assert things(duckdb_destination) == [(30, 30)]


def test_a_record_that_breaks_its_schema_is_kept_with_the_reason(
    admin, tiny_source, duckdb_destination, make_connection
):
    connection = make_connection(
        tiny_source("bad_record", records=10),
        duckdb_destination,
        APPEND,
        namespace="tiny",
    )
    job = run_now(connection, admin)
    assert job.status == "succeeded", job.failure_message
    rows = duck_rows(
        duckdb_destination,
        "select id, cast(_airbyte_meta as varchar) from tiny.things where id is null",
    )
    assert rows[0][0] is None
    assert "not-a-number" in rows[0][1] and "NULLED" in rows[0][1]
    assert duck_rows(duckdb_destination, "select count(*) from tiny.things") == [(10,)]


def test_a_trace_error_with_config_error_is_not_retried(
    admin, tiny_source, duckdb_destination, make_connection
):
    source = tiny_source()
    source.config["mode"] = "trace"
    source.save()
    connection = make_connection(source, duckdb_destination, DEDUP, namespace="tiny")
    job = run_now(connection, admin)
    assert job.status == "failed"
    assert job.failure_type == "config_error"
    assert job.failure_message == "Auth failed for key **********"


def test_a_control_message_saves_the_new_config_encrypted(
    admin, tiny_source, duckdb_destination, make_connection
):
    source = tiny_source("control", records=5)
    connection = make_connection(source, duckdb_destination, DEDUP, namespace="tiny")
    job = run_now(connection, admin)
    assert job.status == "succeeded", job.failure_message
    source.refresh_from_db()
    assert stored_secrets(source) == {"/api_key": "rotated-key-9876"}
    assert "rotated-key-9876" not in json.dumps(source.config)


def test_a_leaky_source_never_gets_its_secret_into_the_log(
    admin, tiny_source, duckdb_destination, make_connection
):
    connection = make_connection(
        tiny_source("leak", records=5), duckdb_destination, DEDUP, namespace="tiny"
    )
    job = run_now(connection, admin)
    assert job.status == "succeeded", job.failure_message
    log = job.attempts.get().log
    assert "using api key **********" in log
    assert CANARY not in log
