"""Airbyte's official Python SDK (``airbyte-api``) drives a live console.

The SDK gets its bearer with client credentials, then creates a faker source, a
DuckDB destination and a connection, reads the source's streams (a real discover
on a Celery worker), starts a sync job and polls it to success, lists the jobs,
and deletes what it made. Every HTTP exchange the SDK makes is checked against
Airbyte's spec on the way (``HttpxRecorder``), so a console answer that the SDK
happens to tolerate still fails the test.
"""

from __future__ import annotations

import time

import airbyte_api
import duckdb
import httpx
import pytest
from airbyte_api import api, models

from apps.api import services
from apps.connections.models import Connection, SyncJob
from apps.connectors.models import Destination, Source
from apps.core.roles import Role
from tests.api.spec_client import HttpxRecorder
from tests.engines.fixtures import DUCKDB_ID, FAKER_ID, definition
from tests.factories import MembershipFactory, UserFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db(transaction=True)

PUBLIC = "/api/public/v1"
SYNC_SECONDS = 180


@pytest.fixture
def console(live_server, worker, settings, tmp_path, real_connectors, faker_installed):
    """A live console with a worker, and an editor's application on it."""
    settings.DUCKDB_DIR = tmp_path
    settings.API_WAIT_SECONDS = 120
    # An earlier transactional test may have flushed the catalog: load it again.
    definition(FAKER_ID)
    definition(DUCKDB_ID)
    user = UserFactory(email="sdk@acme.test")
    workspace = WorkspaceFactory(name="SDK")
    MembershipFactory(user=user, workspace=workspace, role=Role.EDITOR)
    application, secret = services.application_create(actor=user, name="SDK")
    worker("sdk")
    return {
        "url": live_server.url,
        "workspace": workspace,
        "client_id": application.client_id,
        "client_secret": secret,
        "duckdb_dir": tmp_path,
    }


@pytest.fixture
def recorder(spec_checker):
    recorder = HttpxRecorder(checker=spec_checker)
    yield recorder
    assert not recorder.violations, "\n\n".join(recorder.violations)


def _sdk(console, recorder, *, token_url: str) -> airbyte_api.AirbyteAPI:
    return airbyte_api.AirbyteAPI(
        server_url=console["url"] + PUBLIC,
        security=models.Security(
            client_credentials=models.SchemeClientCredentials(
                client_id=console["client_id"],
                client_secret=console["client_secret"],
                token_url=token_url,
            )
        ),
        client=httpx.Client(follow_redirects=True, event_hooks=recorder.hooks()),
        timeout_ms=SYNC_SECONDS * 1000,
    )


def _poll_job(sdk: airbyte_api.AirbyteAPI, job_id: int) -> models.JobResponse:
    deadline = time.monotonic() + SYNC_SECONDS
    while True:
        job = sdk.jobs.get_job(request=api.GetJobRequest(job_id=job_id)).job_response
        if job.status not in (
            models.JobStatusEnum.PENDING,
            models.JobStatusEnum.RUNNING,
        ):
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job.status}"
        time.sleep(1)


