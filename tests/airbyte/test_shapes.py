"""Parsing Airbyte's camelCase answers into the client's frozen dataclasses."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from apps.airbyte.shapes import (
    CheckOutcome,
    ConnectorSpecification,
    DiscoverOutcome,
    RemoteAttempt,
    RemoteConnection,
    RemoteDefinition,
    RemoteDestination,
    RemoteJob,
    RemoteSource,
    RemoteWorkspace,
    ServerInfo,
    attempts_from_api,
)


def test_a_job_status_the_console_does_not_know_passes_through():
    job = RemoteJob.from_api(
        {"jobId": 42, "status": "queued_somewhere_new", "jobType": "rewind"}
    )
    assert job.id == "42"
    assert job.status == "queued_somewhere_new"
    assert job.job_type == "rewind"


def test_a_job_without_its_optional_fields_gets_defaults():
    job = RemoteJob.from_api({"jobId": 7, "status": "running", "rowsSynced": None})
    assert (job.rows_synced, job.bytes_synced) == (0, 0)
    assert (job.start_time, job.last_updated_at, job.connection_id) == ("", "", "")


def test_a_job_reads_its_counts_and_times():
    job = RemoteJob.from_api(
        {
            "jobId": 1,
            "status": "succeeded",
            "jobType": "sync",
            "connectionId": "c-1",
            "startTime": "2026-01-01T00:00:00Z",
            "lastUpdatedAt": "2026-01-01T00:01:00Z",
            "rowsSynced": 100,
            "bytesSynced": 2048,
        }
    )
    assert (job.rows_synced, job.bytes_synced) == (100, 2048)
    assert job.start_time == "2026-01-01T00:00:00Z"
    assert job.last_updated_at == "2026-01-01T00:01:00Z"


def test_shapes_are_frozen():
    job = RemoteJob.from_api({"jobId": 1})
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.status = "failed"  # type: ignore[misc]


def test_an_attempt_reads_stats_failures_and_logs():
    (attempt,) = attempts_from_api(
        {
            "job": {"id": 1},
            "attempts": [
                {
                    "attempt": {
                        "id": 0,
                        "status": "failed",
                        "createdAt": 1,
                        "updatedAt": 2,
                        "endedAt": 1_700_000_000,
                        "recordsSynced": 5,
                        "totalStats": {"recordsEmitted": 9, "recordsCommitted": 8},
                        "failureSummary": {
                            "failures": [
                                {
                                    "failureType": "brand_new_type",
                                    "failureOrigin": "source",
                                    "externalMessage": "Invalid credentials",
                                    "timestamp": 1,
                                }
                            ]
                        },
                    },
                    "logs": {"logLines": ["one", "two"]},
                }
            ],
        }
    )
    assert attempt.status == "failed"
    assert attempt.ended_at == datetime.fromtimestamp(1_700_000_000, tz=UTC)
    assert (attempt.records_emitted, attempt.records_committed) == (9, 8)
    assert attempt.records_synced == 5
    assert attempt.bytes_committed is None  # not said, not zero
    assert attempt.failure is not None
    assert attempt.failure.failure_type == "brand_new_type"
    assert attempt.failure.external_message == "Invalid credentials"
    assert attempt.log_lines == ("one", "two")


def test_an_attempt_without_optional_fields_gets_defaults():
    attempt = RemoteAttempt.from_api({"attempt": {"id": 3, "status": "running"}})
    assert attempt.ended_at is None
    assert attempt.failures == ()
    assert attempt.failure is None
    assert attempt.log_lines == ()
    assert attempt.records_committed is None and attempt.bytes_synced is None
    assert attempts_from_api(None) == ()


def test_structured_log_events_become_lines():
    attempt = RemoteAttempt.from_api(
        {
            "attempt": {"id": 0, "status": "succeeded"},
            "logs": {
                "events": [
                    {"timestamp": 1_700_000_000_000, "logLevel": "WARN", "message": "x"}
                ]
            },
        }
    )
    assert attempt.log_lines == ("2023-11-14 22:13:20Z WARN x",)


def test_server_info_reads_the_auth_mode_and_defaults_when_absent():
    info = ServerInfo.from_api(
        {"version": "1.8.0", "edition": "community", "auth": {"mode": "none"}}
    )
    assert (info.version, info.edition, info.auth_mode) == (
        "1.8.0",
        "community",
        "none",
    )
    assert ServerInfo.from_api(None) == ServerInfo()


def test_sources_and_destinations_read_their_own_id_key():
    source = RemoteSource.from_api(
        {
            "sourceId": "s-1",
            "name": "Faker",
            "definitionId": "d-1",
            "workspaceId": "w-1",
            "configuration": {"count": 1, "api_key": "**********"},
        }
    )
    assert (source.kind, source.id, source.definition_id) == ("source", "s-1", "d-1")
    assert source.configuration == {"count": 1, "api_key": "**********"}
    destination = RemoteDestination.from_api({"destinationId": "x-1"})
    assert (destination.kind, destination.id, destination.name) == (
        "destination",
        "x-1",
        "",
    )
    assert destination.configuration == {}


def test_a_connection_reads_its_streams_and_defaults_its_status():
    connection = RemoteConnection.from_api(
        {
            "connectionId": "c-1",
            "name": "Faker to DuckDB",
            "sourceId": "s-1",
            "destinationId": "x-1",
            "namespaceDefinition": "custom_format",
            "namespaceFormat": "faker",
            "configurations": {
                "streams": [
                    {
                        "name": "users",
                        "syncMode": "some_future_mode",
                        "cursorField": ["updated_at"],
                        "primaryKey": [["id"]],
                    },
                    {"name": "products"},
                ]
            },
        }
    )
    assert connection.status == "active"  # absent: active, as imports always read it
    assert (connection.namespace_format, connection.prefix) == ("faker", "")
    users, products = connection.streams
    assert users.sync_mode == "some_future_mode"
    assert (users.cursor_field, users.primary_key) == (("updated_at",), (("id",),))
    assert (products.sync_mode, products.namespace, products.primary_key) == (
        "",
        "",
        (),
    )
    assert RemoteConnection.from_api({"status": "deprecated"}).status == "deprecated"


def test_workspaces_and_definitions():
    assert RemoteWorkspace.from_api({"workspaceId": "w", "name": None}).name == ""
    definition = RemoteDefinition.from_api(
        "destination", {"destinationDefinitionId": "d", "custom": True}
    )
    assert (definition.kind, definition.id, definition.custom) == (
        "destination",
        "d",
        True,
    )
    assert definition.docker_image_tag == ""


def test_a_spec_defaults_what_the_server_left_out():
    spec = ConnectorSpecification.from_api(
        {"sourceDefinitionId": "d", "jobInfo": {"succeeded": True}}
    )
    assert spec.connection_specification == {}
    assert spec.documentation_url == ""
    assert spec.supported_destination_sync_modes == ()
    assert spec.advanced_auth is None


def test_a_check_outcome_keeps_the_job_failure_and_unknown_statuses():
    failed = CheckOutcome.from_api(
        {
            "status": "failed",
            "jobInfo": {"failureReason": {"externalMessage": "bad", "timestamp": 1}},
        }
    )
    assert not failed.ok
    assert (failed.message, failed.failure_message) == ("", "bad")
    assert CheckOutcome.from_api({"status": "succeeded"}).ok
    assert CheckOutcome.from_api({"status": "maybe"}).status == "maybe"
    assert not CheckOutcome.from_api(None).ok


def test_a_discover_needs_a_catalog_and_no_failed_job():
    found = DiscoverOutcome.from_api(
        {
            "jobInfo": {"succeeded": True},
            "catalog": {
                "streams": [
                    {"stream": {"name": "users", "jsonSchema": {"type": "object"}}}
                ]
            },
        }
    )
    assert found.ok
    (users,) = found.streams
    assert users.name == "users"
    assert users.supported_sync_modes == ("full_refresh",)
    assert users.namespace is None
    assert users.source_defined_primary_key == ()
    failed = DiscoverOutcome.from_api(
        {
            "jobInfo": {
                "succeeded": False,
                "failureReason": {"externalMessage": "no", "timestamp": 1},
            }
        }
    )
    assert not failed.ok
    assert failed.failure_message == "no"
    assert not DiscoverOutcome.from_api({"catalog": {}}).ok
