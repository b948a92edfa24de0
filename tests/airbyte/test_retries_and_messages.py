"""Retries that cannot make twins, and clear messages (#12 points 7 and 9).

Against the fake Airbyte server: a create whose answer is lost after the server
stored the object is adopted, not sent again; ``unexpected-problem`` 500s are not
retried; the long timeout stays below abctl's ingress timeout; a 429 without
``Retry-After`` waits longer; a sync of a connection the server holds inactive says
so; a cancel is sent once; a config holding Airbyte's mask or a connection without
streams is never created; a changed auth mode is followed.
"""

from __future__ import annotations

import pytest

from apps.airbyte import client as client_module
from apps.airbyte import jobs, mirror
from apps.airbyte.client import (
    AirbyteApiError,
    AirbyteClient,
    RetryPolicy,
)
from apps.airbyte.forms import AirbyteServerForm
from apps.airbyte.models import AirbyteServer
from apps.audit.models import AuditEvent
from apps.connections import execution
from apps.connections import services as connection_services
from apps.connections.execution import sync_run
from apps.connections.models import Connection, SyncJob
from apps.connectors import services as connector_services
from apps.connectors.models import ConnectorDefinition, Source
from apps.engines.base import EngineError
from tests.airbyte_fake import FAKER_SOURCE_ID

SOURCES = "/api/public/v1/sources"
CONNECTIONS = "/api/public/v1/connections"
JOBS = "/api/public/v1/jobs"
WORKSPACES = "/api/public/v1/workspaces"


@pytest.fixture(autouse=True)
def _keep_the_test_transaction(monkeypatch):
    """sync_run closes old connections, as a worker should; not the test's own."""
    monkeypatch.setattr(execution, "close_old_connections", lambda: None)


def _server(workspace) -> AirbyteServer:
    return AirbyteServer.objects.get(workspace=workspace)


def _faker_source(workspace, admin, captured, name: str, **config):
    with captured(execute=True):
        return connector_services.connector_create(
            actor=admin,
            workspace=workspace,
            kind="source",
            name=name,
            definition=ConnectorDefinition.objects.get(definition_id=FAKER_SOURCE_ID),
            config={"count": 100, "seed": 1, **config},
        )


# --- point 7: retries can duplicate ------------------------------------------------


def test_a_source_create_that_timed_out_after_storing_is_adopted_not_sent_again(
    airbyte_fake, airbyte_workspace, admin, settings, django_capture_on_commit_callbacks
):
    """The server stored the source but the answer never came: the console finds
    it by name and definition instead of POSTing a second one."""
    settings.AIRBYTE_HTTP_TIMEOUT_SECONDS = 0.5
    airbyte_fake.fail_after_store("POST", SOURCES, 0, seconds=1.5)
    source = _faker_source(
        airbyte_workspace, admin, django_capture_on_commit_callbacks, "Timed out"
    )
    source.refresh_from_db()
    twins = [s for s in airbyte_fake.sources.values() if s.name == "Timed out"]
    assert len(airbyte_fake.calls("POST", SOURCES)) == 1
    assert len(twins) == 1
    assert source.remote_id == twins[0].id


def test_a_connection_create_that_failed_after_storing_is_adopted_not_sent_again(
    airbyte_fake, make_connection, settings
):
    airbyte_fake.fail_after_store("POST", CONNECTIONS, 503)
    connection = make_connection("Stored anyway")
    twins = [c for c in airbyte_fake.connections.values() if c.name == "Stored anyway"]
    assert len(airbyte_fake.calls("POST", CONNECTIONS)) == 1
    assert len(twins) == 1
    assert connection.remote_id == twins[0].id


def test_a_create_that_failed_before_storing_is_sent_again(
    airbyte_fake, airbyte_workspace, admin, django_capture_on_commit_callbacks
):
    """Nothing was stored (the server answered 503 first): after looking, the
    console creates it, once."""
    airbyte_fake.fail_next("POST", SOURCES, 503)
    source = _faker_source(
        airbyte_workspace, admin, django_capture_on_commit_callbacks, "Second try"
    )
    source.refresh_from_db()
    twins = [s for s in airbyte_fake.sources.values() if s.name == "Second try"]
    assert len(airbyte_fake.calls("POST", SOURCES)) == 2
    assert len(twins) == 1 and source.remote_id == twins[0].id
    # It looked for what the first POST may have stored before sending it again.
    asked = [(r.method, r.path) for r in airbyte_fake.requests if r.path == SOURCES]
    first = asked.index(("POST", SOURCES))
    assert ("GET", SOURCES) in asked[
        first + 1 : asked.index(("POST", SOURCES), first + 1)
    ]


def test_an_unexpected_problem_500_is_not_retried(airbyte_fake):
    """``unexpected-problem`` is an exception in the server's handler: asking again
    fails the same way, so the user gets the reason at once."""
    airbyte_fake.fail_next("GET", WORKSPACES, 500, times=5)
    with (
        AirbyteClient(
            airbyte_fake.url,
            client_id=airbyte_fake.client_id,
            client_secret=airbyte_fake.client_secret,
            sleep=lambda _: None,
        ) as client,
        pytest.raises(AirbyteApiError) as caught,
    ):
        list(client.workspace_list())
    assert len(airbyte_fake.calls("GET", WORKSPACES)) == 1
    assert caught.value.status == 500
    assert "unexpected-problem" in caught.value.message


def test_the_long_timeout_stays_below_abctls_ingress_timeout(settings):
    """abctl's ingress answers 504 itself after 600 s; the console gives up first."""
    settings.AIRBYTE_LONG_TIMEOUT_SECONDS = 900
    with AirbyteClient("http://airbyte.example") as client:
        assert client.long_timeout <= 540
    with AirbyteClient("http://airbyte.example", long_timeout=600) as client:
        assert client.long_timeout <= 540