def test_the_official_sdk_builds_syncs_and_deletes_a_pipeline(console, recorder):
    sdk = _sdk(
        console, recorder, token_url=console["url"] + PUBLIC + "/applications/token"
    )
    workspace_id = str(console["workspace"].public_id)

    workspaces = sdk.workspaces.list_workspaces(
        request=api.ListWorkspacesRequest()
    ).workspaces_response
    assert [w.workspace_id for w in workspaces.data] == [workspace_id]

    source = sdk.sources.create_source(
        request=models.SourceCreateRequest(
            name="Fake users",
            workspace_id=workspace_id,
            configuration=models.SourceFaker(count=50, seed=7, parallelism=1),
        )
    ).source_response
    assert source.source_type == "faker"
    assert Source.objects.get(public_id=source.source_id).name == "Fake users"

    destination = sdk.destinations.create_destination(
        request=models.DestinationCreateRequest(
            name="Local DuckDB",
            workspace_id=workspace_id,
            configuration=models.DestinationDuckdb(destination_path="sdk.duckdb"),
        )
    ).destination_response
    assert destination.destination_type == "duckdb"

    streams = sdk.streams.get_stream_properties(
        request=api.GetStreamPropertiesRequest(source_id=source.source_id)
    ).stream_properties_response
    names = {stream.stream_name for stream in streams}
    assert {"users", "products", "purchases"} <= names

    connection = sdk.connections.create_connection(
        request=models.ConnectionCreateRequest(
            source_id=source.source_id,
            destination_id=destination.destination_id,
            name="Faker to DuckDB",
            namespace_definition=models.NamespaceDefinitionEnum.CUSTOM_FORMAT,
            namespace_format="faker",
            configurations=models.StreamConfigurations(
                streams=[
                    models.StreamConfiguration(
                        name="users",
                        sync_mode=models.ConnectionSyncModeEnum.FULL_REFRESH_OVERWRITE,
                    )
                ]
            ),
            schedule=models.AirbyteAPIConnectionSchedule(
                schedule_type=models.ScheduleTypeEnum.MANUAL
            ),
        )
    ).connection_response
    assert connection.name == "Faker to DuckDB"
    assert [s.name for s in connection.configurations.streams] == ["users"]

    started = sdk.jobs.create_job(
        request=models.JobCreateRequest(
            connection_id=connection.connection_id,
            job_type=models.JobTypeEnum.SYNC,
        )
    ).job_response
    assert started.job_type == models.JobTypeEnum.SYNC
    finished = _poll_job(sdk, started.job_id)
    assert finished.status == models.JobStatusEnum.SUCCEEDED, finished
    assert finished.rows_synced == 50
    job = SyncJob.objects.get(pk=started.job_id)
    assert job.status == "succeeded" and job.records_committed == 50
    # The embedded engine keeps each workspace's DuckDB files in its own folder.
    path = console["duckdb_dir"] / workspace_id / "sdk.duckdb"
    with duckdb.connect(str(path), read_only=True) as db:
        assert db.sql("select count(*) from faker.users").fetchall()[0][0] == 50

    jobs = sdk.jobs.list_jobs(
        request=api.ListJobsRequest(connection_id=connection.connection_id)
    ).jobs_response
    assert [j.job_id for j in jobs.data] == [started.job_id]

    renamed = sdk.sources.patch_source(
        request=api.PatchSourceRequest(
            source_id=source.source_id,
            source_patch_request=models.SourcePatchRequest(name="Fake people"),
        )
    ).source_response
    assert renamed.name == "Fake people"
    read = sdk.sources.get_source(
        request=api.GetSourceRequest(source_id=source.source_id)
    ).source_response
    assert read.name == "Fake people" and read.configuration.count == 50
    scheduled = sdk.connections.patch_connection(
        request=api.PatchConnectionRequest(
            connection_id=connection.connection_id,
            connection_patch_request=models.ConnectionPatchRequest(
                schedule=models.AirbyteAPIConnectionSchedule(
                    schedule_type=models.ScheduleTypeEnum.CRON,
                    cron_expression="0 0 12 * * ?",
                )
            ),
        )
    ).connection_response
    assert scheduled.schedule.schedule_type == models.ScheduleTypeEnum.CRON
    # Airbyte reads a cron back with its time zone appended, always UTC here.
    assert scheduled.schedule.cron_expression == "0 0 12 * * ? UTC"

    sdk.connections.delete_connection(
        request=api.DeleteConnectionRequest(connection_id=connection.connection_id)
    )
    sdk.sources.delete_source(
        request=api.DeleteSourceRequest(source_id=source.source_id)
    )
    sdk.destinations.delete_destination(
        request=api.DeleteDestinationRequest(destination_id=destination.destination_id)
    )
    assert not Connection.objects.filter(public_id=connection.connection_id).exists()
    assert not Source.objects.filter(public_id=source.source_id).exists()
    assert not Destination.objects.filter(public_id=destination.destination_id).exists()
    assert any(
        line.startswith("POST /api/public/v1/applications/token")
        for line in recorder.seen
    )


def test_the_sdk_with_a_personal_access_token_pages_through_sources(
    live_server, spec_checker, recorder
):
    user = UserFactory(email="pat@acme.test")
    workspace = WorkspaceFactory(name="Tokens")
    MembershipFactory(user=user, workspace=workspace, role=Role.VIEWER)
    for name in ("First", "Second", "Third"):
        Source.objects.create(
            workspace=workspace, name=name, definition=definition(FAKER_ID), config={}
        )
    _, raw = services.token_create(actor=user, name="SDK")
    sdk = airbyte_api.AirbyteAPI(
        server_url=live_server.url + PUBLIC,
        security=models.Security(bearer_auth=raw),
        client=httpx.Client(event_hooks=recorder.hooks()),
    )

    names, offset = [], 0
    while True:
        page = sdk.sources.list_sources(
            request=api.ListSourcesRequest(
                workspace_ids=[str(workspace.public_id)], limit=2, offset=offset
            )
        ).sources_response
        names += [source.name for source in page.data]
        if not page.next:
            break
        offset += 2

    assert sorted(names) == ["First", "Second", "Third"]
    assert offset == 2