def test_a_429_without_retry_after_backs_off_harder(airbyte_fake):
    slept: list[float] = []
    airbyte_fake.fail_next("GET", WORKSPACES, 429)
    with AirbyteClient(
        airbyte_fake.url,
        client_id=airbyte_fake.client_id,
        client_secret=airbyte_fake.client_secret,
        retry=RetryPolicy(attempts=3, base=0.5, cap=30),
        sleep=slept.append,
    ) as client:
        list(client.workspace_list())
    # Seconds, not the jittered fraction of one a network blip gets.
    assert slept and slept[0] >= 5.0


# --- point 9: clear messages --------------------------------------------------------


def test_a_sync_of_a_connection_inactive_on_the_server_says_it_is_disabled(
    airbyte_fake, make_connection, admin, polls
):
    """Paused after the sync was queued: the push sends ``inactive`` and the server
    answers the sync with 409 state-conflict ("Could not fulfill request")."""
    connection = make_connection()
    job = connection_services.sync_request(
        connection=connection, trigger="manual", actor=admin
    )
    Connection.objects.filter(pk=connection.pk).update(status=Connection.Status.PAUSED)
    sync_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == SyncJob.Status.FAILED
    assert "the connection is disabled on the airbyte server" in (
        job.failure_message.lower()
    )


def test_a_cancel_is_sent_once_with_the_long_timeout_and_recorded(
    airbyte_fake,
    make_connection,
    admin,
    polls,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    """The server takes a few polls to stop the job; the console does not send
    ``DELETE /jobs/{id}`` again meanwhile (it would cancel whatever runs next)."""
    sent: list[tuple[str, str, bool]] = []
    original = AirbyteClient._call

    def spy(self, method, path, **kwargs):
        sent.append((method, path, bool(kwargs.get("long"))))
        return original(self, method, path, **kwargs)

    monkeypatch.setattr(AirbyteClient, "_call", spy)
    connection = make_connection()
    airbyte_fake.cancel_polls = 3
    airbyte_fake.script_next_job(steps=["running"] * 20)
    job = connection_services.sync_request(
        connection=connection, trigger="manual", actor=admin
    )
    sync_run(job_id=job.pk)
    jobs.job_poll(job_id=job.pk)
    with django_capture_on_commit_callbacks(execute=True):
        connection_services.sync_cancel(actor=admin, job=job)
    for _ in range(8):
        jobs.job_poll(job_id=job.pk)
        job.refresh_from_db()
        if not job.is_active:
            break
    assert job.status == SyncJob.Status.CANCELLED
    deletes = [s for s in sent if s[0] == "DELETE"]
    assert len(airbyte_fake.calls("DELETE", f"{JOBS}/{job.remote_id}")) == 1
    assert deletes == [("DELETE", f"{JOBS}/{job.remote_id}", True)]
    assert AuditEvent.objects.filter(action=jobs.CANCEL_SENT).count() == 1


def test_a_config_holding_the_secret_mask_is_never_created_on_the_server(
    airbyte_fake, airbyte_workspace, admin, django_capture_on_commit_callbacks
):
    """A mask means "keep yours" only to a server that has the secret: creating it
    would store ``**********`` as the password."""
    source = _faker_source(
        airbyte_workspace,
        admin,
        django_capture_on_commit_callbacks,
        "Masked",
        password="**********",
    )
    source.refresh_from_db()
    assert airbyte_fake.calls("POST", SOURCES) == []
    assert not source.remote_id
    message = Source.objects.get(pk=source.pk).last_check_message
    assert "still holds a hidden secret" in message
    assert "enter its secrets again" in message


def test_a_connection_without_a_selected_stream_is_never_created(
    airbyte_fake, make_connection
):
    connection = make_connection()
    remote_id = connection.remote_id
    # Gone from the server (purged), and every stream deselected in the console.
    airbyte_fake.connections.pop(remote_id)
    connection.streams.update(selected=False)
    posts = len(airbyte_fake.calls("POST", CONNECTIONS))
    with pytest.raises(EngineError) as caught:
        mirror.connection_push(connection)
    assert "has no selected stream" in caught.value.message
    assert len(airbyte_fake.calls("POST", CONNECTIONS)) == posts


def test_a_server_that_turned_auth_on_is_followed(airbyte_fake, airbyte_workspace):
    """Last seen with auth disabled, now asking for a token (401): the console
    reads ``instance_configuration`` again and signs in."""
    server = _server(airbyte_workspace)
    AirbyteServer.objects.filter(pk=server.pk).update(server_auth_mode="none")
    server.refresh_from_db()
    with AirbyteClient.for_server(server) as client:
        assert client.auth == "none"
        assert list(client.workspace_list())
    server.refresh_from_db()
    assert server.server_auth_mode == "simple"


def test_a_server_that_turned_auth_off_is_followed(airbyte_fake, airbyte_workspace):
    """Started again with ``--disable-auth``: both token endpoints answer 404; the
    console reads ``instance_configuration`` and goes on without a token."""
    server = _server(airbyte_workspace)
    client_module.forget_tokens()
    airbyte_fake.auth_mode = "none"
    with AirbyteClient.for_server(server) as client:
        assert list(client.workspace_list())
    server.refresh_from_db()
    assert server.server_auth_mode == "none"
    assert airbyte_fake.calls("GET", "/api/v1/instance_configuration")


def test_basic_auth_is_labelled_legacy_on_the_engine_page():
    labels = dict(AirbyteServerForm().fields["auth"].choices)
    assert "legacy (before 1.0)" in labels["basic"]
